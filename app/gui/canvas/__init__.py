"""The canvas: a QGraphicsView of one image and one item per annotation.

``scene.AnnotationScene`` holds the image item (``tiles.ImageItem``, tiled for large
images) and the annotation items (``items``); ``view.CanvasView`` zooms, pans, fits and
hands mouse events, in image coordinates, to the active tool (``app/gui/tools``).
"""

from .items import BoxItem, MaskItem, PointItem, category_color
from .scene import AnnotationScene
from .view import CanvasEvent, CanvasView

__all__ = [
    "AnnotationScene",
    "BoxItem",
    "CanvasEvent",
    "CanvasView",
    "MaskItem",
    "PointItem",
    "category_color",
]

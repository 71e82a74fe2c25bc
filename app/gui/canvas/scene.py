"""The scene: the image item and one item per annotation, in image pixel coordinates.

Redraw cost follows what changed. The image and the static masks (``add_mask`` with
``cached=True``, the default) are drawn into each view's cached background
(``QGraphicsView.CacheBackground``): a repaint blits it, panning scrolls it and draws
the uncovered strip, and only a change of one of them (or of the zoom) redraws it, and
then only the changed area. The items stay real items, found by the BSP index for
hover, selection and hit tests; they paint only their highlight. A mask being edited
(``cached=False``), points and boxes paint themselves above the background.

A ``CanvasView`` draws the static masks from its own mask layer (``layer``), which it
keeps at its zoom (rendered in pieces between events); every change to the background goes through
``invalidate_background`` so that the views hear of it (``backgroundInvalidated``).
A plain ``QGraphicsView`` gets the same picture from ``drawBackground``.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPixmap, QPixmapCache
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from pipeline.masks.geometry import Box, Mask

from .items import (
    BoxItem,
    MaskItem,
    MaskLook,
    PointItem,
    _Annotation,
    category_color,
    label_size,
    paint_look_label,
)
from .tiles import ImageItem, ImageSource

DEFAULT_OPACITY = 0.45
# Item caches live in QPixmapCache (10 MB by default): 1000 cached masks need more, or
# they evict each other and every repaint renders every mask again.
PIXMAP_CACHE_KB = 256 * 1024


class AnnotationScene(QGraphicsScene):
    """An image and its annotations (see the module doc)."""

    imageChanged = Signal(int, int)  # width, height
    backgroundInvalidated = Signal(QRectF)  # image coords; an empty rect: everything

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self.setBackgroundBrush(QBrush(QColor("#5a5f66")))
        self.image_item = ImageItem()
        self.image_item.on_change = self._image_changed
        # Drawn by drawBackground, under the baked masks; as an item it would cover them.
        self.image_item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)
        self.addItem(self.image_item)
        self._annotations: list[_Annotation] = []
        self._opacity = DEFAULT_OPACITY
        self._visible = True
        self._view_scale = 1.0
        self._added = 0
        self.bake_masks = True  # False: every mask paints itself (for comparisons)
        self._labels_visible = True
        self._label_generation = 0  # bumped when the labelled items change
        self._label_plans: dict[tuple[int, int], dict[int, bool]] = {}
        self._candidates: tuple[int, list] | None = None

    # ------------------------------------------------------------ image

    def set_image(self, source: ImageSource) -> None:
        """Show an image file or RGB array (annotations stay; call clear_annotations)."""
        self.image_item.set_source(source)
        self.setSceneRect(self.image_rect)
        self.invalidate_background()
        self.imageChanged.emit(self.image_item.width, self.image_item.height)

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of the image in pixels."""
        return self.image_item.width, self.image_item.height

    @property
    def image_rect(self) -> QRectF:
        return QRectF(0, 0, self.image_item.width, self.image_item.height)

    # ------------------------------------------------------------ annotations

    def invalidate_background(self, rect: QRectF | None = None) -> None:
        """Redraw the views' background under ``rect`` (image coords; None: all)."""
        rect = QRectF() if rect is None else QRectF(rect)
        self.backgroundInvalidated.emit(rect)
        self.invalidate(rect, QGraphicsScene.SceneLayer.BackgroundLayer)

    def _image_changed(self) -> None:
        # The image's pixels sharpened (tiles): the masks over it are unchanged.
        self.invalidate(self.image_rect, QGraphicsScene.SceneLayer.BackgroundLayer)

    def _repaint_background(self, item: QGraphicsItem | None = None) -> None:
        self.invalidate_background(item.boundingRect() if item is not None else None)

    def _add(self, item: _Annotation, cached: bool = True) -> None:
        item.set_view_scale(self._view_scale)
        item.setVisible(self._visible)
        if isinstance(item, MaskItem):
            self._added += 1
            item.order = self._added  # stacking order among equal z (the background's)
            item.set_baked(cached and self.bake_masks)
        elif cached:
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.addItem(item)
        self._annotations.append(item)
        if item.label:
            self.labels_changed()
        if isinstance(item, MaskItem) and item.in_background:
            self._repaint_background(item)

    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802
        """The image and the baked masks in the exposed area (cached by the views).

        After a diagonal pan the exposed area is two thin strips, but ``rect`` is their
        bounding rect (the whole view): masks are looked up per strip of the painter's
        clip so that only those in the strips are drawn.
        """
        parts = self.exposed_parts(painter, QRectF(rect))  # Qt passes a QRectF
        for part in parts:
            # One simple clip rect per strip: with the two-strip clip region, Qt's
            # rasteriser fills each path over the whole view before clipping (~60 us a
            # mask instead of a few).
            painter.save()
            if len(parts) > 1:
                painter.setClipRect(part, Qt.ClipOperation.IntersectClip)
            self.draw_backdrop(painter, part)
            self.paint_static_masks(painter, part)
            painter.restore()

    def draw_backdrop(self, painter: QPainter, rect: QRectF, *, quick: bool = False) -> None:
        """The canvas colour and the image in ``rect`` (``quick``: see ImageItem.draw)."""
        self.draw_canvas(painter, rect)
        self.image_item.draw(painter, rect, quick=quick)

    def draw_canvas(self, painter: QPainter, rect: QRectF) -> None:
        """The canvas colour (the scene's background brush) in ``rect``."""
        super().drawBackground(painter, rect)

    def paint_static_masks(self, painter: QPainter, rect: QRectF) -> int:
        """Draw the static masks that reach into ``rect`` (on the GUI thread);
        returns how many."""
        if not self._visible:
            return 0
        found = [
            item
            for item in self.items(rect, Qt.ItemSelectionMode.IntersectsItemBoundingRect)
            if isinstance(item, MaskItem) and item.in_background and item.isVisible()
        ]
        found.sort(key=lambda i: (i.zValue(), i.order))
        for item in found:
            item.paint_base(painter, label=False)
        for item in found:  # labels over every mask
            if item.label:
                paint_look_label(painter, item.placed_look(), item._scale)
        return len(found)

    def has_static_masks(self) -> bool:
        return self._visible and any(
            isinstance(item, MaskItem) and item.in_background for item in self._annotations
        )

    def static_looks(self, scale: float | None = None) -> list[MaskLook]:
        """Every static mask's look, in drawing order (what a layer render starts
        from; see ``layer``), with the labels placed for ``scale`` (None: the view's)."""
        if not self._visible:
            return []
        found = [
            item
            for item in self._annotations
            if isinstance(item, MaskItem) and item.in_background and item.isVisible()
        ]
        found.sort(key=lambda i: (i.zValue(), i.order))
        if scale is None:
            return [item.placed_look() for item in found]
        plan = self.label_plan(scale)
        looks = []
        for item in found:
            look = item.look()
            if look.label:
                place = plan.get(id(item))
                look = look._replace(label="") if place is None else look._replace(below=place)
            looks.append(look)
        return looks

    def backdrop(self) -> tuple[QPixmap, QRectF, QColor] | None:
        """What a layer's snapshot shows under the masks: the image's preview, the rect
        it fills and the canvas colour around it."""
        preview = self.image_item.preview
        if preview is None:
            return None
        return preview, self.image_rect, QColor(self.backgroundBrush().color())

    @staticmethod
    def exposed_parts(painter: QPainter, rect: QRectF) -> list[QRectF]:
        """The exposed area of a background paint as simple rects (image coords)."""
        if not painter.hasClipping():
            return [rect]
        transform = painter.transform()
        painter.save()
        painter.resetTransform()  # the clip in device pixels, exactly
        region = painter.clipRegion()
        painter.restore()
        inverse, ok = transform.inverted()
        if not ok or region.isEmpty():
            return [rect]
        # The stub omits QRegion's sequence protocol (its rects, iterable at run time).
        rects = list(region)  # type: ignore[call-overload]
        parts = [inverse.mapRect(QRectF(r)).adjusted(-1, -1, 1, 1) for r in rects]
        return [p.intersected(rect) for p in parts] if len(parts) < 16 else [rect]

    def add_mask(
        self,
        mask: Mask,
        label: str = "",
        color: QColor | None = None,
        *,
        category_id: int | None = None,
        cached: bool = True,
    ) -> MaskItem:
        """One mask item (``cached`` False for a mask that is being edited)."""
        color = color if color is not None else category_color(category_id)
        item = MaskItem(mask, color, label, fill_opacity=self._opacity)
        item.category_id = category_id
        self._add(item, cached)
        return item

    def add_point(
        self,
        x: float,
        y: float,
        label: str = "",
        color: QColor | None = None,
        *,
        category_id: int | None = None,
    ) -> PointItem:
        item = PointItem(x, y, label, color if color is not None else category_color(category_id))
        item.category_id = category_id
        item.setZValue(10)  # points sit above masks
        self._add(item)
        return item

    def add_box(
        self,
        box: Box,
        label: str = "",
        color: QColor | None = None,
        *,
        category_id: int | None = None,
    ) -> BoxItem:
        item = BoxItem(box, label, color if color is not None else category_color(category_id))
        item.category_id = category_id
        item.setZValue(5)
        self._add(item)
        return item

    def remove_annotation(self, item: _Annotation) -> None:
        if item in self._annotations:
            self._annotations.remove(item)
            if item.label:
                self.labels_changed()
            if isinstance(item, MaskItem) and item.in_background:
                self._repaint_background(item)
            self.removeItem(item)

    def clear_annotations(self) -> None:
        for item in self._annotations:
            self.removeItem(item)
        self._annotations.clear()
        self.labels_changed()
        self._repaint_background()

    def annotations(self) -> list[_Annotation]:
        return list(self._annotations)

    # ------------------------------------------------------------ looks

    @property
    def opacity(self) -> float:
        return self._opacity

    def set_opacity(self, opacity: float) -> None:
        """The fill opacity of every mask (0 outlines only, 1 opaque)."""
        self._opacity = max(0.0, min(1.0, float(opacity)))
        for item in self._annotations:
            if isinstance(item, MaskItem):  # context masks stay fainter (their factor)
                opacity = self._opacity * item.opacity_factor
                item.set_fill_opacity(opacity, repaint=not item.baked)
        self._repaint_background()

    @property
    def annotations_visible(self) -> bool:
        return self._visible

    def set_annotations_visible(self, visible: bool) -> None:
        self._visible = bool(visible)
        for item in self._annotations:
            item.setVisible(self._visible)
        self.labels_changed()
        self._repaint_background()

    # ------------------------------------------------------------ labels

    @property
    def labels_visible(self) -> bool:
        return self._labels_visible

    def set_labels_visible(self, visible: bool) -> None:
        """Show or hide every label (masks, points, boxes)."""
        if bool(visible) == self._labels_visible:
            return
        self._labels_visible = bool(visible)
        self.labels_changed()
        self._repaint_background()

    def labels_changed(self) -> None:
        """Labelled items came, went, or were shown or hidden: place the labels anew.
        Points and boxes repaint (their pictures are cached); the masks' labels are in
        the background, repainted with the masks that changed."""
        self._label_generation += 1
        self._label_plans.clear()
        for item in self._annotations:
            if item.label and not isinstance(item, MaskItem):
                item.update()

    def label_place(self, item: _Annotation) -> bool | None:
        """Where ``item``'s label goes at the view's zoom (see ``label_plan``)."""
        return self.label_plan(self._view_scale).get(id(item))

    def label_plan(self, scale: float) -> dict[int, bool]:
        """Which labels are drawn at ``scale``, and where: id(item) -> False (the tag
        above its anchor) or True (below it); a label missing would overlap one placed
        before it. Points and boxes go first, then masks by size (a large mask's label
        is the one to read). Kept per generation and zoom step (an eighth of an octave:
        placements that close differ by a few pixels)."""
        step = round(math.log2(max(scale, 1e-6)) * 8)
        key = (self._label_generation, step)
        plan = self._label_plans.get(key)
        if plan is None:
            plan = self._place_labels(2.0 ** (step / 8))
            if len(self._label_plans) > 4:
                self._label_plans.clear()
            self._label_plans[key] = plan
        return plan

    def _label_candidates(self) -> list[tuple[float, float, float, float, float, float, int]]:
        """The labels to place, first to last: (x, y, dx, dy, width, height, id) (see
        ``_Annotation.label_origin``); made once per generation, not at each zoom."""
        if self._candidates is None or self._candidates[0] != self._label_generation:
            labelled = [i for i in self._annotations if i.label and i.isVisible()]
            labelled.sort(key=lambda i: -i.label_priority)
            found = []
            for item in labelled:
                _, width, height = label_size(item.label)
                found.append((*item.label_origin(), width, height, id(item)))
            self._candidates = (self._label_generation, found)
        return self._candidates[1]

    def _place_labels(self, scale: float) -> dict[int, bool]:
        plan: dict[int, bool] = {}
        if not (self._labels_visible and self._visible):
            return plan
        cell = 64.0
        grid: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}
        for x, y, dx, dy, width, height, key in self._label_candidates():
            ax, ay = x * scale + dx, y * scale + dy
            for below in (False, True):
                top = ay if below else ay - height
                if not below and top < 0:
                    continue  # above the image's top edge: hang it below instead
                x1, y1 = ax + width, top + height
                cells = [
                    (cx, cy)
                    for cx in range(int(ax // cell), int(x1 // cell) + 1)
                    for cy in range(int(top // cell), int(y1 // cell) + 1)
                ]
                clear = True
                for c in cells:
                    for ox0, oy0, ox1, oy1 in grid.get(c, ()):
                        if ox0 < x1 and ax < ox1 and oy0 < y1 and top < oy1:
                            clear = False
                            break
                    if not clear:
                        break
                if clear:
                    box = (ax, top, x1, y1)
                    for c in cells:
                        grid.setdefault(c, []).append(box)
                    plan[key] = below
                    break
        return plan

    def set_view_scale(self, scale: float, *, bounds: bool = True) -> None:
        """The view's zoom (device px per image px): items size their screen-sized
        outlines and handles with it. ``bounds`` False leaves their bounding margins
        as they are (while a zoom moves, when every step repaints the whole view); a
        later call with True sizes them."""
        self._view_scale = scale  # what the items draw with (they read it from here)
        if bounds:
            for item in self._annotations:
                item.set_view_scale(scale)

    @property
    def view_scale(self) -> float:
        return self._view_scale


__all__ = ["DEFAULT_OPACITY", "AnnotationScene", "category_color"]

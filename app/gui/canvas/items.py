"""One graphics item per annotation: masks, points, boxes (and their labels).

Items work in image pixel coordinates. Outlines use cosmetic pens (a fixed width on
screen at any zoom), so every item's bounding rect carries a margin given in screen
pixels; the scene tells the items the view's scale (``set_view_scale``) so that the
margin is right and updates stay as small as the item.

- :class:`MaskItem`: a polygon mask is one ``QPainterPath`` (holes wound against their
  exterior, so a non-zero fill leaves them open); an RLE mask is a cached coloured
  ``QImage`` of its bounding box plus its traced outline. Hover and selection
  brighten the fill and thicken the outline; ``set_editing`` shows vertex handles.
- :class:`PointItem` and :class:`BoxItem` for spots, marks and prompts.

A static mask's look (:class:`MaskLook`, drawn by :func:`paint_look`) is kept until the
mask changes: the view renders its layer of static masks from these (``layer``), in
pieces, so a render in progress keeps the looks it started with.

Bounding rects carry their screen-pixel margin at a *bucketed* scale (a power of two at
or below the view's, kept while zooming in up to 4x past it), and the view re-sizes them
once a zoom pauses, not at each step (re-indexing 1000 items costs ~10 ms).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import QGraphicsItem, QStyle, QStyleOptionGraphicsItem, QWidget

from pipeline.masks.geometry import Box, Mask, PolygonPart, bitmap_to_parts

OUTLINE_PX = 1.0  # outline width on screen (1 px antialiased strokes are the cheap ones)
SELECTED_PX = 2.5
HANDLE_PX = 7.0  # vertex handle side on screen
HOVER_BOOST = 0.18  # fill opacity added under the mouse
SELECTED_BOOST = 0.25

# Distinct, saturated hues for the first categories; later ones step round the circle.
_PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#fabed4",
    "#469990",
    "#dcbeff",
    "#9a6324",
    "#ffe119",
    "#800000",
    "#aaffc3",
    "#808000",
    "#000075",
)


def category_color(category_id: int | None) -> QColor:
    """The colour of a category: stable for an id, distinct for neighbouring ids."""
    if category_id is None:
        return QColor("#ffd400")
    index = int(category_id)
    if 0 <= index < len(_PALETTE):
        return QColor(_PALETTE[index])
    hue = (index * 0.618033988749895) % 1.0  # golden-ratio steps spread the hues
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return QColor(int(r * 255), int(g * 255), int(b * 255))


def bounds_scale(scale: float) -> float:
    """The scale an item's bounding margin is sized for: the power of two at or below
    ``scale`` (so the margin, in image units, is never too small)."""
    return 2.0 ** math.floor(math.log2(max(scale, 1e-6)))


LABEL_MAX_PX = 140.0  # a longer label is elided ("television s…")
_LABEL_FONT: QFont | None = None
_LABEL_SIZES: dict[str, tuple[str, float, float]] = {}  # text -> (shown text, w, h) in px


def label_font() -> QFont:
    global _LABEL_FONT
    if _LABEL_FONT is None:
        _LABEL_FONT = QFont()
        _LABEL_FONT.setPointSizeF(9.0)
        _LABEL_FONT.setBold(True)
    return _LABEL_FONT


def label_size(text: str) -> tuple[str, float, float]:
    """The text a label shows (elided to ``LABEL_MAX_PX``) and its tag's size in screen
    pixels (kept per text: a thousand labels are measured at each zoom's placement)."""
    found = _LABEL_SIZES.get(text)
    if found is None:
        metrics = QFontMetricsF(label_font())
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, LABEL_MAX_PX)
        rect = metrics.boundingRect(shown)
        found = (shown, rect.width() + 8.0, rect.height() + 4.0)
        _LABEL_SIZES[text] = found
    return found


def draw_label(
    painter: QPainter,
    anchor: QPointF,
    text: str,
    color: QColor,
    scale: float,
    *,
    below: bool = False,
) -> None:
    """A label as a small tag at ``anchor`` (image coords), drawn at screen size: its
    bottom-left corner at the anchor (``below``: its top-left corner)."""
    painter.save()
    painter.translate(anchor)
    painter.scale(1.0 / scale, 1.0 / scale)
    painter.setFont(label_font())
    text, width, height = label_size(text)
    rect = QRectF(0, 0 if below else -height, width, height)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color.darker(170))
    painter.drawRoundedRect(rect, 3, 3)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


class MaskLook(NamedTuple):
    """How a static mask is drawn (made once, then only read; a tuple because a
    thousand are made at a first paint)."""

    path: QPainterPath
    shape_rect: QRectF
    fill: QColor | None  # None: no fill (opacity 0, or an RLE overlay instead)
    pen: QPen
    image: QImage | None  # an RLE mask's coloured pixels
    image_rect: QRectF
    opacity: float
    label: str
    color: QColor
    below: bool = False  # the label's tag hangs below its anchor (placed so, not to overlap)


_ANTIALIASING = QPainter.RenderHint.Antialiasing  # looked up once: a thousand masks a paint
_OUTLINES: dict[int, QPen] = {}  # rgba -> the outline pen of that colour (shared, read-only)
_FILLS: dict[tuple[int, float], QColor] = {}  # (rgba, opacity) -> the fill colour


def _outline_pen(color: QColor) -> QPen:
    pen = _OUTLINES.get(color.rgba())
    if pen is None:
        pen = QPen(color.darker(125), OUTLINE_PX)
        pen.setCosmetic(True)
        pen.setJoinStyle(Qt.PenJoinStyle.BevelJoin)  # round joins cost ~2x to stroke
        pen = _OUTLINES.setdefault(color.rgba(), pen)
    return pen


def _fill_color(color: QColor, opacity: float) -> QColor:
    key = (color.rgba(), opacity)
    fill = _FILLS.get(key)
    if fill is None:
        fill = QColor(color)
        fill.setAlphaF(opacity)
        fill = _FILLS.setdefault(key, fill)
    return fill


def paint_look(painter: QPainter, look: MaskLook, scale: float, *, label: bool = True) -> None:
    """Draw a static mask (``scale``: device px per image px, for the label's size);
    ``label`` False leaves the label for :func:`paint_look_label` (drawn after every
    mask, so that no later mask covers it).

    The fill without antialiasing is ~20x cheaper, and the antialiased outline drawn
    over it hides its stair-stepped edge. Leaves the painter antialiased."""
    path = look.path
    if look.image is not None:
        previous = painter.opacity()
        painter.setOpacity(previous * look.opacity)
        painter.drawImage(look.image_rect, look.image)
        painter.setOpacity(previous)
    elif look.fill is not None:
        painter.setRenderHint(_ANTIALIASING, False)
        painter.fillPath(path, look.fill)
    painter.setRenderHint(_ANTIALIASING, True)
    painter.strokePath(path, look.pen)
    if label:
        paint_look_label(painter, look, scale)


def paint_look_label(painter: QPainter, look: MaskLook, scale: float) -> None:
    """A static mask's label tag (nothing when it has none, or it was placed hidden)."""
    if look.label:
        draw_label(
            painter, look.shape_rect.topLeft(), look.label, look.color, scale, below=look.below
        )


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0


def _add_ring(path: QPainterPath, ring: np.ndarray, positive: bool) -> None:
    if (_signed_area(ring) > 0) != positive:
        ring = ring[::-1]
    path.moveTo(float(ring[0, 0]), float(ring[0, 1]))
    for x, y in ring[1:].tolist():
        path.lineTo(x, y)
    path.closeSubpath()


def mask_path(mask: Mask) -> QPainterPath:
    """The outline of a mask (polygon parts, or the traced pixels of an RLE) as a path
    whose non-zero fill is the mask: exteriors one way round, holes the other."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.WindingFill)
    parts: Sequence[PolygonPart]
    if mask.kind == "polygon":
        parts = mask.polygon_parts
        offset = (0.0, 0.0)
    else:
        x, y, w, h = (int(v) for v in mask.bbox)
        if w == 0 or h == 0:
            return path
        parts = bitmap_to_parts(mask.to_bitmap()[y : y + h, x : x + w])
        offset = (float(x), float(y))
    for part in parts:
        _add_ring(path, part.exterior + offset, True)
        for hole in part.holes:
            _add_ring(path, hole + offset, False)
    return path


def _overlay(mask: Mask, color: QColor) -> tuple[QImage, QRectF]:
    """An RLE mask's pixels as a coloured ARGB image of its bounding box."""
    x, y, w, h = (int(v) for v in mask.bbox)
    if w == 0 or h == 0:
        return QImage(), QRectF()
    crop = mask.to_bitmap()[y : y + h, x : x + w]
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[crop != 0] = (color.red(), color.green(), color.blue(), 255)
    image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
    return image, QRectF(x, y, w, h)


class _Annotation(QGraphicsItem):
    """What masks, points and boxes share: colour, label, hover, the view-scale margin."""

    def __init__(self, color: QColor, label: str = "") -> None:
        super().__init__()
        self.color = QColor(color)
        self.label = label
        self.category_id: int | None = None  # the category it shows (the scene's add_*)
        self._own_scale = 1.0  # device px per image px, outside an AnnotationScene
        self._bounds_scale = 1.0  # bounds_scale(self._scale): what the margins are sized for
        self._bounds: QRectF | None = None
        self._hover = False
        self.setAcceptHoverEvents(True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)

    @property
    def _scale(self) -> float:
        """The view's zoom (device px per image px): read from the scene, so that a zoom
        step does not have to visit a thousand items."""
        scale = getattr(self.scene(), "view_scale", None)
        return self._own_scale if scale is None else scale

    def set_view_scale(self, scale: float, *, bounds: bool = True) -> None:
        """The view's zoom; ``bounds`` False: keep the bounding margin for now."""
        self._own_scale = scale
        # Zooming in, the margin only grows too wide: re-sized at 4x, not at each power
        # of two, so that zooming to and fro about one does not re-index every item.
        if bounds and not self._bounds_scale <= scale < 4.0 * self._bounds_scale:
            self._geometry_changed()
            self._bounds_scale = bounds_scale(scale)

    def _geometry_changed(self) -> None:
        # Qt asks for the bounding rect several times per paint; it is kept, not rebuilt.
        self.prepareGeometryChange()
        self._bounds = None

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        if self._bounds is None:
            self._bounds = self._compute_bounds()
        return self._bounds

    def _compute_bounds(self) -> QRectF:
        raise NotImplementedError

    def _margin(self, device_px: float) -> float:
        """``device_px`` screen pixels in image units, at the view's scale (drawing)."""
        return device_px / max(self._scale, 1e-6)

    def _bounds_margin(self, device_px: float) -> float:
        """The same for bounding rects: at least ``_margin`` (see the module doc)."""
        return device_px / self._bounds_scale

    def set_color(self, color: QColor) -> None:
        self.color = QColor(color)
        self.update()

    def hoverEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:  # noqa: N802
        self._hover = False
        self.update()

    @property
    def hovered(self) -> bool:
        return self._hover

    def _draw_label(self, painter: QPainter, anchor: QPointF) -> None:
        if not self.label:
            return
        place = self.label_place()
        if place is not None:
            draw_label(painter, anchor, self.label, self.color, self._scale, below=place)

    def label_place(self) -> bool | None:
        """Where the label goes at the view's zoom: None hidden (labels off, or it would
        overlap another), False above its anchor, True below (the scene's placement)."""
        plan = getattr(self.scene(), "label_place", None)
        return False if plan is None else plan(self)

    def label_origin(self) -> tuple[float, float, float, float]:
        """The label's anchor as (x, y, dx, dy): at zoom ``s`` it sits at device
        position (x * s + dx, y * s + dy) of the scaled scene."""
        raise NotImplementedError

    @property
    def label_priority(self) -> float:
        """Labels placed first come first (points and boxes are what a view works on:
        labelled first; masks by size)."""
        return math.inf

    def _label_extent(self) -> tuple[float, float]:
        """The label tag's size in image units (for bounding rects; room for a tag
        above or below its anchor)."""
        if not self.label:
            return (0.0, 0.0)
        _, width, height = label_size(self.label)
        return self._bounds_margin(width + 2), self._bounds_margin(height + 2)


class MaskItem(_Annotation):
    """A mask: a path for polygons, a cached coloured image for RLE (see module doc).

    A *baked* mask (the scene's static masks) is drawn into the view's cached
    background (``CanvasView.drawBackground``, ``AnnotationScene.drawBackground``), so
    that repainting a view of a thousand masks costs one blit; the item itself then
    paints only its hover or selection highlight, and says so to Qt
    (``ItemHasNoContents``) when it has none. A baked mask shown for vertex editing
    paints itself while it is edited (``in_background`` is False meanwhile).
    """

    def __init__(
        self, mask: Mask, color: QColor, label: str = "", *, fill_opacity: float = 0.45
    ) -> None:
        super().__init__(color, label)
        self._fill_opacity = fill_opacity
        self._editing = False
        self._active = False
        self._baked = False
        self._active_vertex: tuple[int, int, int] | None = None
        self.opacity_factor = 1.0  # times the scene's fill opacity (context masks: less)
        self.order = 0  # stacking order among equal z (the scene's, as it adds masks)
        self.mask: Mask = mask
        self._build()

    def _build(self) -> None:
        self._path = mask_path(self.mask)
        self._image: QImage | None
        if self.mask.kind == "rle":
            self._image, self._image_rect = _overlay(self.mask, self.color)
        else:
            self._image, self._image_rect = None, QRectF()
        self._shape_rect = self._path.boundingRect()
        self._look: MaskLook | None = None

    # ------------------------------------------------------------ state

    @property
    def baked(self) -> bool:
        return self._baked

    def set_baked(self, baked: bool) -> None:
        self._baked = bool(baked)
        self._refresh_contents()

    @property
    def in_background(self) -> bool:
        """Drawn into the view's background (baked, and not being vertex-edited)."""
        return self._baked and not self._editing

    def _refresh_contents(self) -> None:
        highlighted = self._hover or self.isSelected()
        self.setFlag(
            QGraphicsItem.GraphicsItemFlag.ItemHasNoContents,
            self.in_background and not highlighted,
        )
        self.update()

    def _look_changed(self, old: QRectF | None = None, *, background: bool | None = None) -> None:
        """Repaint what shows this mask: the view's background when baked."""
        scene = self.scene()
        if (self.in_background if background is None else background) and scene is not None:
            rect = self.boundingRect() if old is None else self.boundingRect().united(old)
            invalidate = getattr(scene, "invalidate_background", None)
            if invalidate is not None:
                invalidate(rect)
            else:
                scene.invalidate(rect, scene.SceneLayer.BackgroundLayer)
        self.update()

    def hoverEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._hover = True
        self._refresh_contents()

    def hoverLeaveEvent(self, event) -> None:  # noqa: N802
        self._hover = False
        self._refresh_contents()

    def itemChange(self, change, value):  # noqa: N802
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self._refresh_contents()
        return super().itemChange(change, value)

    def set_mask(self, mask: Mask) -> None:
        """Show another mask (an edit); only this item's area is repainted."""
        old = self.boundingRect()
        self._geometry_changed()
        self.mask = mask
        self._build()
        self._look_changed(old)

    def set_color(self, color: QColor) -> None:
        self.color = QColor(color)
        self._build()
        self._look_changed()

    def set_fill_opacity(self, opacity: float, *, repaint: bool = True) -> None:
        self._fill_opacity = float(opacity)
        self._look = None
        if repaint:
            self._look_changed()

    def set_editing(self, editing: bool) -> None:
        """Show the vertex handles (vertex tool)."""
        if editing != self._editing:
            self._geometry_changed()
            self._editing = editing
            self._look_changed(background=self._baked)
            self._refresh_contents()

    def set_active(self, active: bool) -> None:
        """The mask being drawn: outlined with a halo so that it stands out."""
        if active != self._active:
            self._active = active
            self._look_changed()

    def set_active_vertex(self, ref: tuple[int, int, int] | None) -> None:
        if ref != self._active_vertex:
            self._active_vertex = ref
            self.update()

    @property
    def path(self) -> QPainterPath:
        return self._path

    def _compute_bounds(self) -> QRectF:
        grow = self._bounds_margin(max(SELECTED_PX, HANDLE_PX if self._editing else 0.0) + 2.0)
        rect = self._shape_rect.adjusted(-grow, -grow, grow, grow)
        if self.label:
            w, h = self._label_extent()
            corner = self._shape_rect.topLeft()
            rect = rect.united(QRectF(corner.x(), corner.y() - h, w, 2 * h))
        return rect

    def shape(self) -> QPainterPath:
        return self._path

    # ------------------------------------------------------------ drawing

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        boost = (HOVER_BOOST if self._hover else 0.0) + (SELECTED_BOOST if selected else 0.0)
        if self.in_background:
            # The background already shows the mask: add the highlight only.
            if boost:
                self._draw(painter, boost, selected, label=False)
            return
        self._draw(painter, min(self._fill_opacity + boost, 0.9), selected, label=True)

    def look(self) -> MaskLook:
        """The mask without highlight, as drawn into the background (kept until the
        mask, its colour or its opacity change)."""
        if self._look is None:
            opacity = min(max(self._fill_opacity, 0.0), 1.0)
            has_fill = self._image is None and opacity > 0
            self._look = MaskLook(
                self._path,
                self._shape_rect,
                _fill_color(self.color, opacity) if has_fill else None,
                _outline_pen(self.color),
                self._image,
                self._image_rect,
                opacity,
                self.label,
                self.color,
            )
        return self._look

    def paint_base(self, painter: QPainter, *, label: bool = True) -> None:
        """The mask's look without highlight (what the background shows; the caller
        sets the antialiasing hint back); ``label`` False: see :func:`paint_look`."""
        paint_look(painter, self.placed_look(), self._scale, label=label)

    def placed_look(self) -> MaskLook:
        """The look with its label as the scene places it at the view's zoom (hidden
        where it would overlap another label, or hung below its anchor)."""
        look = self.look()
        if not look.label:
            return look
        place = self.label_place()
        if place is None:
            return look._replace(label="")
        return look._replace(below=True) if place else look

    def label_origin(self) -> tuple[float, float, float, float]:
        rect = self._shape_rect
        return rect.x(), rect.y(), 0.0, 0.0

    @property
    def label_priority(self) -> float:
        """Larger masks place their labels first (a small one's label gives way)."""
        return self._shape_rect.width() * self._shape_rect.height()

    def _draw(self, painter: QPainter, opacity: float, selected: bool, *, label: bool) -> None:
        if self._image is not None:
            painter.save()
            painter.setOpacity(opacity)
            painter.drawImage(self._image_rect, self._image)
            painter.restore()
        elif opacity > 0:
            # The fill without antialiasing is ~20x cheaper, and the antialiased outline
            # drawn over it hides its stair-stepped edge: 1000 polygons paint in ~0.15 s
            # instead of ~0.6 s on a busy 2-core machine (bench/canvas.py).
            fill = QColor(self.color)
            fill.setAlphaF(min(opacity, 1.0))
            antialiased = painter.testRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.fillPath(self._path, fill)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, antialiased)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        strong = selected or self._hover or self._editing or self._active
        if selected or self._editing or self._active:
            halo = QPen(QColor(255, 255, 255, 230), SELECTED_PX + 1.5)
            halo.setCosmetic(True)
            halo.setJoinStyle(Qt.PenJoinStyle.BevelJoin)  # round joins cost ~2x to stroke
            painter.setPen(halo)
            painter.drawPath(self._path)
        pen = QPen(self.color.darker(125) if not self._hover else self.color.lighter(130))
        pen.setWidthF(SELECTED_PX if strong else OUTLINE_PX)
        pen.setCosmetic(True)
        pen.setJoinStyle(Qt.PenJoinStyle.BevelJoin)
        painter.setPen(pen)
        painter.drawPath(self._path)
        if self._editing and self.mask.kind == "polygon":
            self._draw_handles(painter)
        if label and self.label:
            self._draw_label(painter, self._shape_rect.topLeft())

    def _draw_handles(self, painter: QPainter) -> None:
        half = self._margin(HANDLE_PX / 2.0)
        pen = QPen(self.color.darker(150), 1.2)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(QColor("white"))
        rects = []
        for part in self.mask.polygon_parts:
            for ring in part.rings:
                for x, y in ring.tolist():
                    rects.append(QRectF(x - half, y - half, 2 * half, 2 * half))
        painter.drawRects(rects)
        if self._active_vertex is not None:
            p, r, v = self._active_vertex
            try:
                x, y = self.mask.polygon_parts[p].rings[r][v]
            except IndexError:
                return
            painter.setBrush(self.color)
            painter.drawRect(QRectF(x - 1.4 * half, y - 1.4 * half, 2.8 * half, 2.8 * half))


class PointItem(_Annotation):
    """A point (a spot or an instance mark): a ringed dot of fixed screen size."""

    RADIUS_PX = 5.5

    def __init__(self, x: float, y: float, label: str = "", color: QColor | None = None) -> None:
        super().__init__(color if color is not None else category_color(None), label)
        # Not x and y: those are QGraphicsItem's position methods.
        self.px, self.py = float(x), float(y)

    def _compute_bounds(self) -> QRectF:
        r = self._bounds_margin(self.RADIUS_PX + 3.0)
        rect = QRectF(self.px - r, self.py - r, 2 * r, 2 * r)
        if self.label:
            w, h = self._label_extent()
            rect = rect.united(QRectF(self.px + r, self.py - h, w, 2 * h))
        return rect

    def label_origin(self) -> tuple[float, float, float, float]:
        return self.px, self.py, self.RADIUS_PX, -0.3 * self.RADIUS_PX

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        r = self._margin(self.RADIUS_PX + 2.0)
        path.addEllipse(QPointF(self.px, self.py), r, r)
        return path

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        grow = 1.35 if (selected or self._hover) else 1.0
        r = self._margin(self.RADIUS_PX * grow)
        pen = QPen(QColor("white"), 2.0 if not selected else 3.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(self.color)
        painter.drawEllipse(QPointF(self.px, self.py), r, r)
        if self.label:
            self._draw_label(painter, QPointF(self.px + r, self.py - r * 0.3))


class BoxItem(_Annotation):
    """A box ``(x, y, w, h)`` in image pixels."""

    def __init__(self, box: Box, label: str = "", color: QColor | None = None) -> None:
        super().__init__(color if color is not None else category_color(None), label)
        self.box = tuple(float(v) for v in box)

    @property
    def rect(self) -> QRectF:
        return QRectF(*self.box)

    def label_origin(self) -> tuple[float, float, float, float]:
        return self.box[0], self.box[1], 0.0, 0.0

    def _compute_bounds(self) -> QRectF:
        g = self._bounds_margin(SELECTED_PX + 2.0)
        rect = self.rect.adjusted(-g, -g, g, g)
        if self.label:
            w, h = self._label_extent()
            rect = rect.united(QRectF(self.box[0], self.box[1] - h, w, 2 * h))
        return rect

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.rect)
        stroker = QPainterPathStroker()
        stroker.setWidth(self._margin(6.0))
        return stroker.createStroke(path).united(path)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pen = QPen(self.color, SELECTED_PX if (selected or self._hover) else 2.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        fill = QColor(self.color)
        fill.setAlphaF(0.12 if (selected or self._hover) else 0.0)
        painter.setBrush(fill)
        painter.drawRect(self.rect)
        if self.label:
            self._draw_label(painter, QPointF(self.box[0], self.box[1]))


__all__ = [
    "BoxItem",
    "MaskItem",
    "MaskLook",
    "PointItem",
    "bounds_scale",
    "category_color",
    "mask_path",
    "paint_look",
    "paint_look_label",
]

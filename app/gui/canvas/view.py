"""The canvas view: zoom about the cursor, pan, fit, 1:1, and the active tool's events.

Mouse events are turned into :class:`CanvasEvent` (image coordinates, exact to the
view's resolution) and handed to the current tool (``set_tool``); the view pans with
Space-drag or the middle button whatever the tool. Only what changed is repainted
(``MinimalViewportUpdate``); panning scrolls the pixels already drawn, and the image
with the static masks is the view's cached background (see ``scene``).

The static masks come from the view's mask layer (``layer.MaskLayer``): a raster of
them at the view's zoom, blitted into the background. A zoom step does not draw the
masks again: it shows the layer scaled (and the image from its preview), which costs a
few milliseconds; once the zoom has paused for ``SETTLE_MS``, the layer is rendered
at the new zoom in pieces of a few milliseconds between events (``layer``), and the
view swaps it in and is exact again (``backgroundSettled``). ``settle()`` does that at
once, for tests and screenshots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QRegion,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QStyleOptionGraphicsItem, QWidget

from .focus import focus_click, watch
from .layer import LayerJob, LayerRenderer, LayerResult, MaskLayer, render_layer
from .scene import AnnotationScene
from .tiles import ImageSource

MIN_SCALE = 0.01
MAX_SCALE = 64.0
WHEEL_STEP = 1.25  # zoom factor per wheel notch
SETTLE_MS = 150  # a zoom that paused this long gets its exact background rendered
LAYER_MARGIN = 0.25  # the mask layer reaches this share of the viewport past each side
EDGE_PAD_PX = 160  # the layer reaches this far past the image (outlines, label tags)


@dataclass(frozen=True)
class CanvasEvent:
    """A mouse event in image coordinates, as the tools see it."""

    x: float
    y: float
    button: Qt.MouseButton
    buttons: Qt.MouseButton
    modifiers: Qt.KeyboardModifier
    scale: float  # device px per image px: tools size their hit tolerance with it

    @property
    def point(self) -> tuple[float, float]:
        return (self.x, self.y)

    def tolerance(self, device_px: float = 8.0) -> float:
        """``device_px`` screen pixels in image units."""
        return device_px / max(self.scale, 1e-9)


class CanvasTool(Protocol):
    """What the view asks of a tool (see app/gui/tools/base.py)."""

    def press(self, event: CanvasEvent) -> bool: ...
    def move(self, event: CanvasEvent) -> bool: ...
    def release(self, event: CanvasEvent) -> bool: ...
    def double_click(self, event: CanvasEvent) -> bool: ...
    def key(self, event: QKeyEvent) -> bool: ...
    def wants_key(self, event: QKeyEvent) -> bool: ...
    def leave(self) -> None: ...


class CanvasView(QGraphicsView):
    """A view of an :class:`AnnotationScene` (see the module doc)."""

    clicked = Signal(QPointF, Qt.MouseButton, Qt.KeyboardModifier)  # image coords
    zoomChanged = Signal(float)  # device px per image px
    cursorMoved = Signal(QPointF)  # image coords under the mouse
    backgroundSettled = Signal()  # the background is exact at the current zoom again

    def __init__(self, scene: AnnotationScene | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = scene if scene is not None else AnnotationScene(self)
        self.setScene(self._scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, False)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # The image and the static masks are the scene's background: cached per view.
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        watch(self)  # its focus and the app's activation, for the focus click (focus.py)
        self._tool: CanvasTool | None = None
        self._space = False
        self._pan_from: QPoint | None = None
        self._fit_pending = True
        self._layer: MaskLayer | None = None
        self._zoom_anchor: tuple[QPointF, QPointF, QTransform] | None = None
        self.last_layer_render_ms = 0.0
        self._settling = False  # the zoom changed: a quick look until the new layer
        self._renderer = LayerRenderer(self)
        self._renderer.rendered.connect(self._on_rendered)
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._settle_timer.timeout.connect(self._render_layer)
        self._scene.imageChanged.connect(self._on_image_changed)
        self._scene.backgroundInvalidated.connect(self._on_background_invalidated)
        self._view_actions = self._make_actions()

    # ------------------------------------------------------------ image and tool

    @property
    def annotation_scene(self) -> AnnotationScene:
        return self._scene

    def set_image(self, source: ImageSource) -> None:
        """Show an image file or RGB array, fitted to the view."""
        self._scene.set_image(source)
        self.fit()

    def set_tool(self, tool: CanvasTool | None) -> None:
        if self._tool is not None:
            self._tool.leave()
        self._tool = tool

    @property
    def tool(self) -> CanvasTool | None:
        return self._tool

    def _on_image_changed(self, width: int, height: int) -> None:
        # Room around the image so that any part of it can be panned to the centre.
        margin = max(width, height) * 2.0
        self.setSceneRect(QRectF(0, 0, width, height).adjusted(-margin, -margin, margin, margin))

    # ------------------------------------------------------------ coordinates

    @property
    def scale_factor(self) -> float:
        """Device pixels per image pixel."""
        return self.transform().m11()

    def image_to_view(self, point: QPointF) -> QPointF:
        """Image coordinates to viewport coordinates (exact, not rounded)."""
        return self.viewportTransform().map(QPointF(point))

    def view_to_image(self, point: QPointF | QPoint) -> QPointF:
        """Viewport coordinates to image coordinates (exact, not rounded)."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.map(QPointF(point))

    def visible_image_rect(self) -> QRectF:
        """The part of the image (image coords) the viewport shows."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.mapRect(QRectF(self.viewport().rect())).intersected(self._scene.image_rect)

    # ------------------------------------------------------------ zoom and pan

    def fit(self) -> None:
        """The whole image in view (F)."""
        rect = self._scene.image_rect
        if rect.isEmpty() or self.viewport().width() <= 1:
            self._fit_pending = True
            return
        self._fit_pending = False
        view = self.viewport().rect()
        scale = min(view.width() / rect.width(), view.height() / rect.height()) * 0.98
        self._set_scale(scale)
        self.centerOn(rect.center())
        self._fit_scale = self.scale_factor  # a resize refits while the zoom is this

    def actual_size(self) -> None:
        """One image pixel per screen pixel (1), about the view's centre."""
        centre = self.view_to_image(QPointF(self.viewport().rect().center()))
        self._set_scale(1.0)
        self.centerOn(centre)

    def zoom_at(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the image point under ``anchor`` (viewport
        coords; default the centre) where it is."""
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else QPointF(anchor)
        last = self._zoom_anchor
        if last is not None and last[0] == anchor and last[2] == self.viewportTransform():
            # The same burst at the same spot: the scroll position is whole pixels, so
            # the point under the cursor is kept from the first step, not from the last
            # (which was rounded), lest it drift by up to half a pixel per step.
            before = last[1]
        else:
            before = self.view_to_image(anchor)
        self._set_scale(self.scale_factor * factor)
        after = self.image_to_view(before)
        # The cached background is drawn afresh after a zoom: scrolling its pixels with
        # the anchor's pan would be wasted (two 6 MB copies a step).
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        self.pan_by(after.x() - anchor.x(), after.y() - anchor.y())
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self._zoom_anchor = (anchor, before, self.viewportTransform())

    def set_zoom(self, scale: float, centre: QPointF | None = None) -> None:
        """Show the image at ``scale`` centred on ``centre`` (image coords)."""
        centre = (
            self.view_to_image(QPointF(self.viewport().rect().center()))
            if centre is None
            else centre
        )
        self._set_scale(scale)
        self.centerOn(centre)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by (dx, dy) device pixels (the image moves the other way)."""
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def _set_scale(self, scale: float) -> None:
        scale = min(max(scale, MIN_SCALE), MAX_SCALE)
        if math.isclose(scale, self.scale_factor, rel_tol=1e-12):
            return
        # Bounding margins are re-sized when the zoom pauses (re-indexing every item
        # at each step costs ~10 ms); until then every step repaints the whole view.
        self._scene.set_view_scale(scale, bounds=False)
        self.setTransform(self.transform().fromScale(scale, scale))
        # The background shows its quick look until the zoom pauses (see the module doc).
        self._settling = True
        self._renderer.cancel()
        self._settle_timer.start()
        self.zoomChanged.emit(scale)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt's name)
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            return
        self.zoom_at(WHEEL_STEP**steps, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        # A fitted image stays fitted (maximising the window refits it); a zoom the
        # user chose is kept.
        fitted = getattr(self, "_fit_scale", None)
        if self._fit_pending or (fitted is not None and abs(self.scale_factor - fitted) < 1e-9):
            self.fit()

    # ------------------------------------------------------------ the background

    @property
    def settling(self) -> bool:
        """True from a zoom step until the background is exact at the new zoom."""
        return self._settling

    @property
    def mask_layer(self) -> MaskLayer | None:
        return self._layer

    def settle(self) -> None:
        """Make the background exact at the current zoom now, in one go (what happens in
        pieces once a zoom pauses; for tests, screenshots and benchmarks)."""
        if self._settling or self._settle_timer.isActive() or self._renderer.busy:
            self._settle_timer.stop()
            self._renderer.cancel()
            self._install(render_layer(self._layer_job()))

    def _device_scale(self) -> tuple[float, QPoint, float]:
        """(device px per image px, device position of the scene origin, pixel ratio)."""
        dpr = self.viewport().devicePixelRatioF()
        t = self.viewportTransform()
        return t.m11() * dpr, QPoint(round(t.dx() * dpr), round(t.dy() * dpr)), dpr

    def _layer_rect(self, scale: float, offset: QPoint, dpr: float) -> QRect:
        """Where a layer rendered now should reach (scaled scene coords): the viewport
        and a margin, within the image (and its labels' reach)."""
        size = self.viewport().size() * dpr
        view = QRect(-offset.x(), -offset.y(), size.width(), size.height())
        mx, my = int(size.width() * LAYER_MARGIN), int(size.height() * LAYER_MARGIN)
        return view.adjusted(-mx, -my, mx, my).intersected(self._mask_reach(scale))

    def _mask_reach(self, scale: float) -> QRect:
        """Where masks can show at ``scale`` (scaled scene coords): the image and a pad."""
        w, h = self._scene.image_size
        image = QRectF(0, 0, w * scale, h * scale).toAlignedRect()
        return image.adjusted(-EDGE_PAD_PX, -EDGE_PAD_PX, EDGE_PAD_PX, EDGE_PAD_PX)

    def _layer_job(self) -> LayerJob:
        self._scene.set_view_scale(self.scale_factor)  # the margins, now the zoom paused
        scale, offset, dpr = self._device_scale()
        rect = self._layer_rect(scale, offset, dpr)
        if rect.isEmpty():
            rect = QRect(-offset.x(), -offset.y(), 1, 1)
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(self.viewportTransform())
        image = self._scene.image_item
        return LayerJob(
            id=self._renderer.next_id(),
            scale=scale,
            origin=rect.topLeft(),
            size=rect.size(),
            looks=self._scene.static_looks(),
            fitted=image.fitted_request(lod),
            fitted_scale=lod,
            backdrop=self._scene.backdrop(),
            prepare=image.tile_makers(self.visible_image_rect(), lod),
        )

    def _render_layer(self) -> None:
        job = self._layer_job()
        if not job.looks and job.fitted is None and not job.prepare:
            image = QImage(job.size, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(Qt.GlobalColor.transparent)
            self._install(LayerResult(job, image, None))
            return
        self._renderer.start(job)

    def _on_rendered(self, result: LayerResult) -> None:
        if result.job is not self._renderer.current:
            return  # cancelled: the zoom moved on, or the masks changed
        self._renderer.current = None
        self._install(result)

    def _install(self, result: LayerResult) -> None:
        job = result.job
        self.last_layer_render_ms = result.render_ms  # for bench/canvas.py
        layer = MaskLayer(
            result.image, job.scale, job.origin, snapshot=result.snapshot, painted=result.painted
        )
        layer.valid = QRegion(layer.pixel_rect)
        for rect in job.dirty:
            layer.invalidate(rect)
        self._layer = layer
        if result.fitted is not None:
            self._scene.image_item.set_fitted(job.fitted_scale, result.fitted)
        scale, _, _ = self._device_scale()
        if math.isclose(job.scale, scale, rel_tol=1e-9) and self._settling:
            self._settling = False
            self.resetCachedContent()  # the quick look goes; the exact one is a blit
        if not self._settling:
            self.backgroundSettled.emit()

    def _on_background_invalidated(self, rect: QRectF) -> None:
        job = self._renderer.current
        if rect.isEmpty():
            # Everything changed (opacity, visibility, another image): a new layer is
            # drawn at the next paint; a render in flight is out of date.
            self._layer = None
            if job is not None:
                self._renderer.cancel()
                self._settle_timer.start()
            return
        if self._layer is not None:
            self._layer.invalidate(rect)
        if job is not None:
            job.dirty.append(QRectF(rect))

    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802
        """The image, and the static masks from the mask layer (see the module doc)."""
        scene = self._scene
        layer = self._layer
        parts = scene.exposed_parts(painter, QRectF(rect))  # Qt passes a QRectF
        for part in parts:
            painter.save()
            if len(parts) > 1:
                painter.setClipRect(part, Qt.ClipOperation.IntersectClip)
            if layer is not None and self._quick_look_covers(painter, part):
                # The layer's opaque snapshot scaled: image and masks in one draw.
                if not layer.scene_rect().contains(part):
                    scene.draw_canvas(painter, part)
                layer.draw_scaled(painter, snapshot=True)
            else:
                scene.draw_backdrop(painter, part, quick=self._settling)
                if scene.annotations_visible:
                    self._draw_masks(painter, part)
            painter.restore()

    def _quick_look_covers(self, painter: QPainter, part: QRectF) -> bool:
        layer = self._layer
        return (
            self._settling
            and layer is not None
            and layer.snapshot is not None
            and self._scene.annotations_visible
            and not math.isclose(layer.scale, painter.deviceTransform().m11(), rel_tol=1e-9)
            and layer.scene_rect().contains(part.intersected(self._scene.image_rect))
        )

    def _draw_masks(self, painter: QPainter, part: QRectF) -> None:
        scene = self._scene
        device_transform = painter.deviceTransform()
        scale = device_transform.m11()
        offset = QPoint(round(device_transform.dx()), round(device_transform.dy()))
        aligned = (
            not device_transform.m12()
            and not device_transform.m21()
            and not device_transform.isRotating()
            and scale == device_transform.m22()
            and offset.x() == device_transform.dx()
            and offset.y() == device_transform.dy()
        )
        if not aligned:  # rotated or between pixels (a print, a render()): draw directly
            scene.paint_static_masks(painter, part)
            return
        dpr = scale / max(painter.worldTransform().m11(), 1e-12)
        layer = self._layer
        if layer is not None and not math.isclose(layer.scale, scale, rel_tol=1e-9):
            if self._settling:
                layer.draw_scaled(painter)  # the quick look, until the zoom pauses
                return
            layer = None
        if layer is None:
            rect = self._layer_rect(scale, offset, dpr)
            if rect.isEmpty() or not scene.has_static_masks():
                return  # no mask, or no part of the image (nor of its labels) in view
            image = QImage(rect.size(), QImage.Format.Format_ARGB32_Premultiplied)
            layer = self._layer = MaskLayer(image, scale, rect.topLeft())
        device = device_transform.mapRect(part).toAlignedRect()
        if painter.hasClipping():
            device &= device_transform.mapRect(painter.clipBoundingRect()).toAlignedRect()
        # Only where masks can be need come from the layer (zoomed out, the view is
        # larger than the image, and so than the layer).
        reach = self._mask_reach(scale).translated(-layer.origin.x(), -layer.origin.y())
        px = layer.to_layer_px(device, offset).intersected(reach)
        device = px.translated(offset + layer.origin)
        if px.isEmpty():
            return
        if layer.pixel_rect.contains(px):
            layer.repair(px, scene.paint_static_masks)
            layer.blit(painter, device, px, dpr)
            return
        # Panned past the layer: draw here, and render a layer about the view once the
        # pan pauses.
        drawn = scene.paint_static_masks(painter, part)
        covered = layer.pixel_rect.translated(layer.origin)
        if drawn and not covered.contains(self._layer_rect(scale, offset, dpr)):
            self._settle_timer.start()

    # ------------------------------------------------------------ actions

    def _make_actions(self) -> list[QAction]:
        def action(text: str, keys: list[str], slot) -> QAction:
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            # The window's keys: they work without a click on the canvas first, after
            # Ctrl+3 or a click on a button (a hidden stage's canvas is not asked).
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        return [
            action("Fit image", ["F"], self.fit),
            action("Actual size (1:1)", ["1"], self.actual_size),
            action("Zoom in", ["+", "="], lambda: self.zoom_at(WHEEL_STEP)),
            action("Zoom out", ["-"], lambda: self.zoom_at(1 / WHEEL_STEP)),
        ]

    def view_actions(self) -> list[QAction]:
        """Fit (F), 1:1 (1), zoom in/out: for menus and the shortcuts help."""
        return list(self._view_actions)

    # ------------------------------------------------------------ events

    def _canvas_event(self, event: QMouseEvent) -> CanvasEvent:
        p = self.view_to_image(event.position())
        return CanvasEvent(
            p.x(), p.y(), event.button(), event.buttons(), event.modifiers(), self.scale_factor
        )

    def _panning_press(self, event: QMouseEvent) -> bool:
        return event.button() == Qt.MouseButton.MiddleButton or (
            self._space and event.button() == Qt.MouseButton.LeftButton
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._panning_press(event):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if focus_click(self):
            # The click that brings the app to the front only takes the focus: no
            # vertex, no spot (decision 0032). Its release and drag go nowhere either.
            self._focus_press = True
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            event.accept()
            return
        ce = self._canvas_event(event)
        self.clicked.emit(QPointF(ce.x, ce.y), event.button(), event.modifiers())
        if self._tool is not None and self._tool.press(ce):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if getattr(self, "_focus_press", False) and event.buttons():
            event.accept()  # the drag of a focus click draws nothing
            return
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta = now - self._pan_from
            self._pan_from = now
            self.pan_by(-delta.x(), -delta.y())
            event.accept()
            return
        ce = self._canvas_event(event)
        self.cursorMoved.emit(QPointF(ce.x, ce.y))
        if self._tool is not None and self._tool.move(ce):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if getattr(self, "_focus_press", False):
            self._focus_press = False
            event.accept()
            return
        if self._pan_from is not None and (
            event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton)
        ):
            self._pan_from = None
            self.viewport().setCursor(
                Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.ArrowCursor
            )
            event.accept()
            return
        if self._tool is not None and self._tool.release(self._canvas_event(event)):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._tool is not None and self._tool.double_click(self._canvas_event(event)):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        if self._tool is not None:
            self._tool.leave()
        super().leaveEvent(event)

    def event(self, event: QEvent) -> bool:
        # Keys the tool needs now (Enter closing a polygon, Esc cancelling) win over any
        # window shortcut bound to the same key (Enter = accept in a stage view).
        # (PySide6 hands a shortcut override over as the QKeyEvent it is)
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if self._tool is not None and self._tool.wants_key(event):
                event.accept()
                return True
            if event.key() == Qt.Key.Key_Space and not event.modifiers():
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if self._tool is not None and self._tool.key(event):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            if self._pan_from is None:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)


__all__ = ["CanvasEvent", "CanvasTool", "CanvasView"]

"""The canvas view: zoom about the cursor, pan, fit, 1:1, and the active tool's events.

Mouse events are turned into :class:`CanvasEvent` (image coordinates, exact to the
view's resolution) and handed to the current tool (``set_tool``); the view pans with
Space-drag or the middle button whatever the tool. Only what changed is repainted
(``MinimalViewportUpdate``); panning scrolls the pixels already drawn, and the image
with the static masks is the view's cached background (see ``scene``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from .scene import AnnotationScene
from .tiles import ImageSource

MIN_SCALE = 0.01
MAX_SCALE = 64.0
WHEEL_STEP = 1.25  # zoom factor per wheel notch


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
        self._tool: CanvasTool | None = None
        self._space = False
        self._pan_from: QPoint | None = None
        self._fit_pending = True
        self._scene.imageChanged.connect(self._on_image_changed)
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

    def actual_size(self) -> None:
        """One image pixel per screen pixel (1), about the view's centre."""
        centre = self.view_to_image(QPointF(self.viewport().rect().center()))
        self._set_scale(1.0)
        self.centerOn(centre)

    def zoom_at(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the image point under ``anchor`` (viewport
        coords; default the centre) where it is."""
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else QPointF(anchor)
        before = self.view_to_image(anchor)
        self._set_scale(self.scale_factor * factor)
        after = self.image_to_view(before)
        self.pan_by(after.x() - anchor.x(), after.y() - anchor.y())

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
        self._scene.set_view_scale(scale)
        self.setTransform(self.transform().fromScale(scale, scale))
        self.zoomChanged.emit(scale)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt's name)
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            return
        self.zoom_at(WHEEL_STEP**steps, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_pending:
            self.fit()

    # ------------------------------------------------------------ actions

    def _make_actions(self) -> list[QAction]:
        def action(text: str, keys: list[str], slot) -> QAction:
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
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
        ce = self._canvas_event(event)
        self.clicked.emit(QPointF(ce.x, ce.y), event.button(), event.modifiers())
        if self._tool is not None and self._tool.press(ce):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
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
        if event.type() == QEvent.Type.ShortcutOverride:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if self._tool is not None and self._tool.wants_key(key_event):
                event.accept()
                return True
            if key_event.key() == Qt.Key.Key_Space and not key_event.modifiers():
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

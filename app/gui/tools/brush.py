"""Brush tool: paint the mask with a round brush; `[` and `]` change the radius.

A stroke is the path from press to release; the pixels whose centres lie within the
radius of it are added (see ``pipeline.masks.edits.stroke_pixels``), so the result is an
exact mask. The eraser (``eraser.py``) takes the same pixels out.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent

from app.gui.canvas.view import CanvasEvent

from .base import BrushCursor, PaintStroke, StrokePreview, Tool, is_left

MIN_RADIUS = 0.5
MAX_RADIUS = 400.0
RADIUS_STEP = 1.25  # `]` grows, `[` shrinks by this factor


class BrushRadius(QObject):
    """The radius the brush and the eraser share (image pixels)."""

    changed = Signal(float)

    def __init__(self, radius: float = 8.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.value = float(radius)

    def set(self, radius: float) -> None:
        radius = min(max(float(radius), MIN_RADIUS), MAX_RADIUS)
        if radius != self.value:
            self.value = radius
            self.changed.emit(radius)

    def grow(self) -> None:
        self.set(self.value * RADIUS_STEP)

    def shrink(self) -> None:
        self.set(self.value / RADIUS_STEP)


class BrushTool(Tool):
    name = "brush"
    title = "Brush"
    shortcut = "B"
    erase = False

    def __init__(self, target=None, parent=None, radius: BrushRadius | None = None) -> None:
        super().__init__(target, parent)
        self.radius = radius if radius is not None else BrushRadius(parent=self)
        self._stroke: list[tuple[float, float]] = []
        self._cursor: tuple[float, float] | None = None
        self.radius.changed.connect(self._show_cursor)

    @property
    def busy(self) -> bool:
        return bool(self._stroke)

    def _show_cursor(self, *_: object) -> None:
        if self._stroke:
            self.previewChanged.emit(
                StrokePreview(tuple(self._stroke), self.radius.value, self.erase)
            )
        elif self._cursor is not None:
            self.previewChanged.emit(BrushCursor(self._cursor, self.radius.value, self.erase))

    def press(self, event: CanvasEvent) -> bool:
        if not is_left(event):
            return False
        self._stroke = [event.point]
        self._show_cursor()
        return True

    def move(self, event: CanvasEvent) -> bool:
        self._cursor = event.point
        if self._stroke:
            x0, y0 = self._stroke[-1]
            # Skip sub-pixel jitter; the capsule between samples covers the gap anyway.
            if math.hypot(event.x - x0, event.y - y0) >= 0.5:
                self._stroke.append(event.point)
        self._show_cursor()
        return True

    def release(self, event: CanvasEvent) -> bool:
        if not self._stroke or not is_left(event):
            return False
        stroke = tuple(self._stroke)
        self._stroke = []
        self._show_cursor()
        self.editRequested.emit(PaintStroke(stroke, self.radius.value, self.erase))
        return True

    def key(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_BracketRight:
            self.radius.grow()
            return True
        if event.key() == Qt.Key.Key_BracketLeft:
            self.radius.shrink()
            return True
        if event.key() == Qt.Key.Key_Escape and self._stroke:
            self.cancel()
            return True
        return False

    def wants_key(self, event: QKeyEvent) -> bool:
        return event.key() in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight) or (
            event.key() == Qt.Key.Key_Escape and bool(self._stroke)
        )

    def cancel(self) -> None:
        self._stroke = []
        super().cancel()

    def leave(self) -> None:
        self._cursor = None
        if not self._stroke:
            self.previewChanged.emit(None)

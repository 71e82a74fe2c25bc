"""Polygon tool: click the vertices; Enter, or a click on the first vertex, closes it.

Esc cancels, Backspace removes the last vertex. With Alt held (at any click) or as the
hole tool, the closed polygon is cut out of the current mask instead of added to it.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from app.gui.canvas.view import CanvasEvent

from .base import AddPolygon, PolylinePreview, Tool, is_left

CLOSE_PX = 8.0  # a click this near the first vertex (on screen) closes the polygon

_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Backspace)


class PolygonTool(Tool):
    name = "polygon"
    title = "Polygon"
    shortcut = "P"
    hole = False

    def __init__(self, target=None, parent=None) -> None:
        super().__init__(target, parent)
        self._points: list[tuple[float, float]] = []
        self._alt = False
        self._cursor: tuple[float, float] | None = None
        self._scale = 1.0

    @property
    def busy(self) -> bool:
        return bool(self._points)

    @property
    def points(self) -> list[tuple[float, float]]:
        return list(self._points)

    def _near_first(self, point: tuple[float, float]) -> bool:
        if len(self._points) < 3:
            return False
        (x0, y0), (x, y) = self._points[0], point
        return math.hypot(x - x0, y - y0) * self._scale <= CLOSE_PX

    def _preview(self) -> None:
        closable = self._cursor is not None and self._near_first(self._cursor)
        self.previewChanged.emit(
            PolylinePreview(tuple(self._points), self._cursor, self.hole or self._alt, closable)
            if self._points
            else None
        )

    def press(self, event: CanvasEvent) -> bool:
        if not is_left(event):
            return False
        self._scale = event.scale
        if event.modifiers & Qt.KeyboardModifier.AltModifier:
            self._alt = True
        if self._near_first(event.point):
            self.close()
            return True
        self._points.append(event.point)
        self._cursor = event.point
        self._preview()
        return True

    def move(self, event: CanvasEvent) -> bool:
        self._scale = event.scale
        if not self._points:
            return False
        self._cursor = event.point
        self._preview()
        return True

    def close(self) -> bool:
        """Finish the polygon (a request when it has 3 points or more)."""
        if len(self._points) < 3:
            return False
        request = AddPolygon(tuple(self._points), hole=self.hole or self._alt)
        self._reset()
        self.editRequested.emit(request)
        return True

    def _reset(self) -> None:
        self._points.clear()
        self._alt = False
        self._cursor = None
        self.previewChanged.emit(None)

    def cancel(self) -> None:
        self._reset()

    def key(self, event: QKeyEvent) -> bool:
        if not self._points:
            return False
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.AltModifier:
                self._alt = True
            self.close()
            return True
        if key == Qt.Key.Key_Escape:
            self.cancel()
            return True
        if key == Qt.Key.Key_Backspace:
            self._points.pop()
            self._preview()
            return True
        return False

    def wants_key(self, event: QKeyEvent) -> bool:
        return bool(self._points) and event.key() in _KEYS

    def leave(self) -> None:
        self._cursor = None
        if self._points:
            self._preview()

"""Box tool: press, drag, release gives a box (clipped to nothing: image coords as drawn).

Also the base of the prompt tool, which sends the box to the model instead.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from app.gui.canvas.view import CanvasEvent
from pipeline.masks.geometry import Box

from .base import AddBox, BoxPreview, Tool, is_left

MIN_DRAG_PX = 4.0  # a smaller drag (on screen) is a click, not a box


class BoxTool(Tool):
    name = "box"
    title = "Box"
    shortcut = "X"

    def __init__(self, target=None, parent=None) -> None:
        super().__init__(target, parent)
        self._start: tuple[float, float] | None = None
        self._end: tuple[float, float] | None = None

    @property
    def busy(self) -> bool:
        return self._start is not None

    def _box(self) -> Box:
        assert self._start is not None and self._end is not None  # only while dragging
        (x0, y0), (x1, y1) = self._start, self._end
        return (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))

    def press(self, event: CanvasEvent) -> bool:
        if not is_left(event):
            return False
        self._start = self._end = event.point
        return True

    def move(self, event: CanvasEvent) -> bool:
        if self._start is None:
            return False
        self._end = event.point
        self.previewChanged.emit(BoxPreview(self._box()))
        return True

    def release(self, event: CanvasEvent) -> bool:
        if self._start is None or not is_left(event):
            return False
        self._end = event.point
        box = self._box()
        small = max(box[2], box[3]) * event.scale < MIN_DRAG_PX
        start = self._start
        self._start = self._end = None
        self.previewChanged.emit(None)
        self.finished(box, start, small)
        return True

    def finished(self, box: Box, start: tuple[float, float], click: bool) -> None:
        if not click:
            self.editRequested.emit(AddBox(box))

    def key(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and self.busy:
            self.cancel()
            return True
        return False

    def wants_key(self, event: QKeyEvent) -> bool:
        return event.key() == Qt.Key.Key_Escape and self.busy

    def cancel(self) -> None:
        self._start = self._end = None
        super().cancel()

"""Point tool: a left click asks for a point (a spot, an instance mark)."""

from __future__ import annotations

from app.gui.canvas.view import CanvasEvent

from .base import AddPoint, Tool, is_left


class PointTool(Tool):
    name = "point"
    title = "Point"
    shortcut = "."

    def press(self, event: CanvasEvent) -> bool:
        if not is_left(event):
            return False
        self.editRequested.emit(AddPoint(event.point))
        return True

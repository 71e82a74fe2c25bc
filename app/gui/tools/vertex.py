"""Vertex tool: drag a vertex; double-click an edge to insert one; Delete removes one.

Works on a polygon mask (the editor traces a painted mask into polygons first). While
a vertex is dragged, the mask it would give is previewed; the edit is requested once,
at release, so that one drag is one undo step.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from app.gui.canvas.view import CanvasEvent
from pipeline.masks.edits import VertexRef, move_vertex, nearest_edge, nearest_vertex

from .base import DeleteVertex, InsertVertex, MaskPreview, MoveVertex, Tool, is_left

GRAB_PX = 8.0  # a press this near a vertex (on screen) grabs it
EDGE_PX = 6.0  # a double-click this near an edge inserts a vertex


class VertexTool(Tool):
    name = "vertex"
    title = "Vertices"
    shortcut = "V"
    cursor = Qt.CursorShape.PointingHandCursor

    def __init__(self, target=None, parent=None) -> None:
        super().__init__(target, parent)
        self.selected: VertexRef | None = None
        self._dragging: VertexRef | None = None
        self._moved = False
        self._to: tuple[float, float] | None = None

    @property
    def busy(self) -> bool:
        return self._dragging is not None

    def _polygon(self):
        mask = self._mask()
        return mask if mask is not None and mask.kind == "polygon" else None

    def press(self, event: CanvasEvent) -> bool:
        mask = self._polygon()
        if mask is None or not is_left(event):
            return False
        ref, dist = nearest_vertex(mask, event.point)
        if dist > event.tolerance(GRAB_PX):
            self.selected = None
            self.previewChanged.emit(MaskPreview(mask, None))
            return True
        self.selected = self._dragging = ref
        self._moved = False
        self.previewChanged.emit(MaskPreview(mask, ref))
        return True

    def move(self, event: CanvasEvent) -> bool:
        if self._dragging is None:
            return False
        mask = self._polygon()
        if mask is None:
            return False
        self._moved = True
        self._to = event.point
        self.previewChanged.emit(
            MaskPreview(move_vertex(mask, self._dragging, event.point), self._dragging)
        )
        return True

    def release(self, event: CanvasEvent) -> bool:
        if self._dragging is None or not is_left(event):
            return False
        ref, self._dragging = self._dragging, None
        if self._moved:
            self.editRequested.emit(MoveVertex(ref, event.point))
        self._moved = False
        return True

    def double_click(self, event: CanvasEvent) -> bool:
        mask = self._polygon()
        if mask is None or not is_left(event):
            return False
        ref, foot, dist = nearest_edge(mask, event.point)
        if dist > event.tolerance(EDGE_PX):
            return False
        # The double-click's first press selected a vertex only if it was on one.
        self._dragging = None
        self.selected = ref
        self.editRequested.emit(InsertVertex(ref, foot))
        return True

    def key(self, event: QKeyEvent) -> bool:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected:
            ref, self.selected = self.selected, None
            self.editRequested.emit(DeleteVertex(ref))
            return True
        if event.key() == Qt.Key.Key_Escape and self._dragging is not None:
            self.cancel()
            return True
        return False

    def wants_key(self, event: QKeyEvent) -> bool:
        return (
            event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected is not None
        ) or (event.key() == Qt.Key.Key_Escape and self._dragging is not None)

    def cancel(self) -> None:
        self._dragging = None
        self._moved = False
        self.previewChanged.emit(MaskPreview(self._mask(), self.selected))

"""What every tool shares: edit requests out, a preview to show, mouse events in.

A tool turns :class:`app.gui.canvas.view.CanvasEvent` s into *edit requests* (the
dataclasses below), emitted on ``editRequested``; whoever owns the drawing (the
:class:`app.gui.editor.MaskEditor`, or a stage view) turns a request into an undoable
edit. A tool draws nothing: what it is in the middle of (a polygon's clicked vertices,
a rubber box, a brush stroke) it describes on ``previewChanged`` and the editor draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent

from app.gui.canvas.view import CanvasEvent
from pipeline.masks.edits import VertexRef
from pipeline.masks.geometry import Box, Mask

Point = tuple[float, float]

# ---------------------------------------------------------------- edit requests


@dataclass(frozen=True)
class AddPoint:
    point: Point


@dataclass(frozen=True)
class AddBox:
    box: Box  # x, y, w, h


@dataclass(frozen=True)
class AddPolygon:
    points: tuple[Point, ...]
    hole: bool = False  # cut out of the current mask instead of added to it


@dataclass(frozen=True)
class PaintStroke:
    points: tuple[Point, ...]
    radius: float
    erase: bool = False


@dataclass(frozen=True)
class MoveVertex:
    ref: VertexRef
    to: Point


@dataclass(frozen=True)
class InsertVertex:
    ref: VertexRef
    at: Point


@dataclass(frozen=True)
class DeleteVertex:
    ref: VertexRef


@dataclass(frozen=True)
class Propose:
    """Ask the model for a mask from a box or a point."""

    box: Box | None = None
    point: Point | None = None


@dataclass(frozen=True)
class Refine:
    """A click that refines the last proposal: ``positive`` adds the object under it,
    otherwise it takes that area out."""

    point: Point
    positive: bool


@dataclass(frozen=True)
class CancelProposal:
    pass


# ---------------------------------------------------------------- previews


@dataclass(frozen=True)
class PolylinePreview:
    points: tuple[Point, ...]
    cursor: Point | None  # the rubber band's free end
    hole: bool
    closable: bool  # the cursor is on the first vertex: a click closes


@dataclass(frozen=True)
class BoxPreview:
    box: Box


@dataclass(frozen=True)
class StrokePreview:
    points: tuple[Point, ...]
    radius: float
    erase: bool


@dataclass(frozen=True)
class BrushCursor:
    point: Point
    radius: float
    erase: bool


@dataclass(frozen=True)
class MaskPreview:
    """The mask as it would be after the gesture (a vertex being dragged)."""

    mask: Mask | None
    active: VertexRef | None = None


# ---------------------------------------------------------------- the tool


class EditTarget(Protocol):
    """What a tool may ask of whoever owns the drawing."""

    def current_mask(self) -> Mask | None: ...


class Tool(QObject):
    """A canvas tool (see the module doc). Methods return True when they used the event."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    shortcut: ClassVar[str] = ""
    cursor: ClassVar[Qt.CursorShape] = Qt.CursorShape.CrossCursor

    editRequested = Signal(object)
    previewChanged = Signal(object)  # one of the *Preview classes, or None

    def __init__(self, target: EditTarget | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.target = target

    def press(self, event: CanvasEvent) -> bool:
        return False

    def move(self, event: CanvasEvent) -> bool:
        return False

    def release(self, event: CanvasEvent) -> bool:
        return False

    def double_click(self, event: CanvasEvent) -> bool:
        return False

    def key(self, event: QKeyEvent) -> bool:
        return False

    def wants_key(self, event: QKeyEvent) -> bool:
        """True for keys this tool needs now, even if a shortcut uses them."""
        return False

    def leave(self) -> None:
        """The mouse left the canvas, or another tool was chosen."""

    def cancel(self) -> None:
        """Drop any gesture in progress."""
        self.previewChanged.emit(None)

    @property
    def busy(self) -> bool:
        """True while a gesture is in progress (a polygon being clicked ...)."""
        return False

    def _mask(self) -> Mask | None:
        return self.target.current_mask() if self.target is not None else None


def is_left(event: CanvasEvent) -> bool:
    return event.button == Qt.MouseButton.LeftButton


__all__ = [
    "AddBox",
    "AddPoint",
    "AddPolygon",
    "BoxPreview",
    "BrushCursor",
    "CancelProposal",
    "DeleteVertex",
    "EditTarget",
    "InsertVertex",
    "MaskPreview",
    "MoveVertex",
    "PaintStroke",
    "PolylinePreview",
    "Propose",
    "Refine",
    "StrokePreview",
    "Tool",
]

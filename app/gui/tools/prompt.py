"""Prompt tool: drag a box, or click a point, and the model proposes a mask.

Once there is a proposal (or the view gave the editor its prompt, as stage 3 does with
the instance's box), clicks refine it: a left click adds a positive point (the object
is there), a right click or Alt+click a negative one (it is not); the mask updates in
place and Ctrl+Z takes a click back. A drag always starts a new proposal from its box.
Esc cancels a proposal on its way (the editor shows a spinner meanwhile).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from app.gui.canvas.view import CanvasEvent
from pipeline.masks.geometry import Box

from .base import CancelProposal, Propose, Refine
from .box import BoxTool


class PromptTool(BoxTool):
    name = "prompt"
    title = "Propose"
    shortcut = "M"

    def __init__(self, target=None, parent=None) -> None:
        super().__init__(target, parent)
        self.waiting = False  # the editor sets it while a proposal is on its way
        self.refining = False  # the editor sets it while it has a prompt to refine

    def press(self, event: CanvasEvent) -> bool:
        negative = event.button == Qt.MouseButton.RightButton or (
            event.button == Qt.MouseButton.LeftButton
            and event.modifiers & Qt.KeyboardModifier.AltModifier
        )
        if negative and self.refining:
            self.editRequested.emit(Refine(event.point, False))
            return True
        return super().press(event)

    def finished(self, box: Box, start: tuple[float, float], click: bool) -> None:
        if click and self.refining:
            self.editRequested.emit(Refine(start, True))
        else:
            self.editRequested.emit(Propose(point=start) if click else Propose(box=box))

    def key(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and self.waiting:
            self.editRequested.emit(CancelProposal())
            return True
        return super().key(event)

    def wants_key(self, event: QKeyEvent) -> bool:
        return (event.key() == Qt.Key.Key_Escape and self.waiting) or super().wants_key(event)

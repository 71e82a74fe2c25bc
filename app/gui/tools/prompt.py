"""Prompt tool: drag a box, or click a point, and the model proposes a mask.

Esc cancels a proposal on its way (the editor shows a spinner meanwhile).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from pipeline.geometry import Box

from .base import CancelProposal, Propose
from .box import BoxTool


class PromptTool(BoxTool):
    name = "prompt"
    title = "Propose"
    shortcut = "M"

    def __init__(self, target=None, parent=None) -> None:
        super().__init__(target, parent)
        self.waiting = False  # the editor sets it while a proposal is on its way

    def finished(self, box: Box, start: tuple[float, float], click: bool) -> None:
        self.editRequested.emit(Propose(point=start) if click else Propose(box=box))

    def key(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and self.waiting:
            self.editRequested.emit(CancelProposal())
            return True
        return super().key(event)

    def wants_key(self, event: QKeyEvent) -> bool:
        return (event.key() == Qt.Key.Key_Escape and self.waiting) or super().wants_key(event)

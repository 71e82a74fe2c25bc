"""What the stage stack shows for a stage whose view is not available (not built, or it
failed to start): the stage's name and why; its items stay queued."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .stage_switcher import TITLES


class StagePlaceholder(QWidget):
    """Stands in for a stage whose view is not available."""

    def __init__(self, stage: int, reason: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage = stage
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        title = QLabel(f"Stage {stage}: {TITLES[stage]}")
        title.setProperty("role", "title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        self.text = QLabel(
            reason
            or "The work view of this stage is not available in this build yet. "
            "Its items stay in the queue; the counts on the left are live."
        )
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setProperty("role", "muted")
        layout.addWidget(self.text)
        layout.addStretch(1)

    def actions(self) -> list[QAction]:
        return []

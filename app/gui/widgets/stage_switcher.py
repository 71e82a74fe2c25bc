"""The stage switcher: one button per pipeline stage with its live count of open items."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QBoxLayout,
    QButtonGroup,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from pipeline.constants import STAGE_TITLES as TITLES

QWIDGETSIZE_MAX = (1 << 24) - 1
# the row's titles (the column has room for TITLES)
SHORT_TITLES = {
    1: "Spotting",
    2: "Marking",
    3: "Segmentation",
    4: "Verification",
    5: "Exhaustive",
    6: "Negatives",
}
WIDTH = 190  # the column's width: the longest title and "12 open · 3 in work" fit

if TYPE_CHECKING:
    from pipeline.stages import StageProgress


def count_text(progress: StageProgress | None) -> str:
    if progress is None:
        return "\u2026"
    text = f"{progress.open} open"
    if progress.leased:
        text += f" \u00b7 {progress.leased} in work"
    return text


class StageSwitcher(QWidget):
    """Buttons 1-6 (Ctrl+1..6 are the main window's actions); ``stageChosen`` on a click."""

    stageChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stageSwitcher")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(4)
        self._layout = layout
        heading = QLabel("Stages")
        heading.setProperty("role", "muted")
        layout.addWidget(heading)
        self._heading = heading
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[int, QPushButton] = {}
        self.progress: dict[int, StageProgress] = {}
        for stage in sorted(TITLES):
            button = QPushButton(self)
            button.setProperty("stage", True)
            button.setCheckable(True)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setToolTip(f"Stage {stage}: {TITLES[stage]} (Ctrl+{stage})")
            self.group.addButton(button, stage)
            self.buttons[stage] = button
            layout.addWidget(button)
        layout.addStretch(1)
        self.group.idClicked.connect(self.stageChosen)
        self.horizontal = False
        self.set_progress({})
        self.setMinimumWidth(WIDTH)
        self.setMaximumWidth(WIDTH)

    def set_horizontal(self, horizontal: bool) -> None:
        """A row of buttons above the stage (a narrow window: the image gets the width)
        or a column beside it."""
        if horizontal == self.horizontal:
            return
        self.horizontal = horizontal
        self._layout.setDirection(
            QBoxLayout.Direction.LeftToRight if horizontal else QBoxLayout.Direction.TopToBottom
        )
        self._heading.setVisible(not horizontal)
        self._layout.setContentsMargins(*((6, 4, 6, 4) if horizontal else (8, 8, 8, 8)))
        self.setMinimumWidth(0 if horizontal else WIDTH)
        self.setMaximumWidth(QWIDGETSIZE_MAX if horizontal else WIDTH)
        for button in self.buttons.values():
            # a row may be squeezed in a narrow window (the text is cut, the window is
            # not forced wider); the full titles are in the tooltips
            button.setMinimumWidth(40 if horizontal else 0)
        self.set_progress(self.progress)
        policy = QSizePolicy.Policy
        self.setSizePolicy(
            QSizePolicy(policy.Expanding, policy.Fixed)
            if horizontal
            else QSizePolicy(policy.Fixed, policy.Preferred)
        )

    def set_progress(self, progress: dict[int, StageProgress]) -> None:
        self.progress = dict(progress)
        titles = SHORT_TITLES if self.horizontal else TITLES
        for stage, button in self.buttons.items():
            button.setText(f"{stage}  {titles[stage]}\n     {count_text(progress.get(stage))}")

    def open_counts(self) -> dict[int, int]:
        """The open counts the buttons show now (tests compare them with the pipeline)."""
        counts = {}
        for stage, button in self.buttons.items():
            line = button.text().splitlines()[1].strip()
            counts[stage] = int(line.split()[0]) if line[0].isdigit() else -1
        return counts

    def set_current(self, stage: int) -> None:
        self.buttons[stage].setChecked(True)

    def current(self) -> int | None:
        checked = self.group.checkedId()
        return checked if checked > 0 else None

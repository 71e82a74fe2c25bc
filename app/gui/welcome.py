"""The welcome page: New Project, Open Project, the demo, and the recent projects."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .style import COLORS
from .widgets.dialogs import DB_NAME, project_display, recent_projects


def project_exists(target: str) -> bool:
    """A URL is assumed reachable; a folder must still hold its database."""
    if "://" in target:
        return True
    return (Path(target) / DB_NAME).is_file()


class WelcomePage(QWidget):
    """Shown while no project is open."""

    newProject = Signal()
    openProject = Signal()
    openDemo = Signal()
    openRecent = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        column = QVBoxLayout()
        outer.addLayout(column, 3)
        outer.addStretch(1)
        column.addStretch(1)
        title = QLabel("longtail")
        title.setProperty("role", "title")
        column.addWidget(title)
        subtitle = QLabel(
            "Large-vocabulary instance segmentation, labelled the way LVIS was: "
            "spot, mark, segment, verify, check exhaustiveness, confirm negatives."
        )
        subtitle.setProperty("role", "subtitle")
        subtitle.setWordWrap(True)
        column.addWidget(subtitle)
        column.addSpacing(16)

        buttons = QHBoxLayout()
        self.new_button = QPushButton("New project\u2026")
        self.new_button.setProperty("primary", True)
        self.open_button = QPushButton("Open project\u2026")
        self.demo_button = QPushButton("Open the demo project")
        for button in (self.new_button, self.open_button, self.demo_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        column.addLayout(buttons)
        column.addSpacing(20)

        recent_title = QLabel("Recent projects")
        recent_title.setStyleSheet("font-weight: bold;")
        column.addWidget(recent_title)
        self.recent = QListWidget()
        self.recent.setObjectName("recentProjects")
        self.recent.setMinimumHeight(180)
        column.addWidget(self.recent, 2)
        self.empty_hint = QLabel("No project opened yet. Create one, or try the demo.")
        self.empty_hint.setProperty("role", "muted")
        column.addWidget(self.empty_hint)
        column.addStretch(1)

        self.new_button.clicked.connect(self.newProject)
        self.open_button.clicked.connect(self.openProject)
        self.demo_button.clicked.connect(self.openDemo)
        self.recent.itemActivated.connect(self._activated)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the recent projects from QSettings."""
        self.recent.clear()
        for target in recent_projects():
            exists = project_exists(target)
            text = project_display(target) + ("" if exists else "   (missing)")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, target)
            item.setToolTip(project_display(target))
            if not exists:
                item.setForeground(QBrush(QColor(COLORS["muted"])))
            self.recent.addItem(item)
        self.empty_hint.setVisible(self.recent.count() == 0)
        if self.recent.count():
            self.recent.setCurrentRow(0)

    def targets(self) -> list[str]:
        return [
            self.recent.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.recent.count())
        ]

    def _activated(self, item: QListWidgetItem) -> None:
        self.openRecent.emit(item.data(Qt.ItemDataRole.UserRole))

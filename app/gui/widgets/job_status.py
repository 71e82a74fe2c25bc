"""The status bar's job part: the running job's title, its progress bar and Cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class JobStatus(QWidget):
    """Status bar part: the running job's title, its progress and Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setFixedWidth(180)
        self.bar.setTextVisible(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("jobCancel")
        for widget in (self.label, self.bar, self.cancel):
            layout.addWidget(widget)
        self.hide()

    def start(self, title: str) -> None:
        self.label.setText(title)
        self.bar.setRange(0, 0)  # busy until the first (done, total)
        self.cancel.setEnabled(True)
        self.show()

    def update_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, max(total, 1)))

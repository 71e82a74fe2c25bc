"""A short message that floats over the bottom of a widget and fades by itself.

Says what an answer did ("3 segmentation items opened") without taking the focus or
waiting for a click: the annotator's next key still goes to their work.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, QTimer
from PySide6.QtWidgets import QLabel, QWidget

DEFAULT_MS = 2600


class Toast(QLabel):
    """A transient label over the bottom centre of its parent, or of ``anchor`` (a child
    of the parent: a stage view's image, so that the toast never covers its buttons).
    ``show_message`` replaces any message still showing (the newest answer is the one
    that matters)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.anchor: QWidget | None = None
        self.setObjectName("toast")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet(
            "QLabel#toast { background: rgba(30, 30, 34, 225); color: #ffffff;"
            " border-radius: 8px; padding: 8px 16px; font-size: 13px; }"
        )
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        parent.installEventFilter(self)
        self.hide()

    def show_message(self, text: str, msec: int = DEFAULT_MS) -> None:
        if not text:
            return
        self.setText(text)
        self._place()
        self.show()
        self.raise_()
        self._timer.start(msec)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is None:  # a toast is always made on a window; nothing to place on
            return
        area = parent.rect()
        anchor = self.anchor
        if anchor is not None and anchor.isVisible() and parent.isAncestorOf(anchor):
            area = QRect(anchor.mapTo(parent, QPoint(0, 0)), anchor.size())
        width = min(520, max(200, area.width() - 40))
        self.setFixedWidth(width)
        self.adjustSize()
        x = area.x() + (area.width() - self.width()) // 2
        y = area.y() + area.height() - self.height() - 24
        self.move(max(0, x), max(0, y))

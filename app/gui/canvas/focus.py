"""Which canvas click only brings the app to the front (decision 0032).

The canvas's keys are the window's (P, H, B, E, V, X, M, F, 1, +, -: no click on the
canvas is needed for them), so a click inside the working app always acts: it adds a
vertex, places a spot, even when the focus was elsewhere. Only the click that brings the
app back from another one and gives the canvas the focus just takes the focus: the
person meant "back to the image", not "a point here". Some window managers hand that
click over before the app hears it is active, some after: a click up to
``ACTIVATION_S`` after the app became active (and the canvas got the focus) counts too.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

ACTIVATION_S = 0.15
_FOCUSED_AT = "longtail_focused_at"

_activated_at = float("-inf")
_listening = False


def _on_state(state: Qt.ApplicationState) -> None:
    global _activated_at
    if state == Qt.ApplicationState.ApplicationActive:
        _activated_at = time.monotonic()


class _FocusWatch(QObject):
    """Notes when a canvas got the focus (Qt gives it before the press arrives)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.FocusIn:
            watched.setProperty(_FOCUSED_AT, time.monotonic())
        return False


_watch: _FocusWatch | None = None


def watch(canvas: QWidget) -> None:
    """Follow ``canvas``'s focus and the app's activation (canvases call it once)."""
    global _listening, _watch
    app = QGuiApplication.instance()
    if not _listening and app is not None:
        app.applicationStateChanged.connect(_on_state)
        _listening = True
    if _watch is None:
        _watch = _FocusWatch()
    canvas.installEventFilter(_watch)


def focus_click(canvas: QWidget) -> bool:
    """Whether a press on ``canvas`` now only takes the focus (see the module doc)."""
    now = time.monotonic()
    focused_at = canvas.property(_FOCUSED_AT)
    canvas.setProperty(_FOCUSED_AT, None)  # one press per focus-in
    just_focused = focused_at is not None and now - float(focused_at) < ACTIVATION_S
    if not just_focused:
        return False
    inactive = QGuiApplication.applicationState() != Qt.ApplicationState.ApplicationActive
    return inactive or now - _activated_at < ACTIVATION_S

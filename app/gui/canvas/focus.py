"""Which canvas click only brings the app back to the front (decision 0032).

The canvas's keys are the window's (P, H, B, E, V, X, M, F, 1, +, -: no click on the
canvas is needed for them), so a click inside the working app always acts: it adds a
vertex, places a spot, even when the focus was elsewhere. Only the click that brings
the app back after the person worked in another application just takes the focus: they
meant "back to the image", not "a point here". It is recognised as the first press on a
canvas within ``RETURN_S`` of the app becoming active again after at least
``ABSENCE_S`` away, on a canvas that was already shown before the app was left (a
window that has just opened is not coming back). A window manager that hands the click
over before it activates the app makes that click act like any other.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

RETURN_S = 0.15  # the click that activated the app arrives within this
ABSENCE_S = 0.3  # away at least this long: another application was in front
_SHOWN_AT = "longtail_shown_at"

_active = True
_left_at: float | None = None  # when the app last stopped being active
_returned: tuple[float, float] | None = None  # (left at, back at) of the last return
_listening = False


def _on_state(state: Qt.ApplicationState) -> None:
    global _active, _left_at, _returned
    now = time.monotonic()
    if state == Qt.ApplicationState.ApplicationActive:
        if not _active and _left_at is not None and now - _left_at >= ABSENCE_S:
            _returned = (_left_at, now)
        _active = True
    else:
        if _active:
            _left_at = now
        _active = False


class _ShowWatch(QObject):
    """Notes when a canvas was shown (a stage page shown, a window opened)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Show:
            watched.setProperty(_SHOWN_AT, time.monotonic())
        return False


_watch: _ShowWatch | None = None


def watch(canvas: QWidget) -> None:
    """Follow ``canvas``'s showing and the app's activation (canvases call it once)."""
    global _listening, _watch, _active
    app = QGuiApplication.instance()
    if not _listening and isinstance(app, QGuiApplication):
        app.applicationStateChanged.connect(_on_state)
        _active = QGuiApplication.applicationState() == Qt.ApplicationState.ApplicationActive
        _listening = True
    if _watch is None:
        _watch = _ShowWatch()
    canvas.installEventFilter(_watch)


def focus_click(canvas: QWidget) -> bool:
    """Whether a press on ``canvas`` now only takes the focus (see the module doc).
    One press per return: the next one acts."""
    global _returned
    if _returned is None:
        return False
    left_at, back_at = _returned
    if time.monotonic() - back_at >= RETURN_S:
        _returned = None
        return False
    shown_at = canvas.property(_SHOWN_AT)
    if shown_at is None or float(shown_at) >= left_at:
        return False  # opened while the app was away, or just now: not a return to it
    _returned = None
    return True

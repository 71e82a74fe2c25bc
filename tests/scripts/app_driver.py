"""What the scripts that drive the whole app share (gui_lifecycle_driver.py,
solo_session_driver.py): progress lines, the app's main window, and the moment it first
opens its project. Each script runs the app as ``longtail gui`` does (``run_gui``) and
starts its own work from :func:`after_first_open`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


def step(name: str) -> None:
    """A ``STEP <name> <seconds>`` line on stderr: how far the script got."""
    print("STEP", name, f"{time.perf_counter():.2f}", file=sys.stderr, flush=True)


def main_window() -> Any:
    """The running app's MainWindow, or None before it exists."""
    from PySide6.QtWidgets import QApplication

    from app.gui.main_window import MainWindow

    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    return found[0] if found else None


def after_first_open(start: Callable[[], None]) -> None:
    """Call ``start()`` from the event loop once, when the main window has opened its
    first project; call before ``run_gui`` (the window does not exist yet)."""
    from PySide6.QtCore import QTimer

    started: list[bool] = []

    def hook() -> None:
        win = main_window()
        if win is None:
            QTimer.singleShot(10, hook)
            return

        def first_open() -> None:
            if not started:
                started.append(True)
                QTimer.singleShot(0, start)

        win.opened.connect(first_open)

    QTimer.singleShot(0, hook)

"""The main window's tool windows: the edit history, and the panels other parts of the
app own (statistics, explorer, training), imported only when first opened so that a
build without one still opens ("not available" in the status bar)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QUndoView, QWidget

if TYPE_CHECKING:
    from .main_window import MainWindow


def show_history(window: MainWindow) -> None:
    """Edit -> History: the current view's undo stack as a list (a QUndoView)."""
    view = window.panels.get("history")
    if view is None:
        view = QUndoView(window.undo_group)
        view.setWindowTitle("Edit history")
        view.setEmptyLabel("(image as loaded)")
        view.setWindowFlag(Qt.WindowType.Tool)
        view.setParent(window, Qt.WindowType.Tool)
        view.resize(280, 360)
        window.panels["history"] = view
    view.show()
    view.raise_()


def open_panel(window: MainWindow, key: str, module: str, cls: str, *args: Any) -> QWidget | None:
    """Lazily import and show a panel owned by another part of the app (one per key)."""
    panel = window.panels.get(key)
    if panel is None:
        try:
            factory = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError):
            window.show_message(f"{key.capitalize()} is not available in this build")
            return None
        panel = factory(*args)
        panel.setParent(window, Qt.WindowType.Window)
        panel.setWindowTitle(panel.windowTitle() or key.capitalize())
        window.panels[key] = panel
    panel.show()
    panel.raise_()
    return panel


def training_running(window: MainWindow) -> bool:
    panel = window.panels.get("training")
    if panel is None:
        return False
    running = getattr(panel, "is_running", None) or getattr(panel, "running", None)
    return bool(running() if callable(running) else running)


def stop_training_to_quit(window: MainWindow) -> bool:
    """Before quitting: a running training is stopped if the user agrees. False: keep
    the window open (the user said no)."""
    if not training_running(window):
        return True
    answer = QMessageBox.question(
        window,
        "Training is running",
        "A training run is in progress. Stop it and quit?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    if answer != QMessageBox.StandardButton.Yes:
        return False
    panel = window.panels["training"]
    for name in ("stop", "cancel"):
        stop = getattr(panel, name, None)
        if callable(stop):
            stop()
            break
    return True

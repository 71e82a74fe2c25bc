"""The main window's tool windows: the edit history, and the panels other parts of the
app own (statistics, explorer, training), imported only when first opened.

A panel shows one project, named in its title ("Statistics \u2014 demo"). Closing or
switching the project closes the project's panels (their workers are abandoned, never
waited for: ``workers/lifetime.py``); opening one again builds it for the new project.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRect, Qt
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


PROJECT_PANELS = ("statistics", "explorer", "training")
# Sizes a panel opens at (the window's own size is remembered across runs).
PANEL_SIZES = {"statistics": (1320, 800), "explorer": (1200, 760), "training": (980, 680)}
# Panels that take most of the screen however large (the explorer's thumbnail grid and
# details pane use it all; at 1200x760 on a 1920x1080 screen most of it was left empty).
SCREEN_FILLING = {"explorer"}
SCREEN_SHARE = 0.9


def open_panel(window: MainWindow, key: str, module: str, cls: str, *args: Any) -> QWidget:
    """Import and show a panel of the open project (one per key), titled with it."""
    panel = window.panels.get(key)
    if panel is None:
        factory = getattr(importlib.import_module(module), cls)
        panel = factory(*args)
        panel.setParent(window, Qt.WindowType.Window)
        title = panel.windowTitle() or key.capitalize()
        panel.setWindowTitle(f"{title} \u2014 {window.project_name()}")
        if key in PANEL_SIZES:
            screen = window.screen()
            area = screen.availableGeometry() if screen is not None else None
            panel.resize(*panel_size(key, area))
        message = getattr(panel, "statusMessage", None)
        if message is not None:
            message.connect(window.show_message)
        # Ctrl+Q quits from the panel's window too (an application-wide key would be
        # ambiguous with two main windows in one process)
        panel.addAction(window.quit_action)
        window.panels[key] = panel
    panel.show()
    panel.raise_()
    panel.activateWindow()
    return panel


def panel_size(key: str, area: QRect | None) -> tuple[int, int]:
    """The size panel ``key`` opens at on a screen whose free area is ``area`` (None:
    unknown): its PANEL_SIZES entry within 90% of the screen, or, for a screen-filling
    panel, 90% of the screen whatever its size."""
    width, height = PANEL_SIZES[key]
    if area is None:
        return width, height
    room_w, room_h = int(area.width() * SCREEN_SHARE), int(area.height() * SCREEN_SHARE)
    if key in SCREEN_FILLING:
        return room_w, room_h
    return min(width, room_w), min(height, room_h)


def close_project_panels(window: MainWindow) -> None:
    """The project is closing: close its panels and abandon their workers (a running
    training was stopped before, see :func:`stop_training_to_quit`)."""
    for key in PROJECT_PANELS:
        panel = window.panels.pop(key, None)
        if panel is None:
            continue
        trainer = getattr(panel, "trainer", None)
        if trainer is not None and trainer.is_running():
            trainer.stop_and_wait()  # the user agreed to stop it; it writes a checkpoint
        for pool in (
            getattr(panel, "pool", None),
            getattr(getattr(panel, "model", None), "pool", None),
        ):
            close = getattr(pool, "close", None)
            if callable(close):
                close()  # a DaemonWorker: returns at once
            elif pool is not None and hasattr(pool, "clear"):
                pool.clear()
        shut_down = getattr(panel, "shut_down", None)
        if callable(shut_down):
            shut_down()
        panel.close()
        panel.deleteLater()


def training_running(window: MainWindow) -> bool:
    panel = window.panels.get("training")
    if panel is None:
        return False
    running = getattr(panel, "is_running", None) or getattr(panel, "running", None)
    return bool(running() if callable(running) else running)


def stop_training_to_quit(window: MainWindow, doing: str = "quit") -> bool:
    """Before quitting (or closing the project: ``doing``): a running training is stopped
    if the user agrees. False: keep things as they are (the user said no)."""
    if not training_running(window):
        return True
    answer = QMessageBox.question(
        window,
        "Training is running",
        f"A training run is in progress. Stop it and {doing}?",
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

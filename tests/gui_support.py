"""Helpers for the shell's GUI tests: a private QSettings, a demo project, the window."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest


def clean_exit(done: subprocess.CompletedProcess, what: str = "") -> None:
    """An app process ended as it should: exit 0, and on stderr no "Traceback", no
    "QThread" (the abort of a thread destroyed while running) and no driver "TIMEOUT"."""
    told = f"{what}exit {done.returncode}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, told
    for word in ("Traceback", "QThread", "TIMEOUT"):
        assert word not in done.stderr, told


def open_and_wait(qtbot, window, target: Path | str, timeout: int = 30000) -> None:
    """Open a project in the main window and wait until its first stage is shown (it is
    seeded on a worker first when it never was)."""
    with qtbot.waitSignal(window.opened, timeout=timeout):
        assert window.open_project(str(target))


@pytest.fixture
def settings_sandbox(tmp_path: Path, qapp):
    """QSettings in tmp_path under an organization of its own: the user's settings (and
    other tests') are never read or written."""
    from PySide6.QtCore import QSettings

    folder = tmp_path / "settings"
    folder.mkdir()
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    old = qapp.organizationName(), qapp.applicationName()
    qapp.setOrganizationName(f"longtail-test-{uuid.uuid4().hex[:8]}")
    qapp.setApplicationName("longtail")
    yield folder
    qapp.setOrganizationName(old[0])
    qapp.setApplicationName(old[1])


@pytest.fixture
def app_style(qapp):
    """The style the app runs with (Fusion, its palette, fonts and style sheet: wider
    padding than Qt's default), put back afterwards for the other tests."""
    from app.gui.style import apply_style

    before = qapp.style().name(), qapp.palette(), qapp.font(), qapp.styleSheet()
    apply_style(qapp)
    yield
    qapp.setStyleSheet(before[3])
    qapp.setStyle(before[0])
    qapp.setPalette(before[1])
    qapp.setFont(before[2])


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """The demo project (five images, COCO-80), built in tmp_path; never seeded."""
    from app.demo import build_demo

    folder = tmp_path / "demo"
    with build_demo(folder):
        pass
    return folder


@pytest.fixture
def window(qtbot, settings_sandbox):
    """The main window for annotator 'tester', shown."""
    from app.gui.main_window import MainWindow

    win = MainWindow(annotator="tester")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    if win.job is not None:
        win.job.cancel()
        win.job.wait()
    win.close_project()


def wheel(view, at, notches: int) -> None:
    """Turn the mouse wheel ``notches`` steps (120 each; positive zooms in) over the
    viewport point ``at`` of a canvas view, as a real QWheelEvent."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    event = QWheelEvent(
        at,
        view.viewport().mapToGlobal(at),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)

"""Starting the desktop app: platform check, QApplication, annotator name, main window.

    run_gui("path/to/project", annotator="alice")

The start-up path imports Qt and the pipeline only; torch and the model load when a
model is first needed (the model worker), so the window shows fast.

Two environment variables help scripts and tests:
``LONGTAIL_EXIT_AFTER_SHOWN=1`` closes the app once its window is shown and the
project (if any) opened (launch benchmarks, smoke tests), after saving a screenshot
taken from the screen to ``LONGTAIL_SCREENSHOT`` when that names a file. The lines
``longtail: window shown in X.XX s`` and ``longtail: project open in X.XX s`` go to
stderr when ``LONGTAIL_REPORT_SHOWN=1`` or the exit variable is set.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .platform_check import check_platform

if TYPE_CHECKING:  # Qt is imported when the app starts, after the platform check
    from PySide6.QtWidgets import QApplication, QWidget

ORGANIZATION = "longtail"
APPLICATION = "longtail"

_T0 = time.perf_counter()


def seconds_since_launch() -> float:
    """Seconds since this process started (Linux: from /proc, so the interpreter's own
    start-up counts too); elsewhere since this module was imported."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _T0


def create_application() -> QApplication:
    """The QApplication (created once), styled, with the app's settings identity."""
    from PySide6.QtWidgets import QApplication

    from .style import apply_style

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "longtail"])
        apply_style(app)
    assert isinstance(app, QApplication)  # the app is a QApplication (made here or by tests)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("longtail")
    return app


def when_exposed(window: QWidget, then: Callable[[], None], *, tries: int = 300) -> None:
    """Call ``then`` once ``window`` is mapped on screen (its QWindow is exposed)."""
    from PySide6.QtCore import QTimer

    def check(left: int = tries) -> None:
        handle = window.windowHandle()
        if (handle is not None and handle.isExposed()) or left <= 0:
            then()
        else:
            QTimer.singleShot(10, lambda: check(left - 1))

    QTimer.singleShot(0, check)


def run_gui(project: str | None = None, *, annotator: str | None = None) -> int:
    """Open the main window (on ``project`` when given); returns the exit status."""
    check_platform()
    app = create_application()

    from PySide6.QtCore import QTimer

    from .main_window import MainWindow
    from .widgets.dialogs import ask_annotator_name, stored_annotator

    name = annotator or stored_annotator()
    if not name:
        name = ask_annotator_name(None)
        if not name:
            print("longtail: no annotator name given; nothing opened", file=sys.stderr)
            return 1
    window = MainWindow(annotator=name, remember_annotator=annotator is None)
    window.show()

    exit_after = os.environ.get("LONGTAIL_EXIT_AFTER_SHOWN") == "1"
    report = exit_after or os.environ.get("LONGTAIL_REPORT_SHOWN") == "1"

    def finish() -> None:
        shot = os.environ.get("LONGTAIL_SCREENSHOT")
        if shot:
            # From the screen, not widget.grab(): on X11 this reads the server's pixels.
            window.screen().grabWindow(window.winId()).save(shot)
        window.close()

    def fail(message: str) -> None:
        print(f"longtail: error: {message}", file=sys.stderr, flush=True)
        app.exit(1)

    def shown() -> None:
        if report:
            print(f"longtail: window shown in {seconds_since_launch():.2f} s", file=sys.stderr)
            sys.stderr.flush()
        if exit_after and project:
            # a project that fails to open shows a report instead of `opened`
            window.opened.connect(lambda: QTimer.singleShot(50, finish))
            window.openFailed.connect(lambda why: fail(f"cannot open {project}: {why}"))
        if project:
            if report:
                window.opened.connect(
                    lambda: print(
                        f"longtail: project open in {seconds_since_launch():.2f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                )
            window.open_project(project)
        elif exit_after:
            finish()

    when_exposed(window, shown)
    close_on_ctrl_c(window)
    status = int(app.exec())
    # The window closed its project (items given back, drafts written). A worker still
    # busy (a proposal that takes minutes) is not waited for: the process ends now.
    from .workers.lifetime import exit_without_waiting

    exit_without_waiting(status)
    return status


def close_on_ctrl_c(window: QWidget) -> None:
    """Ctrl-C in the terminal closes the window as File -> Quit does (held items are
    given back, drafts written) instead of leaving the process to the CLI's hard exit."""
    import signal

    from PySide6.QtCore import QTimer

    from app import interrupt

    interrupt.set_grace(5.0)  # closing releases items and ends threads: give it time

    def on_sigint(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, window.close)

    signal.signal(signal.SIGINT, on_sigint)
    # Python runs signal handlers between its own bytecodes only: tick now and then.
    ticker = QTimer(window)
    ticker.setInterval(250)
    ticker.timeout.connect(lambda: None)
    ticker.start()

"""The whole app, started as ``longtail gui`` starts it, driven through a lifecycle path.

    python gui_lifecycle_driver.py MODE PROJECT [SECOND_PROJECT]

The model worker's predictor is a stand-in (no torch): ``quick`` answers a box or point
prompt with the box after 0.2 s; ``sleepy`` takes a minute, as a GrabCut on a huge photo
does. Modes (each ends with Ctrl+Q pressed on the window, as a user quits):

- ``proposal``: Ctrl+3, wait for the proposal on the canvas, Ctrl+Q;
- ``in-flight``: Ctrl+3, Ctrl+Q while the (sleepy) proposal runs; prints ``QUIT <t>``
  (time.time()) just before the key, so that the caller can time the exit;
- ``annotator``: Ctrl+3, switch the annotator (as File -> Switch annotator does after
  its dialog), Ctrl+3 again, Ctrl+Q;
- ``second``: Ctrl+3, open SECOND_PROJECT, then View -> Statistics, Explorer and
  Model -> Train, and Ctrl+Q once they are shown (the statistics may still compute).

Lines ``STEP <name>`` mark progress; ``TIMEOUT <what>`` and exit status 3 mean a step
never came.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import SimpleNamespace

from app_driver import after_first_open, main_window, step

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class StandInPredictor:
    """Answers prompts with the prompt's box after ``delay`` seconds (no torch)."""

    trained = False

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def _answer(self, pixels, box):
        from pipeline.masks.geometry import Mask

        time.sleep(self.delay)
        import numpy as np

        height, width = pixels.shape[:2]
        x, y, w, h = (int(v) for v in box)
        bitmap = np.zeros((height, width), dtype=bool)
        bitmap[max(0, y) : y + max(1, h), max(0, x) : x + max(1, w)] = True
        return SimpleNamespace(mask=Mask.from_bitmap(bitmap), score=1.0, source="stand-in")

    def box_to_mask(self, pixels, box, category=None, **_):
        return self._answer(pixels, box)

    def point_to_mask(self, pixels, point, category=None, **_):
        return self._answer(pixels, (point[0] - 10, point[1] - 10, 20, 20))

    def prefetch(self, images) -> None:
        pass

    def close(self) -> None:
        pass


def main() -> int:
    mode, project = sys.argv[1:3]
    second = sys.argv[3] if len(sys.argv) > 3 else None
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    import app.gui.workers.model as model_worker
    from app.gui.app import create_application, run_gui
    from app.gui.main_window import MainWindow

    delay = 60.0 if mode == "in-flight" else 0.2
    model_worker.default_predictor = lambda _project: StandInPredictor(delay)
    app = create_application()
    asked = threading.Event()
    original = model_worker.ModelWorker._send

    def send(self, request):
        if request.kind in ("box", "point"):
            asked.set()
        return original(self, request)

    model_worker.ModelWorker._send = send

    def key(win: MainWindow, k, modifiers=Qt.KeyboardModifier.ControlModifier) -> None:
        target = QApplication.focusWidget() or win
        QTest.keyClick(target, k, modifiers)

    def wait(what: str, ready, then, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s

        def poll() -> None:
            if ready():
                then()
            elif time.monotonic() > deadline:
                print("TIMEOUT", what, file=sys.stderr, flush=True)
                QApplication.exit(3)
            else:
                QTimer.singleShot(20, poll)

        QTimer.singleShot(0, poll)

    def segmentation_shown(win: MainWindow) -> bool:
        view = win.views.get(3)
        return win.current_stage == 3 and view is not None and bool(getattr(view, "items", None))

    def proposal_shown(win: MainWindow) -> bool:
        view = win.views.get(3)
        editor = getattr(view, "editor", None)
        return editor is not None and editor.current_mask() is not None

    def quit_app(win: MainWindow) -> None:
        step("quit")
        if mode == "in-flight":
            print("QUIT", f"{time.time():.4f}", flush=True)
        key(win, Qt.Key.Key_Q)

    def stage_three(win: MainWindow, then) -> None:
        key(win, Qt.Key.Key_3)
        wait("stage 3", lambda: segmentation_shown(win), then)

    def opened() -> None:
        win = main_window()
        step("opened")
        # the keys go to the active window (an X server without a window manager
        # activates nothing by itself)
        win.activateWindow()
        wait("active window", win.isActiveWindow, lambda: run(win))

    def run(win: MainWindow) -> None:
        if mode == "proposal":
            stage_three(
                win, lambda: wait("proposal", lambda: proposal_shown(win), lambda: quit_app(win))
            )
        elif mode == "in-flight":
            stage_three(win, lambda: wait("request", asked.is_set, lambda: quit_app(win)))
        elif mode == "annotator":

            def switch() -> None:
                step("switch annotator")
                win.set_annotator("second-annotator")
                wait(
                    "reopened",
                    lambda: win.session is not None,
                    lambda: stage_three(win, lambda: quit_app(win)),
                )

            stage_three(win, lambda: wait("request", asked.is_set, switch))
        elif mode == "second":

            def panels() -> None:
                step("second project")
                win.statistics_action.trigger()
                win.explorer_action.trigger()
                win.train_action.trigger()
                shown = [win.panels[k] for k in ("statistics", "explorer", "training")]
                # quit while the statistics may still be computing: abandoned, not waited for
                wait("panels", lambda: all(p.isVisible() for p in shown), lambda: quit_app(win))

            def open_second() -> None:
                win.open_project(second)
                wait("second opened", lambda: win.session is not None and win.current_stage, panels)

            stage_three(win, lambda: wait("request", asked.is_set, open_second))

    after_first_open(opened)
    assert app is QApplication.instance()
    return run_gui(project, annotator="driver")


if __name__ == "__main__":
    sys.exit(main())

"""One annotator alone works a fresh project through all six stages in the whole app, on
a real window, with keys and clicks only (issue 18's "solo annotator" check).

    python solo_session_driver.py PROJECT TRUTH_JSON RESULT_JSON

The app starts as ``longtail gui PROJECT --annotator solo`` starts it (``run_gui``), with
its own model worker (no trained model: the classical fallback answers the prompts).
Once the window is open the script works it as a person would, through
:class:`gui_scripted_user.GuiAnnotator` (QTest mouse and key events on the window's
widgets, answers read from the ground truth):

- stage 1: click an object, type its category, Enter; Enter submits; ``N`` ("nothing
  new") until spotting closes (the default two answers in a row per image);
- stage 2: ``Y`` and a click on every other instance, Enter;
- stage 3: the proposal when it fits the object (Enter), else a polygon clicked
  vertex by vertex;
- stage 4: shown empty first (one may not verify one's own masks): the empty page's
  "Project settings…" button, the self-verification box and Save, all clicked; then
  ``A``/``R`` per crop and Enter;
- stages 5 and 6: ``A``/``M``/clicks and ``Y``/``N``;

round after round until every stage's count in the switcher is 0, then Ctrl+Q. What was
answered goes to RESULT_JSON for the test to compare with the store. ``STEP`` lines on
stderr mark progress; on a failure the reason is printed and the exit status is 3.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # gui_scripted_user

from app_driver import after_first_open, main_window, step  # noqa: E402 (after the path)


class Bot:
    """The little of pytest-qt's ``qtbot`` the scripted user needs, on the running app."""

    @staticmethod
    def waitUntil(ready, timeout: int = 5000) -> None:  # noqa: N802 (qtbot's name)
        from PySide6.QtWidgets import QApplication

        deadline = time.monotonic() + timeout / 1000
        while True:
            QApplication.processEvents()
            try:
                if ready() in (None, True):
                    return
            except AssertionError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} ms for {getattr(ready, '__name__', ready)}")
            time.sleep(0.01)


def main() -> int:
    project_folder, truth_path, result_path = sys.argv[1:4]
    from gui_scripted_user import ACCEPT_IOU, GuiAnnotator
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDialogButtonBox
    from shiboken6 import isValid

    from app.gui.app import create_application, run_gui
    from app.gui.main_window import MainWindow
    from pipeline.simulate.truth import load_truth
    from pipeline.vocabulary import project_categories

    app = create_application()
    bot = Bot()
    state: dict = {"status": 0}

    class SoloAnnotator(GuiAnnotator):
        """The scripted user, taking the proposal where it fits and counting them."""

        proposals_taken = 0

        def segment(self, view) -> int:
            item = view.items[0]
            target = self.image(item).match(item.category.id, item.instance.x, item.instance.y)
            self.qtbot.waitUntil(
                lambda: view.editor.current_mask() is not None or item.id not in view.proposals,
                timeout=30000,
            )
            proposal = view.editor.current_mask()
            if proposal is not None and proposal.iou(target.mask) >= ACCEPT_IOU + 0.2:
                QTest.keyClick(view.editor.view, Qt.Key.Key_Return)  # the proposal fits
                self.clicked.drawn[item.instance.id] = proposal
                self.proposals_taken += 1
                return 1
            return super().segment(view)

    def enable_self_verification(win: MainWindow, user: GuiAnnotator) -> None:
        """Stage 4 is empty for a person alone: its page says why, and its settings
        button leads to the one setting that opens it."""
        view = user.go(4)
        bot.waitUntil(view.showing_empty, timeout=10000)
        why = view._empty_label.text()
        assert "may not verify your own masks" in why, f"stage 4's empty page says {why!r}"
        button = view._settings_button
        assert button.isVisible(), "stage 4's empty page has no settings button"
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
        bot.waitUntil(lambda: getattr(win, "settings_dialog", None) is not None, timeout=5000)
        dialog = win.settings_dialog
        bot.waitUntil(dialog.isVisible, timeout=5000)
        box = dialog.self_verification
        assert not box.isChecked()
        QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().center())
        assert box.isChecked(), "a click on the self-verification box did not tick it"
        save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
        QTest.mouseClick(save, Qt.MouseButton.LeftButton)
        bot.waitUntil(lambda: not isValid(dialog) or not dialog.isVisible(), timeout=5000)
        assert win.session.settings().allow_self_verification
        bot.waitUntil(lambda: bool(view.items), timeout=10000)
        step("self-verification allowed in Project settings")

    def session() -> None:
        win = main_window()
        win.activateWindow()  # an X server without a window manager activates nothing
        bot.waitUntil(win.isActiveWindow, timeout=10000)
        step("opened")
        project = win.session.project
        truth = load_truth(truth_path, project)
        names = {c.id: c.name for c in project_categories(project)}
        user = SoloAnnotator(bot, win, truth, names=names)
        allowed = False
        for round_number in range(1, 40):
            answered = 0
            for stage in range(1, 7):
                if stage == 4 and not allowed:
                    counts = win.switcher.open_counts()
                    if counts.get(4, 0) > 0:
                        enable_self_verification(win, user)
                        allowed = True
                answered += user.work_stage(stage)
            step(f"round {round_number}: {answered} answers")
            if not answered:
                break
        # the switcher's counts refresh after each answer and every few seconds; if they
        # never all read 0, the test reports the counts shown
        with contextlib.suppress(TimeoutError):
            bot.waitUntil(lambda: set(win.switcher.open_counts().values()) == {0}, 20000)
        counts = win.switcher.open_counts()
        progress = {
            stage: {"remaining": p.remaining}
            for stage, p in win.session.pipeline.progress().items()
        }
        clicked = user.clicked
        Path(result_path).write_text(
            json.dumps(
                {
                    "platform": QGuiApplication.platformName(),
                    "self_verification_clicked": allowed,
                    "switcher_open": counts,
                    "progress": progress,
                    "answers": clicked.answers,
                    "rejected": clicked.rejected,
                    "proposals_taken": user.proposals_taken,
                    "drawn": {
                        str(i): {"area": m.area, "coco": m.to_coco("rle").segmentation}
                        for i, m in clicked.drawn.items()
                    },
                    "absent": sorted(clicked.absent),
                    "not_exhaustive": sorted(clicked.not_exhaustive),
                },
                default=lambda o: o.decode() if isinstance(o, bytes) else str(o),
            )
        )
        step("done; quitting with Ctrl+Q")
        QTest.keyClick(win, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)

    def run_session() -> None:
        try:
            session()
        except BaseException as exc:  # told in a few lines: the test shows them
            where = "; ".join(
                f"{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in traceback.extract_tb(exc.__traceback__)[-4:]
            )
            print(f"FAILED {type(exc).__name__}: {exc} (at {where})", file=sys.stderr, flush=True)
            state["status"] = 3
            QApplication.exit(3)

    after_first_open(run_session)
    assert app is QApplication.instance()
    status = run_gui(project_folder, annotator="solo")
    return state["status"] or status


if __name__ == "__main__":
    sys.exit(main())

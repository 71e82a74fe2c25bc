"""A person working alone finishes all six stages in the app, with keys and clicks only
(issue 18): a one-person project with the default rules, so stage 4 first says "you may
not verify your own masks"; the person opens Project -> Settings… from that page, allows
it, and works on until every queue is empty. No CLI, no call into a view's methods.

Runs offscreen; ``tests/test_gui_solo_session_xcb.py`` works the same six stages in the
whole app on a real X server (QT_QPA_PLATFORM=xcb) and checks the export against it."""

from __future__ import annotations

import pytest
from gui_scripted_user import GuiAnnotator
from gui_stage_support import coco_project, rows, use_grabcut_worker
from gui_support import open_and_wait
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from pipeline.stages import VERIFICATION
from pipeline.store import schema as s

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window


@pytest.mark.slow
def test_a_solo_annotator_works_all_six_stages_with_keys_and_clicks(
    qtbot, window, tiny_coco, tmp_path
):
    work = coco_project(
        tiny_coco,
        tmp_path,
        images=3,
        min_area=1500,  # objects big enough to outline with clicks
        seed=False,  # the window seeds it on opening
        spot_done_after=1,
        negatives_per_category=1,
        negative_candidates_per_image=2,
    )  # allow_self_verification stays off: the default a solo annotator meets
    project = work.project
    names = {r.id: r.name for r in rows(project, s.categories)}
    window.resize(1280, 800)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    open_and_wait(qtbot, window, project.folder)
    worker = use_grabcut_worker(window.session)
    user = GuiAnnotator(qtbot, window, work.truth, names=names)
    try:
        user.work_all()  # runs dry: the masks wait in stage 4 for someone else
        progress = window.session.pipeline.progress()
        assert progress[VERIFICATION].open > 0 and not user.clicked.answers[VERIFICATION]

        QTest.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
        page = window.views[VERIFICATION]
        assert page.showing_empty() and "may not verify your own masks" in (
            page._empty_label.text()
        )
        QTest.mouseClick(page._settings_button, Qt.MouseButton.LeftButton)
        dialog = window.settings_dialog
        QTest.mouseClick(dialog.self_verification, Qt.MouseButton.LeftButton)
        save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
        QTest.mouseClick(save, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(page.items), timeout=5000)

        user.work_all()
    finally:
        worker.close()

    progress = window.session.pipeline.progress()
    assert all(p.remaining == 0 for p in progress.values()), progress
    assert all(user.clicked.answers[stage] for stage in range(1, 7)), user.clicked.answers
    answers = rows(project, s.events, s.events.c.action == "answer")
    assert {e.annotator_id for e in answers} == {window.session.annotator.id}

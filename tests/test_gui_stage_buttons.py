"""Every stage view's buttons show their whole label (and key) at the window's default size.

The side panel of stages 1, 2, 3, 5 and 6 once had a fixed minimum width that the splitter
kept to, cutting "Take back last answer (Ctrl+Backspace)" short; the verification view's
rows of buttons sit below its grid. Each view is shown with a real item from tiny_coco.
"""

from __future__ import annotations

import pytest
from gui_stage_support import coco_project, use_grabcut_worker
from gui_support import open_and_wait
from PySide6.QtWidgets import QApplication, QPushButton

from pipeline.stages import EXHAUSTIVE, MARKING, NEGATIVES, SEGMENTATION, SPOTTING, VERIFICATION

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window, app_style

# room a button needs beside its text (at least a few pixels a side)
TEXT_MARGIN = 2 * 4


def clipped_buttons(view) -> list[str]:
    """The visible buttons of ``view`` whose label is wider than the button."""
    QApplication.processEvents()
    found = []
    for button in view.findChildren(QPushButton):
        if not button.isVisibleTo(view.window()):
            continue
        needed = button.fontMetrics().horizontalAdvance(button.text()) + TEXT_MARGIN
        if needed > button.width():
            found.append(f"{button.text()!r}: {button.width()} px wide, needs {needed}")
    return found


@pytest.mark.slow
def test_no_stage_view_button_cuts_its_label_at_the_default_window_size(
    qtbot, app_style, window, tiny_coco, tmp_path
):
    work = coco_project(
        tiny_coco,
        tmp_path,
        images=2,
        min_area=1500,
        spot_done_after=1,
        negatives_per_category=1,
        negative_candidates_per_image=3,
    )
    default_size = window.size()
    open_and_wait(qtbot, window, work.project.folder)
    assert window.size() == default_size  # opening a project keeps the default size
    worker = use_grabcut_worker(window.session)
    problems: dict[int, list[str]] = {}
    checked = []
    try:
        for stage in (SPOTTING, MARKING, SEGMENTATION, VERIFICATION, EXHAUSTIVE, NEGATIVES):
            window.set_stage(stage)
            view = window.views[stage]
            qtbot.waitUntil(
                lambda view=view: not view.showing_empty() and bool(view.items), timeout=20000
            )
            checked.append(stage)
            if found := clipped_buttons(view):
                problems[stage] = found
            # hand the items back, answer the stage from the truth: the next stage has items
            window.set_stage(NEGATIVES if stage != NEGATIVES else SPOTTING)
            work.work(stage)
    finally:
        worker.close()
    assert checked == [SPOTTING, MARKING, SEGMENTATION, VERIFICATION, EXHAUSTIVE, NEGATIVES]
    assert problems == {}

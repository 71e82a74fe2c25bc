"""The six stage views, each worked to a moment worth a picture, in one window on a
tiny_coco project (:func:`gui_stage_support.coco_project`).

tests/test_gui_stage_screenshots.py checks the pictures; tools/shell_screenshots.py
saves them for docs/screenshots. Both walk the stages through :func:`tour_stages`, so
the pictures the docs show are the ones the test checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gui_stage_support import click_image, coco_project

from pipeline.stages import EXHAUSTIVE, MARKING, NEGATIVES, SEGMENTATION, SPOTTING, VERIFICATION

STAGE_PICTURES = {
    SPOTTING: "stage-1-spotting",
    MARKING: "stage-2-marking",
    SEGMENTATION: "stage-3-segmentation",
    VERIFICATION: "stage-4-verification",
    EXHAUSTIVE: "stage-5-exhaustive",
    NEGATIVES: "stage-6-negatives",
}
PICKER_PICTURE = "picker"


def tour_project(tiny_coco: Path, folder: Path) -> Any:
    """The tour's project: 3 tiny_coco images with objects big enough to see, one
    negative per category, every stage's work ahead (a CocoProject)."""
    return coco_project(
        tiny_coco,
        folder,
        images=3,
        min_area=1500,
        spot_done_after=1,
        negatives_per_category=1,
        negative_candidates_per_image=3,
    )


def wait_until(ready: Callable[[], object], timeout_s: float = 30.0) -> None:
    """Process Qt's events until ``ready()`` is true; TimeoutError after ``timeout_s``."""
    from PySide6.QtTest import QTest

    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s} s for {getattr(ready, '__name__', ready)}")
        QTest.qWait(20)


def tour_stages(
    window: Any, work: Any, names: dict[int, str], shot: Callable[[Any, str], None]
) -> None:
    """Work the project of ``work`` (a CocoProject, open in ``window``) stage by stage
    and call ``shot(widget, name)`` once per picture: the window at each of the six
    stages (names from STAGE_PICTURES) and the category picker's panel (PICKER_PICTURE).

    Each stage is shown mid-task by clicks and keys; between stages, scripted
    annotators answer the stage before through the pipeline, as other people would.
    ``names``: category id -> name. The caller gives the session a model worker."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    # 1: two objects spotted, a third clicked and its category being typed
    window.set_stage(SPOTTING)
    view = window.views[SPOTTING]
    wait_until(lambda: bool(view.items))
    item = view.items[0]
    truth = work.truth.images[item.image.id]
    truth.ensure_points()
    present = sorted(truth.present)
    for category_id in present[:-1]:
        click_image(view, *truth.of(category_id)[0].point)
        QTest.keyClicks(view.picker.query, names[category_id])
        QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
    click_image(view, *truth.of(present[-1])[0].point)
    QTest.keyClicks(view.picker.query, names[present[-1]][:3])
    shot(window, STAGE_PICTURES[SPOTTING])
    view.picker.query.clear()
    QTest.keyClicks(view.picker.query, "ca")  # several hits, with their definitions
    shot(view.panel, PICKER_PICTURE)
    QTest.keyClick(view.picker.query, Qt.Key.Key_Escape)

    # 2: the category fits; its other instances marked
    view = _after(window, work, SPOTTING, MARKING)
    item = view.items[0]
    QTest.keyClick(view.canvas, Qt.Key.Key_Y)
    truth = work.truth.images[item.image.id]
    truth.ensure_points()
    for t in truth.of(item.category.id)[1:]:
        click_image(view, *t.point)
    shot(window, STAGE_PICTURES[MARKING])

    # 3: the prefetched proposal in the editor, the image's other masks faint
    work.work(MARKING)
    window.set_stage(SEGMENTATION)
    view = window.views[SEGMENTATION]
    wait_until(lambda: bool(view.items) and view.editor.current_mask() is not None)
    shot(window, STAGE_PICTURES[SEGMENTATION])

    # 4: a page, one crop accepted and the next rejected with a reason
    view = _after(window, work, SEGMENTATION, VERIFICATION)
    window.activateWindow()  # a dialog before may have had the keys
    wait_until(window.isActiveWindow)
    QTest.keyClick(view.grid, Qt.Key.Key_A)  # accepted; the next crop is selected

    def reason() -> None:
        QTest.keyClick(QApplication.activePopupWidget(), Qt.Key.Key_1)

    QTimer.singleShot(30, reason)
    QTest.keyClick(view.grid, Qt.Key.Key_R)
    shot(window, STAGE_PICTURES[VERIFICATION])

    # 5: every accepted mask of the category, one missing instance clicked
    view = _after(window, work, VERIFICATION, EXHAUSTIVE)
    item = max(view.items, key=lambda i: len(i.annotations))
    click_image(view, item.image.width * 0.85, item.image.height * 0.8)
    shot(window, STAGE_PICTURES[EXHAUSTIVE])

    # 6: a candidate category
    window.set_stage(NEGATIVES)
    view = window.views[NEGATIVES]
    wait_until(lambda: bool(view.items))
    shot(window, STAGE_PICTURES[NEGATIVES])


def _after(window: Any, work: Any, done: int, stage: int) -> Any:
    """Stage ``stage``'s view with items, once the scripted annotators have answered
    stage ``done`` (the window leaves ``done`` first: an item it holds goes back)."""
    window.set_stage(stage)
    work.work(done)
    window.set_stage(done)
    window.set_stage(stage)
    view = window.views[stage]
    wait_until(lambda: bool(view.items))
    return view

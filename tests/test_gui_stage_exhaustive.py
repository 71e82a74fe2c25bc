"""Stage 5 in the app: all segmented, missing instances clicked, or not exhaustive."""

from __future__ import annotations

import pytest
from gui_stage_support import click_image, coco_project, rows, show_view
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.gui.canvas.items import MaskItem
from app.gui.session import Session
from app.gui.stages.exhaustive import ExhaustiveView
from pipeline.stages import EXHAUSTIVE, SEGMENTATION
from pipeline.store import schema as s


@pytest.fixture
def work(tiny_coco, tmp_path):
    work = coco_project(tiny_coco, tmp_path, images=2, negatives_per_category=0)
    work.work_until(EXHAUSTIVE)
    yield work
    work.project.close()


def test_each_answer_of_stage_5_lands_in_the_store(qtbot, work):
    pending = rows(work.project, s.work_items, s.work_items.c.stage == EXHAUSTIVE)
    assert len(pending) >= 3, "the test needs three (image, category) pairs"
    session = Session(work.project, "checker")
    view = ExhaustiveView(session)
    show_view(qtbot, view)

    # 1: every accepted mask of the category is shown; A says all are segmented
    first = view.items[0]
    context = set(view.context.items.values())  # the image's other categories, faintly
    masks = [i for i in view.scene.annotations() if isinstance(i, MaskItem) and i not in context]
    assert len(masks) == sum(1 for a in first.annotations if a.segment is not None) >= 1
    assert not {a.instance.id for a in first.annotations} & set(view.context.items)
    QTest.keyClick(view.canvas, Qt.Key.Key_A)
    # 2: a click on a missing instance, one removed again, then Enter
    second = view.items[0]
    assert second.id != first.id
    w, h = second.image.width, second.image.height
    click_image(view, w * 0.1, h * 0.1)
    click_image(view, w * 0.9, h * 0.9)
    QTest.keyClick(view.canvas, Qt.Key.Key_Delete)
    assert len(view.missing) == 1
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)
    # 3: some missing, not marked
    third = view.items[0]
    QTest.keyClick(view.canvas, Qt.Key.Key_M)

    pairs = {(p.image_id, p.category_id): p for p in rows(work.project, s.image_categories)}
    key = lambda item: (item.image.id, item.work_item.category_id)  # noqa: E731
    assert pairs[key(first)].exhaustive is True
    assert pairs[key(second)].exhaustive is None  # waits for the marked instance
    assert pairs[key(third)].exhaustive is False
    checks = rows(work.project, s.exhaustive_checks)
    assert sorted(bool(c.all_segmented) for c in checks) == [False, False, True]
    # the missing instance is a new mark where it was clicked, waiting in stage 3
    (new,) = rows(
        work.project,
        s.instances,
        s.instances.c.image_id == second.image.id,
        s.instances.c.status == s.MARKED,
    )
    assert new.x == pytest.approx(w * 0.1, abs=1.5) and new.y == pytest.approx(h * 0.1, abs=1.5)
    assert [
        r.stage for r in rows(work.project, s.work_items, s.work_items.c.instance_id == new.id)
    ] == [SEGMENTATION]
    view.deactivate()
    session.close()


def test_the_status_bar_counts_missing_instances_in_good_english(qtbot, work):
    session = Session(work.project, "checker")
    view = ExhaustiveView(session)
    show_view(qtbot, view)
    said: list[str] = []
    view.statusMessage.connect(said.append)
    w, h = view.items[0].image.width, view.items[0].image.height
    click_image(view, w * 0.1, h * 0.1)
    assert said[-1] == "1 missing instance marked; Enter submits"
    click_image(view, w * 0.9, h * 0.9)
    assert said[-1] == "2 missing instances marked; Enter submits"
    view.deactivate()  # gives its item back and stops its workers, as the first test
    session.close()

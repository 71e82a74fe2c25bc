"""Stage 3 in the app: masks from the prefetched proposal and drawn with the polygon
tool, a rejection's reason shown, and a draft restored, on tiny_coco."""

from __future__ import annotations

import pytest
from gui_stage_support import coco_project, rows, show_view, use_grabcut_worker
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from app.gui.session import Session
from app.gui.stages.segmentation import SegmentationView
from pipeline.stages import SEGMENTATION, VERIFICATION, VerifyAnswer
from pipeline.store import schema as s

PROPOSAL_WAIT_MS = 20000


@pytest.fixture
def work(tiny_coco, tmp_path):
    work = coco_project(tiny_coco, tmp_path, images=2, negatives_per_category=0)
    work.work_until(SEGMENTATION)
    yield work
    work.project.close()


@pytest.fixture
def session(work):
    session = Session(work.project, "drawer")
    use_grabcut_worker(session)
    yield session
    if session._model_worker is not None:
        session._model_worker.close()
    session.close()


def click_image(view, x, y):
    pos = view.editor.view.image_to_view(QPointF(x, y)).toPoint()
    QTest.mouseClick(view.editor.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def draw_square(view, x, y, side):
    QTest.keyClick(view.editor.view, Qt.Key.Key_P)
    for px, py in ((x, y), (x + side, y), (x + side, y + side), (x, y + side)):
        click_image(view, px, py)
    QTest.keyClick(view.editor.view, Qt.Key.Key_Return)  # the polygon tool closes it


def test_proposals_are_ready_ahead_and_drawn_masks_are_submitted_with_their_tool(
    qtbot, work, session
):
    view = SegmentationView(session)
    show_view(qtbot, view)
    first = view.items[0]
    qtbot.waitUntil(lambda: len(view.items) == 2)  # the next item is held, its proposal asked
    qtbot.waitUntil(lambda: view.editor.current_mask() is not None, timeout=PROPOSAL_WAIT_MS)
    second = view.items[1]
    qtbot.waitUntil(
        lambda: view.proposals.get(second.id, (0, None))[1] is not None, timeout=PROPOSAL_WAIT_MS
    )
    QTest.keyClick(view.editor.view, Qt.Key.Key_Return)  # submit the proposal as it is
    # the next item opens with its proposal already there
    assert view.items[0].id == second.id
    assert view.editor.current_mask() is not None
    assert "proposal is shown" in view.proposal_label.text()
    # replace it with a drawn polygon
    QTest.keyClick(
        view.editor.view,
        Qt.Key.Key_Backspace,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )  # clear the mask
    assert view.editor.current_mask() is None
    draw_square(view, 10, 10, 40)
    assert view.editor.current_mask().area == pytest.approx(1600, rel=0.1)
    QTest.keyClick(view.editor.view, Qt.Key.Key_Return)

    segments = {r.instance_id: r for r in rows(work.project, s.segments)}
    assert segments[first.instance.id].tool == "proposal"
    drawn = segments[second.instance.id]
    assert drawn.tool == "polygon" and drawn.status == s.PENDING
    events = rows(work.project, s.events, s.events.c.stage == SEGMENTATION)
    answers = [e for e in events if e.action == "answer"]
    assert answers[-1].clicks >= 6  # four vertices, the keys Enter, Enter (and Ctrl+Shift+Back)
    assert len(rows(work.project, s.work_items, s.work_items.c.stage == VERIFICATION)) == 2
    view.deactivate()


def test_a_rejected_instance_shows_the_reason_and_starts_from_its_mask(qtbot, work, session):
    item = work.service.next_item(SEGMENTATION, "other")
    from pipeline.masks.geometry import Mask
    from pipeline.stages import SegmentAnswer

    sloppy = Mask.from_box((5, 5, 30, 30), item.image.height, item.image.width)
    work.service.answer(item, SegmentAnswer(sloppy, "brush"))
    verdict = work.service.next_item(VERIFICATION, "verifier")
    work.service.answer(verdict, VerifyAnswer(False, "sloppy boundary"))
    view = SegmentationView(session)
    show_view(qtbot, view)
    assert view.items[0].instance.id == item.instance.id  # a redo goes first
    assert view.rejection_label.isVisible()
    assert "sloppy boundary" in view.rejection_label.text()
    assert view.editor.current_mask().iou(sloppy) == pytest.approx(1.0)
    view.deactivate()


def test_a_draft_survives_leaving_the_item_and_comes_back(qtbot, work, session):
    view = SegmentationView(session)
    show_view(qtbot, view)
    item = view.items[0]
    QTest.keyClick(
        view.editor.view,
        Qt.Key.Key_Backspace,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    draw_square(view, 20, 20, 30)
    drawn = view.editor.current_mask()
    view.deactivate()  # released: the draft is written
    assert not session.held_items()
    view.activate()
    assert view.items[0].id == item.id
    assert view.editor.current_mask() is not None
    assert view.editor.current_mask().iou(drawn) == pytest.approx(1.0)
    assert "draft was restored" in view.proposal_label.text()
    view.deactivate()

"""Stage 4 in the app: a page of crops verified with real keys and clicks on tiny_coco."""

from __future__ import annotations

import pytest
from gui_stage_support import answer_events, rows, verification_view
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from pipeline.stages import SEGMENTATION, VERIFICATION
from pipeline.store import schema as s


@pytest.fixture
def opened(qtbot, tiny_coco, tmp_path):
    with verification_view(qtbot, tiny_coco, tmp_path) as (work, view):
        yield work, view


@pytest.fixture
def work(opened):
    return opened[0]


@pytest.fixture
def view(opened):
    return opened[1]


def press(view, key, modifier=Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(view.grid, key, modifier)


def choose_in_popup(key):
    """Answer the reject-reason menu that the next key opens."""

    def choose():
        popup = QApplication.activePopupWidget()
        assert popup is not None, "the reason menu did not open"
        QTest.keyClick(popup, key)

    QTimer.singleShot(50, choose)


def test_a_page_of_crops_is_accepted_and_rejected_with_keys_and_the_store_holds_the_verdicts(
    qtbot, view, work
):
    pending = rows(work.project, s.segments, s.segments.c.status == s.PENDING)
    assert len(view.tiles) == len(pending) >= 3
    assert {t.item.segment.id for t in view.tiles} == {r.id for r in pending}
    assert all(t.pixmap.width() > 40 for t in view.tiles)

    press(view, Qt.Key.Key_A)  # first crop accepted, selection moves on
    assert view.tiles[0].accept is True and view.grid.selected == 1
    choose_in_popup(Qt.Key.Key_1)  # "sloppy boundary"
    press(view, Qt.Key.Key_R)
    assert view.tiles[1].accept is False and view.tiles[1].reason == "sloppy boundary"
    press(view, Qt.Key.Key_Return)  # refused: the rest is undecided
    assert len(view.tiles) == len(pending)
    press(view, Qt.Key.Key_Right)
    assert view.grid.selected == 3 or len(view.tiles) == 3
    press(view, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)  # accept the rest
    assert all(t.decided for t in view.tiles)
    press(view, Qt.Key.Key_Return)

    verdicts = rows(work.project, s.verdicts)
    assert len(verdicts) == len(pending)
    rejected = [v for v in verdicts if not v.accept]
    assert [v.reason for v in rejected] == ["sloppy boundary"]
    # the rejected instance is back in stage 3, the others accepted
    redo = rows(work.project, s.instances, s.instances.c.status == s.REDO)
    assert len(redo) == 1
    assert [
        r.stage
        for r in rows(work.project, s.work_items, s.work_items.c.status == s.OPEN)
        if r.instance_id == redo[0].id
    ] == [SEGMENTATION]
    # each verdict carries its measured effort: real seconds, and the decision keys
    events = answer_events(work.project, VERIFICATION)
    assert len(events) == len(pending)
    assert all(e.duration_s is not None and e.duration_s >= 0 for e in events)
    assert sum(e.clicks for e in events) >= 3  # A, R (+ the reason key), Shift+A
    assert view.showing_empty()  # no more segments to verify


def test_a_click_selects_a_crop_and_the_grid_adapts_to_the_window(qtbot, view):
    third = view.grid.tile_rect(2).center()
    QTest.mouseClick(view.grid, Qt.MouseButton.LeftButton, pos=third)
    assert view.grid.selected == 2
    assert view.meter.clicks == 1
    before = view.tiles[0].pixmap.width()
    view.resize(520, 480)
    rows_, columns = view.grid.capacity()
    assert columns <= 2 and rows_ * columns < 12  # the next page is smaller
    # the crops of this page are drawn again for the smaller tiles
    qtbot.waitUntil(lambda: view.tiles[0].pixmap.width() < before, timeout=3000)


def test_leaving_the_view_releases_the_page(view, work):
    held = {t.item.id for t in view.tiles}
    view.deactivate()
    items = rows(work.project, s.work_items, s.work_items.c.id.in_(held))
    assert all(r.status == s.OPEN for r in items)
    assert not view.session.held_items()


def test_other_as_a_reject_reason_asks_for_the_words(qtbot, view, work):
    def type_reason():
        dialog = QApplication.activeModalWidget()
        assert dialog is not None, "the reason dialog did not open"
        QTest.keyClicks(dialog.focusWidget(), "cut off at the left")
        QTest.keyClick(dialog.focusWidget(), Qt.Key.Key_Return)

    def choose_other():
        popup = QApplication.activePopupWidget()
        QTimer.singleShot(50, type_reason)
        QTest.keyClick(popup, Qt.Key.Key_5)

    QTimer.singleShot(50, choose_other)
    press(view, Qt.Key.Key_R)
    assert view.tiles[0].reason == "other: cut off at the left"
    view.activateWindow()  # the dialog closed: the grid's window has the keys again
    qtbot.waitUntil(view.isActiveWindow)
    press(view, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    press(view, Qt.Key.Key_Return)
    reasons = [v.reason for v in rows(work.project, s.verdicts) if not v.accept]
    assert reasons == ["other: cut off at the left"]

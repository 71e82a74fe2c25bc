"""What every stage view shares, on stage 1: effort measured from real events, skip,
"Take back last answer", a lost lease, and the empty state."""

from __future__ import annotations

from gui_stage_support import answer_events, rows, spotting_fixtures
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from app.gui.stages import STAGE_VIEWS
from pipeline.stages import SPOTTING
from pipeline.store import schema as s

work, view = spotting_fixtures()  # a 2-image tiny_coco project, its stage-1 view


def test_every_stage_has_a_view_with_skip_and_take_back_keys():
    assert sorted(STAGE_VIEWS) == [1, 2, 3, 4, 5, 6]
    for stage, cls in STAGE_VIEWS.items():
        assert cls.stage == stage and cls.title


def test_effort_is_the_time_shown_and_the_real_clicks_and_decision_keys(qtbot, view, work):
    canvas = view.canvas
    for x in (10, 20, 30):  # three presses on the image (each opens the picker anew)
        QTest.mouseClick(
            canvas.viewport(),
            Qt.MouseButton.LeftButton,
            pos=canvas.image_to_view(QPointF(x, x)).toPoint(),
        )
    QTest.keyClick(view.picker.query, Qt.Key.Key_Escape)  # not a decision
    QTest.keyClicks(canvas, "xyz")  # keys that decide nothing
    qtbot.wait(400)  # Qt's coarse timers may fire 5% early: >= 380 ms shown
    QTest.keyClick(canvas, Qt.Key.Key_N)
    (event,) = answer_events(work.project, SPOTTING)
    assert event.clicks == 4  # three presses and N
    assert 0.3 <= event.duration_s < 30


def test_skip_and_take_back_last_answer(qtbot, view, work):
    first = view.items[0]
    QTest.keyClick(view.canvas, Qt.Key.Key_S)
    second = view.items[0]
    assert second.id != first.id
    QTest.keyClick(view.canvas, Qt.Key.Key_N)  # answered: the next item shows
    assert view.items[0].id != second.id
    assert len(rows(work.project, s.spot_visits)) == 1
    QTest.keyClick(view.canvas, Qt.Key.Key_Backspace, Qt.KeyboardModifier.ControlModifier)
    assert view.items[0].id == second.id  # back, to be answered anew
    assert rows(work.project, s.spot_visits) == []
    actions = [e.action for e in rows(work.project, s.events)]
    assert actions.count("skip") == 1 and actions[-1] == "undo"


def test_a_lost_lease_moves_on_and_an_empty_stage_says_so(qtbot, view, work):
    shown = view.items[0]
    with work.project.write() as conn:  # the lease runs out while the annotator is away
        conn.execute(
            s.work_items.update().where(s.work_items.c.id == shown.id).values(lease_expires=0)
        )
    taken = work.service.next_item(SPOTTING, "someone else")
    assert taken.id == shown.id
    view.session.renew_held()  # the heartbeat finds out
    assert view.items and view.items[0].id != shown.id
    assert "no longer yours" in view.toast.text()
    while view.items:
        QTest.keyClick(view.canvas, Qt.Key.Key_N)
    assert view.showing_empty()
    assert "Nothing open in stage 1" in view._empty_label.text()
    # once the other annotator gives the image back, the view picks it up again
    work.service.release(taken)
    view.session.refresh_progress()
    qtbot.waitUntil(lambda: bool(view.items), timeout=3000)
    assert view.items[0].id == shown.id

"""Stage 1 in the app: spots placed with clicks and the category picker on tiny_coco."""

from __future__ import annotations

import pytest
from gui_stage_support import (
    answer_events,
    click_image,
    rows,
    spotting_fixtures,
)
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.gui.stages.spotting import KNOWN_REASON
from pipeline.stages import MARKING, SPOTTING
from pipeline.store import schema as s

work, view = spotting_fixtures()  # a 2-image tiny_coco project, its stage-1 view


def names_of(work):
    return {r.id: r.name for r in rows(work.project, s.categories)}


def test_every_category_in_the_image_is_spotted_with_a_click_and_the_picker(view, work):
    item = view.items[0]
    truth = work.truth.images[item.image.id]
    truth.ensure_points()
    names = names_of(work)
    expected = []
    for category_id in sorted(truth.present):
        x, y = truth.of(category_id)[0].point
        click_image(view, x, y)
        assert view.picker.query.hasFocus()  # typing goes to the picker
        QTest.keyClicks(view.picker.query, names[category_id])
        QTest.keyClick(view.picker.query, Qt.Key.Key_Return)  # picks
        expected.append((category_id, x, y))
    assert [sp.category_id for sp in view.spots] == [c for c, _, _ in expected]
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)  # submits

    spots = rows(work.project, s.spots, s.spots.c.image_id == item.image.id)
    assert sorted(sp.category_id for sp in spots) == sorted(c for c, _, _ in expected)
    where = {sp.category_id: (sp.x, sp.y) for sp in spots}
    for category_id, x, y in expected:  # where clicked, to the screen pixel
        assert where[category_id] == pytest.approx((x, y), abs=2.0)
    marking = rows(work.project, s.work_items, s.work_items.c.stage == MARKING)
    assert len(marking) == len(expected)
    (event,) = answer_events(work.project, SPOTTING)
    # a click and the Enter of the picker per spot, and the submitting Enter
    assert event.clicks == 2 * len(expected) + 1
    assert event.duration_s > 0


def test_known_categories_cannot_be_picked_again_and_nothing_new_answers(view, work):
    item = view.items[0]
    truth = work.truth.images[item.image.id]
    truth.ensure_points()
    category_id = sorted(truth.present)[0]
    name = names_of(work)[category_id]
    x, y = truth.of(category_id)[0].point
    click_image(view, x, y)
    QTest.keyClicks(view.picker.query, name)
    QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
    QTest.keyClick(view.canvas, Qt.Key.Key_N)  # refused: a new spot waits
    assert view.items[0].id == item.id
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)
    # the other image, then the first one again (one annotator takes its next visit)
    while view.items and view.items[0].image.id != item.image.id:
        QTest.keyClick(view.canvas, Qt.Key.Key_N)
    again = view.items[0]
    assert any(k.category_id == category_id for k in again.known)
    click_image(view, x + 1, y + 1)
    QTest.keyClicks(view.picker.query, name)
    QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
    assert view.spots == []
    assert KNOWN_REASON in view.picker.message.text()
    QTest.keyClick(view.picker.query, Qt.Key.Key_Escape)  # drop the click
    assert view.clicked_at is None
    QTest.keyClick(view.canvas, Qt.Key.Key_N)
    visits = rows(work.project, s.spot_visits, s.spot_visits.c.image_id == item.image.id)
    assert [bool(v.nothing_new) for v in visits] == [False, True]


def test_delete_removes_the_last_new_spot(view, work):
    item = view.items[0]
    click_image(view, 5, 5)
    QTest.keyClicks(view.picker.query, "person")
    QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
    click_image(view, 15, 15)
    QTest.keyClicks(view.picker.query, "dog")
    QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
    QTest.keyClick(view.canvas, Qt.Key.Key_Delete)
    assert len(view.spots) == 1
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)
    spots = rows(work.project, s.spots, s.spots.c.image_id == item.image.id)
    assert [names_of(work)[sp.category_id] for sp in spots] == ["person"]


def test_the_next_image_starts_with_an_empty_picker_query_and_the_most_used_first_list(view, work):
    first = view.items[0]
    click_image(view, 5, 5)
    QTest.keyClicks(view.picker.query, "dog")
    QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)  # submits: the next image comes
    assert view.items and view.items[0].image.id != first.image.id
    assert view.picker.query.text() == ""
    shown = [c.id for c in view.picker.model.hits]
    dog = next(i for i, n in names_of(work).items() if n == "dog")
    assert shown[0] == dog  # the category just used leads the list
    assert shown == [c.id for c in view.picker.search("")]  # the unfiltered list, not 'dog' hits

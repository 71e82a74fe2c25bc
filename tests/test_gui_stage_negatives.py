"""Stage 6 in the app: candidates answered with Y / N on tiny_coco, image by image."""

from __future__ import annotations

import pytest
from gui_stage_support import answer_events, coco_project, rows, show_view
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.gui.session import Session
from app.gui.stages.negatives import NegativesView
from pipeline.stages import NEGATIVES
from pipeline.store import schema as s


@pytest.fixture
def work(tiny_coco, tmp_path):
    work = coco_project(tiny_coco, tmp_path, images=2, negative_candidates_per_image=3)
    work.work_until(NEGATIVES)
    yield work
    work.project.close()


def test_candidates_are_answered_with_y_and_n_image_by_image_without_reloading(qtbot, work):
    session = Session(work.project, "checker")
    view = NegativesView(session)
    show_view(qtbot, view)
    answered: list[tuple[int, int, bool]] = []
    images_seen: list[int] = []
    while view.items:
        item = view.items[0]
        if not images_seen or images_seen[-1] != item.image.id:
            images_seen.append(item.image.id)
        assert view.category_label.text() == item.category.display_name
        present = item.category.id in work.truth.images[item.image.id].anywhere
        QTest.keyClick(view.canvas, Qt.Key.Key_Y if present else Qt.Key.Key_N)
        answered.append((item.image.id, item.category.id, present))
        if len(answered) > 40:
            break
    assert answered, "stage 6 had no candidates"
    # one image's candidates follow each other on the image already shown: the canvas
    # got a new image only when the image changed (later rounds come back to an image)
    assert view.image_loads == len(images_seen) < len(answered)
    first_round = [image for image, _, _ in answered[:6]]
    assert first_round == sorted(first_round, key=first_round.index)  # grouped by image
    checks = rows(work.project, s.negative_checks)
    assert sorted((c.image_id, c.category_id, bool(c.present)) for c in checks) == sorted(answered)
    states = {(p.image_id, p.category_id): p.state for p in rows(work.project, s.image_categories)}
    for image_id, category_id, present in answered:
        assert states[(image_id, category_id)] == (s.SPOTTED if present else s.NEGATIVE)
    events = answer_events(work.project, NEGATIVES)
    assert all(e.clicks == 1 and e.duration_s is not None for e in events)
    view.deactivate()
    session.close()


def test_skip_moves_on_and_leaving_releases_the_held_candidates(qtbot, work):
    session = Session(work.project, "checker")
    view = NegativesView(session)
    show_view(qtbot, view)
    first = view.items[0]
    held = [i.id for i in view.items]
    QTest.keyClick(view.canvas, Qt.Key.Key_S)
    assert view.items and view.items[0].id != first.id
    assert [e.action for e in rows(work.project, s.events, s.events.c.work_item_id == first.id)][
        -1
    ] == "skip"
    view.deactivate()
    assert not session.held_items()
    statuses = {r.id: r.status for r in rows(work.project, s.work_items)}
    assert all(statuses[i] == s.OPEN for i in held)
    session.close()

"""Stage 2 in the app: Y/N on the category, then a click or a drag per instance."""

from __future__ import annotations

import pytest
from gui_stage_support import answer_events, coco_project, rows, show_view
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from app.gui.session import Session
from app.gui.stages.marking import MarkingView
from pipeline.stages import MARKING, SEGMENTATION
from pipeline.store import schema as s


@pytest.fixture
def work(tiny_coco, tmp_path):
    work = coco_project(tiny_coco, tmp_path, images=2, negatives_per_category=0)
    work.work_until(MARKING)
    yield work
    work.project.close()


def view_pos(view, x, y):
    return view.canvas.image_to_view(QPointF(x, y)).toPoint()


def test_marks_from_clicks_and_a_dragged_box_and_a_rejected_category(qtbot, work):
    session = Session(work.project, "marker")
    view = MarkingView(session)
    show_view(qtbot, view)
    item = view.items[0]
    truth = work.truth.images[item.image.id]
    truth.ensure_points()
    instances = truth.of(item.category.id)
    assert view.category_label.text() == item.category.display_name
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)  # refused before Y / N
    assert view.items[0].id == item.id and not view.marks
    QTest.keyClick(view.canvas, Qt.Key.Key_Y)
    assert len(view.marks) == 1  # the spotted instance is marked already
    viewport = view.canvas.viewport()
    # one more instance by a click, one by a drag (a box); a stray click taken back
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=view_pos(view, 3, 3))
    QTest.keyClick(view.canvas, Qt.Key.Key_Delete)
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=view_pos(view, 20, 30))
    start, end = view_pos(view, 40, 40), view_pos(view, 90, 80)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(viewport, pos=(start + end) / 2)
    QTest.mouseMove(viewport, pos=end)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    assert len(view.marks) == 3 and view.marks[2].box is not None
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)

    marked = rows(
        work.project,
        s.instances,
        s.instances.c.image_id == item.image.id,
        s.instances.c.category_id == item.category.id,
    )
    assert len(marked) == 3
    boxed = [m for m in marked if m.box_w is not None]
    assert len(boxed) == 1
    assert boxed[0].box_x == pytest.approx(40, abs=1.5) and boxed[0].box_w == pytest.approx(
        50, abs=2
    )
    spotted = rows(
        work.project,
        s.spots,
        s.spots.c.image_id == item.image.id,
        s.spots.c.category_id == item.category.id,
    )[0]
    assert any(m.x == pytest.approx(spotted.x) and m.y == pytest.approx(spotted.y) for m in marked)
    segmentation = rows(work.project, s.work_items, s.work_items.c.stage == SEGMENTATION)
    assert len(segmentation) == 3
    assert len(instances) >= 1

    # the next category: it does not fit
    second = view.items[0]
    QTest.keyClick(view.canvas, Qt.Key.Key_N)
    pair = rows(
        work.project,
        s.image_categories,
        s.image_categories.c.image_id == second.image.id,
        s.image_categories.c.category_id == second.category.id,
    )[0]
    assert pair.state == s.REJECTED
    events = answer_events(work.project, MARKING)
    # the refused Enter, Y, two clicks, Delete, a click, the drag and Enter; then N
    assert [e.clicks for e in events] == [7, 1]
    view.deactivate()
    session.close()

"""The image panel (ImageDock) shows every state in full, however narrow the dock."""

from __future__ import annotations

import time

import pytest
from PySide6.QtWidgets import QApplication
from sqlalchemy import insert
from stages_support import category_ids, image_ids, make_project

from app.gui.widgets.image_dock import ImageDock
from pipeline import explorer
from pipeline.store import schema as s


def summary(project, image_id):
    with project.read() as conn:
        return explorer.image_summary(conn, image_id)


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path, images=1)
    cats = category_ids(project)
    (image_id,) = image_ids(project)
    with project.write() as conn:
        conn.execute(
            insert(s.image_categories),
            [
                dict(
                    image_id=image_id,
                    category_id=cats["cat"],
                    state="confirmed",
                    exhaustive=False,
                    updated_at=time.time(),
                ),
                dict(
                    image_id=image_id,
                    category_id=cats["dog"],
                    state="spotted",
                    exhaustive=True,
                    updated_at=time.time(),
                ),
            ],
        )
    yield project
    project.close()


def test_the_state_column_is_whole_and_inside_the_dock_beside_a_1280_px_window(qtbot, project):
    """At the dock's default width the state began past the dock's right edge behind the
    name column, so "confirmed, not exhaustive" read "confirmed, exh" until one scrolled
    sideways. Now the state is whole and in view; a long name elides (tooltip: whole)."""
    dock = ImageDock()
    qtbot.addWidget(dock)
    dock.resize(260, 400)
    dock.show()
    qtbot.waitExposed(dock)
    dock.show_summary(summary(project, image_ids(project)[0]))
    QApplication.processEvents()
    tree = dock.tree
    header = tree.header()
    metrics = tree.fontMetrics()
    state_end = header.sectionPosition(1) + tree.columnWidth(1)
    assert state_end <= tree.viewport().width()
    for i in range(tree.topLevelItemCount()):
        row = tree.topLevelItem(i)
        assert metrics.horizontalAdvance(row.text(1)) <= tree.columnWidth(1)
        assert row.toolTip(0) == row.text(0)
    assert tree.horizontalScrollBar().maximum() == 0  # nothing to scroll to


def test_the_state_column_is_as_wide_as_its_longest_state_with_the_full_text_in_a_tooltip(
    qtbot, project
):
    dock = ImageDock()
    qtbot.addWidget(dock)
    dock.resize(260, 400)  # the dock's default width beside a 1280 px window
    dock.show()
    qtbot.waitExposed(dock)
    dock.show_summary(summary(project, image_ids(project)[0]))
    QApplication.processEvents()
    tree = dock.tree
    rows = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    assert [r.text(1) for r in rows] == ["confirmed, not exhaustive", "spotted, exhaustive"]
    metrics = tree.fontMetrics()
    for row in rows:  # short names: nothing elided
        for column in (0, 1):
            assert metrics.horizontalAdvance(row.text(column)) <= tree.columnWidth(column)
    for row in rows:
        assert [row.toolTip(0), row.toolTip(1)] == [row.text(0), row.text(1)]


def test_the_placeholder_rows_are_shown_in_full(qtbot, project):
    dock = ImageDock()
    qtbot.addWidget(dock)
    dock.resize(260, 400)
    dock.show()
    qtbot.waitExposed(dock)
    metrics = dock.tree.fontMetrics()
    QApplication.processEvents()
    shown = dock.tree.topLevelItem(0).text(0)
    assert shown == "No image shown"
    assert metrics.horizontalAdvance(shown) <= dock.tree.columnWidth(0)
    with project.write() as conn:  # an image nobody has spotted anything in yet
        conn.execute(s.image_categories.delete())
    dock.show_summary(summary(project, image_ids(project)[0]))
    QApplication.processEvents()
    shown = dock.tree.topLevelItem(0).text(0)
    assert shown == "No categories yet"
    assert metrics.horizontalAdvance(shown) <= dock.tree.columnWidth(0)


def test_what_matters_comes_first_and_the_negatives_fold_into_one_row(qtbot, project):
    """After a COCO import an image has one positive among 79 negatives: alphabetical
    order buried it. Now: confirmed, then spotted, then one folded "verified absent"."""
    cats = category_ids(project)
    (image_id,) = image_ids(project)
    with project.write() as conn:
        conn.execute(
            insert(s.image_categories),
            [
                dict(image_id=image_id, category_id=cats[name], state="negative", exhaustive=None)
                | dict(updated_at=time.time())
                for name in ("cup", "bird", "car")
            ],
        )
    dock = ImageDock()
    qtbot.addWidget(dock)
    dock.resize(260, 400)
    dock.show()
    qtbot.waitExposed(dock)
    dock.show_summary(summary(project, image_id))
    QApplication.processEvents()
    assert dock.category_names() == ["cat (0)", "dog (0)", "verified absent (3)"]
    folded = dock.tree.topLevelItem(2)
    assert not folded.isExpanded()
    assert [folded.child(k).text(0) for k in range(3)] == ["bird (0)", "car (0)", "cup (0)"]
    assert dock.object_rows() == []  # the folded categories are not objects

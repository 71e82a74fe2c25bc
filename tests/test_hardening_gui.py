"""Issue 20, "Why" 4 and 6 in the app: a damaged project opens to a dialog with its one
located line (no traceback), and the statistics view draws "$$" names as plain text."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import create_engine

from pipeline.store.database import DB_NAME

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, demo_project, window


@pytest.mark.parametrize(
    "sql,words",
    [
        ("DROP TABLE events", "the table events is missing"),
        ("UPDATE meta SET value = 'abc' WHERE key = 'schema_version'", "schema version 'abc'"),
        ("UPDATE meta SET value = '[' WHERE key = 'images.roots'", "images.roots is not JSON"),
    ],
)
def test_a_damaged_project_opens_to_one_located_line(
    qtbot, window, demo_project, tmp_path, sql, words
):
    damaged = tmp_path / "damaged"
    shutil.copytree(demo_project, damaged)
    engine = create_engine(f"sqlite:///{damaged / DB_NAME}")
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()
    with qtbot.waitSignal(window.openFailed):
        assert not window.open_project(str(damaged))
    assert window.session is None
    text = window.last_report.summary.text()
    assert "is damaged" in text and words in text and "Traceback" not in text


def test_the_statistics_view_draws_dollar_names_whole(qtbot, tmp_path):
    from stats_support import build_hand_made

    from app.gui.widgets.statistics_view import StatisticsView
    from pipeline.stats.plots import PLOTS

    made = build_hand_made(tmp_path)
    engine = create_engine(f"sqlite:///{made.project.folder / DB_NAME}")
    with engine.begin() as conn:  # every category and annotator name is mathtext bait
        conn.exec_driver_sql("UPDATE categories SET name = '$$' WHERE name = 'cat'")
        conn.exec_driver_sql("UPDATE categories SET name = '$_$' WHERE name = 'dog'")
        conn.exec_driver_sql("UPDATE annotators SET name = '$_$' WHERE name = 'drawer'")
        conn.exec_driver_sql("UPDATE annotators SET name = '$$' WHERE name = 'verifier'")
    engine.dispose()
    widget = StatisticsView(made.project)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.stats is not None, timeout=20000)
    for k, plot in enumerate(PLOTS):  # each tab draws its canvas in full
        widget.tabs.setCurrentIndex(k)
        widget.canvases[plot.key].draw()
    labels = [t.get_text() for t in widget.figures["effort_by_annotator"].axes[0].get_xticklabels()]
    assert "$_$" in labels and "$$" in labels
    widget.close()
    made.project.close()

"""The Statistics view: plots embedded, refreshed on a worker, exported as PNG."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog
from stages_support import box_mask
from stats_support import build_hand_made, simulated_tiny_coco_folder

from app.gui.widgets.statistics_view import StatisticsView, tab_title
from pipeline.corrections import correct_mask
from pipeline.stats.plots import PLOTS
from pipeline.store.database import Project


@pytest.fixture
def view(qtbot, tmp_path):
    made = build_hand_made(tmp_path)
    widget = StatisticsView(made.project)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.stats is not None, timeout=20000)
    yield made, widget
    widget.close()
    made.project.close()


def test_every_plot_is_a_tab_drawn_from_the_projects_numbers(view):
    made, widget = view
    assert widget.tabs.count() == len(PLOTS)
    assert [widget.tabs.tabText(k) for k in range(len(PLOTS))] == [
        tab_title(p.key) for p in PLOTS
    ]
    assert [widget.tabs.tabToolTip(k) for k in range(len(PLOTS))] == [p.title for p in PLOTS]
    assert set(widget.canvases) == {p.key for p in PLOTS}
    assert widget.stats.shape.instances == 4
    assert "4 accepted instances" in widget.summary.text()
    assert widget.figures["long_tail"].axes[0].get_yscale() == "log"


def test_refresh_runs_on_the_worker_and_shows_new_numbers(qtbot, view):
    made, widget = view
    instance_id = 1
    correct_mask(made.project, instance_id, box_mask(11, 11, 18, 18), "editor")
    QTest.mouseClick(widget.refresh_button, Qt.MouseButton.LeftButton)
    assert not widget.refresh_button.isEnabled()  # busy while the worker computes
    qtbot.waitUntil(lambda: widget.refresh_button.isEnabled(), timeout=20000)
    assert widget.stats.shape.instances == 3  # the corrected one awaits verification
    assert widget.stats.effort.corrections.answers == 1


def test_each_plot_exports_as_png(qtbot, view, tmp_path, monkeypatch):
    made, widget = view
    widget.tabs.setCurrentIndex(2)
    target = tmp_path / "mask sizes"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "PNG"))
    )
    QTest.mouseClick(widget.export_button, Qt.MouseButton.LeftButton)
    written = target.with_suffix(".png")
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path))
    )
    QTest.mouseClick(widget.export_all_button, Qt.MouseButton.LeftButton)
    assert all((tmp_path / f"{p.key}.png").stat().st_size > 1000 for p in PLOTS)


def test_statistics_screenshot_on_tiny_coco(qtbot, tmp_path, tiny_coco, screenshot_dir):
    project = Project.open(simulated_tiny_coco_folder(tiny_coco))
    widget = StatisticsView(project)
    qtbot.addWidget(widget)
    widget.resize(1000, 640)
    widget.show()
    qtbot.waitUntil(lambda: widget.stats is not None, timeout=20000)
    widget.tabs.setCurrentIndex(0)
    qtbot.wait(300)
    assert widget.grab().save(str(screenshot_dir / "statistics.png"))
    widget.tabs.setCurrentIndex(6)
    qtbot.wait(300)
    assert widget.grab().save(str(screenshot_dir / "statistics-effort-by-tool.png"))
    widget.close()
    project.close()

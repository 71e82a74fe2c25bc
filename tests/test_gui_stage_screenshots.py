"""Every stage view in the main window, with real items from tiny_coco, drawn to PNG.

The pictures go to a temporary folder; with LONGTAIL_SCREENSHOTS=docs they replace the
tour's pictures in docs/screenshots/ (stage-1-spotting.png ... stage-6-negatives.png,
picker.png). The stages are worked by tests/gui_stage_tour.py, as for
tools/shell_screenshots.py. Either way each one must show its view with an item, not a blank page.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gui_stage_support import rows, use_grabcut_worker
from gui_stage_tour import PICKER_PICTURE, tour_project, tour_stages
from gui_support import open_and_wait
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from pipeline.store import schema as s

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window, app_style

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def save(widget, folder: Path, name: str) -> Path:
    QApplication.processEvents()
    path = folder / f"{name}.png"
    assert widget.grab().save(str(path))
    return path


def assert_drawn(path: Path) -> None:
    image = QImage(str(path))
    assert image.width() >= 800 and image.height() >= 500
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 17) for y in range(0, image.height(), 17)
    }
    assert len(colours) > 200  # a photo and text, not an empty page


@pytest.mark.slow
def test_every_stage_view_is_drawn_with_an_item(qtbot, app_style, window, tiny_coco, tmp_path):
    folder = DOCS if os.environ.get("LONGTAIL_SCREENSHOTS") == "docs" else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    work = tour_project(tiny_coco, tmp_path)
    names = {r.id: r.name for r in rows(work.project, s.categories)}
    # the window's default size (1280x800) in the app's own style: what a user first sees
    open_and_wait(qtbot, window, work.project.folder)
    worker = use_grabcut_worker(window.session)
    saved = []
    try:
        tour_stages(
            window, work, names, lambda widget, name: saved.append(save(widget, folder, name))
        )
    finally:
        worker.close()
    assert len(saved) == 7
    for path in saved:
        if path.stem != PICKER_PICTURE:
            assert_drawn(path)

"""Every stage view in the main window, with real items from tiny_coco, drawn to PNG.

The pictures go to a temporary folder; with LONGTAIL_SCREENSHOTS=docs they replace the
tour's pictures in docs/screenshots/ (stage-1-spotting.png ... stage-6-negatives.png,
picker.png). Either way each one must show its view with an item, not a blank page.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gui_stage_support import coco_project, rows, use_grabcut_worker
from gui_support import open_and_wait
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from pipeline import schema as s
from pipeline.stages import EXHAUSTIVE, MARKING, NEGATIVES, SEGMENTATION, SPOTTING, VERIFICATION

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window, app_style

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
NAMES = {
    SPOTTING: "stage-1-spotting",
    MARKING: "stage-2-marking",
    SEGMENTATION: "stage-3-segmentation",
    VERIFICATION: "stage-4-verification",
    EXHAUSTIVE: "stage-5-exhaustive",
    NEGATIVES: "stage-6-negatives",
}


def click(canvas, x, y):
    QTest.mouseClick(
        canvas.viewport(),
        Qt.MouseButton.LeftButton,
        pos=canvas.image_to_view(QPointF(x, y)).toPoint(),
    )


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
    work = coco_project(
        tiny_coco,
        tmp_path,
        images=3,
        min_area=1500,
        spot_done_after=1,
        negatives_per_category=1,
        negative_candidates_per_image=3,
    )
    names = {r.id: r.name for r in rows(work.project, s.categories)}
    # the window's default size (1280x800) in the app's own style: what a user first sees
    open_and_wait(qtbot, window, work.project.folder)
    worker = use_grabcut_worker(window.session)
    saved = []
    try:
        # 1: two spots placed, a third object clicked and its category being typed
        view = window.views[SPOTTING]
        window.set_stage(SPOTTING)
        item = view.items[0]
        truth = work.truth.images[item.image.id]
        truth.ensure_points()
        present = sorted(truth.present)
        for category_id in present[:-1]:
            click(view.canvas, *truth.of(category_id)[0].point)
            QTest.keyClicks(view.picker.query, names[category_id])
            QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
        click(view.canvas, *truth.of(present[-1])[0].point)
        QTest.keyClicks(view.picker.query, names[present[-1]][:3])
        saved.append(save(window, folder, NAMES[SPOTTING]))
        view.picker.query.clear()
        QTest.keyClicks(view.picker.query, "ca")  # several hits, with their definitions
        saved.append(save(view.panel, folder, "picker"))
        QTest.keyClick(view.picker.query, Qt.Key.Key_Escape)
        window.set_stage(MARKING)  # leaves stage 1: the item is released

        # 2: the category fits, instances marked
        work.work(SPOTTING)
        window.set_stage(SPOTTING)
        window.set_stage(MARKING)
        view = window.views[MARKING]
        item = view.items[0]
        QTest.keyClick(view.canvas, Qt.Key.Key_Y)
        truth = work.truth.images[item.image.id]
        truth.ensure_points()
        for t in truth.of(item.category.id)[1:]:
            click(view.canvas, *t.point)
        saved.append(save(window, folder, NAMES[MARKING]))

        # 3: the prefetched proposal in the editor
        work.work(MARKING)
        window.set_stage(SEGMENTATION)
        view = window.views[SEGMENTATION]
        qtbot.waitUntil(lambda: view.editor.current_mask() is not None, timeout=20000)
        saved.append(save(window, folder, NAMES[SEGMENTATION]))

        # 4: a page, one crop accepted and one rejected
        window.set_stage(VERIFICATION)
        work.work(SEGMENTATION)
        window.set_stage(SEGMENTATION)
        window.set_stage(VERIFICATION)
        view = window.views[VERIFICATION]
        QTest.keyClick(view.grid, Qt.Key.Key_A)

        def reason():
            QTest.keyClick(QApplication.activePopupWidget(), Qt.Key.Key_1)

        QTimer.singleShot(30, reason)
        QTest.keyClick(view.grid, Qt.Key.Key_R)
        saved.append(save(window, folder, NAMES[VERIFICATION]))

        # 5: every accepted mask of the category, one missing instance clicked
        window.set_stage(EXHAUSTIVE)
        work.work(VERIFICATION)
        window.set_stage(VERIFICATION)
        window.set_stage(EXHAUSTIVE)
        view = window.views[EXHAUSTIVE]
        item = max(view.items, key=lambda i: len(i.annotations))
        w, h = item.image.width, item.image.height
        click(view.canvas, w * 0.85, h * 0.8)
        saved.append(save(window, folder, NAMES[EXHAUSTIVE]))

        # 6: a candidate category
        window.set_stage(NEGATIVES)
        saved.append(save(window, folder, NAMES[NEGATIVES]))
    finally:
        worker.close()
    assert len(saved) == 7
    for path in saved:
        if path.stem != "picker":
            assert_drawn(path)

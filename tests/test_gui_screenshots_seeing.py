"""The views of issue 18's "seeing the work" drawn to PNG at 1280x800 and 1920x1080: stage 3
with the image's other masks and the image panel's object list, a stage-4 page in
category colours, the picker's toast, the explorer with mask thumbnails and its
correction dialog, and the wizard's import page.

The pictures go to a temporary folder; with LONGTAIL_SCREENSHOTS=docs they replace
docs/screenshots/seeing-*.png. Either way each must show its view, not a blank page.
"""

from __future__ import annotations

import contextlib

import pytest
from gui_stage_support import coco_project, use_grabcut_worker
from gui_support import open_and_wait
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.exceptions import TimeoutError as WaitTimeout

from app.gui.widgets.explorer import ExplorerView
from app.gui.widgets.wizard import NewProjectWizard
from pipeline.stages import SEGMENTATION, SPOTTING, VERIFICATION

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window, app_style

SIZES = ((1280, 800), (1920, 1080))


def save(widget, folder, name: str, size: tuple[int, int], least: int = 100) -> None:
    QApplication.processEvents()
    path = folder / f"seeing-{name}-{size[0]}.png"
    assert widget.grab().save(str(path))
    image = QImage(str(path))
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 17) for y in range(0, image.height(), 17)
    }
    assert len(colours) > least, f"{path.name} looks empty"


@pytest.mark.slow
def test_the_seeing_views_at_both_window_sizes(
    qtbot, app_style, window, tiny_coco, tmp_path, screenshot_dir
):
    work = coco_project(tiny_coco, tmp_path, images=2, min_area=800, negatives_per_category=0)
    work.work_until(SEGMENTATION)
    open_items = work.service.progress()[SEGMENTATION].open
    work.work(SEGMENTATION, limit=max(1, open_items - 2))  # masks waiting on the images
    open_and_wait(qtbot, window, work.project.folder)
    worker = use_grabcut_worker(window.session)
    try:
        for size in SIZES:
            window.resize(*size)
            window.set_stage(SEGMENTATION)
            view = window.views[SEGMENTATION]
            # the proposal, when it comes in time (the picture is of the context)
            with contextlib.suppress(WaitTimeout):
                qtbot.waitUntil(lambda v=view: v.editor.current_mask() is not None, timeout=8000)
            view.editor.view.fit()
            rows = window.dock.object_rows()
            drawn = [
                r for r in rows if r.data(0, Qt.ItemDataRole.UserRole + 1) in view.context.items
            ]
            if drawn:
                window.dock._clicked(drawn[0], 0)  # one object selected from the list
            qtbot.wait(300)
            save(window, screenshot_dir, "stage-3-context", size)

            window.set_stage(SPOTTING)
            spotting = window.views[SPOTTING]
            if spotting.items:
                item = spotting.items[0]
                QTest.mouseClick(
                    spotting.canvas.viewport(),
                    Qt.MouseButton.LeftButton,
                    pos=spotting.canvas.image_to_view(
                        QPointF(item.image.width / 2, item.image.height / 2)
                    ).toPoint(),
                )
                QTest.keyClicks(spotting.picker.query, "fri")
                QTest.keyClick(spotting.picker.query, Qt.Key.Key_Return)
                save(window, screenshot_dir, "stage-1-toast", size)

        work.work(SEGMENTATION)
        for size in SIZES:
            window.resize(*size)
            window.set_stage(VERIFICATION)
            view = window.views[VERIFICATION]
            if view.items:
                save(window, screenshot_dir, "stage-4-colours", size)
            window.set_stage(SEGMENTATION)

        for size in SIZES:
            explorer = ExplorerView(window.session)
            qtbot.addWidget(explorer)
            explorer.resize(*size)
            explorer.show()
            qtbot.waitUntil(lambda e=explorer: e.model.rowCount() > 0, timeout=5000)
            qtbot.waitUntil(
                lambda e=explorer: len(e.model.pixmaps) == e.model.rowCount(), timeout=10000
            )
            explorer.open_image(explorer.image_ids[0])
            qtbot.waitUntil(lambda e=explorer: e.history is not None, timeout=5000)
            entry = next(e for e in explorer.history.instances if e.annotation.segment)
            explorer.select_instance(entry.annotation.instance.id)
            qtbot.wait(300)
            save(explorer, screenshot_dir, "explorer", size)
            explorer._correct_selected()
            dialog = explorer.correction_dialog
            qtbot.waitUntil(dialog.isVisible, timeout=3000)
            dialog.resize(int(size[0] * 0.8), int(size[1] * 0.85))
            qtbot.wait(300)
            dialog.editor.view.fit()
            save(dialog, screenshot_dir, "correct-mask", size)
            dialog.reject()
            explorer.close()

        for size in SIZES:
            wizard = NewProjectWizard()
            qtbot.addWidget(wizard)
            wizard.resize(min(900, size[0]), 560)
            wizard.show()
            wizard.next()
            wizard.next()
            page = wizard.import_page
            page.buttons["coco"].setChecked(True)
            page.file.setText(str(tiny_coco / "annotations" / "instances_val2017.json"))
            save(wizard, screenshot_dir, "wizard-import", size, least=20)  # text only
            wizard.close()
    finally:
        worker.close()

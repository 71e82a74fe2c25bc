"""The explorer window: real widgets, clicks and keys (pytest-qt, offscreen)."""

from __future__ import annotations

from gui_support import open_and_wait
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from stages_support import pending, rows
from stats_support import build_hand_made, simulated_tiny_coco_folder

from app.gui.session import Session
from app.gui.widgets.explorer import ExplorerView
from pipeline.masks.geometry import Mask
from pipeline.store import schema as s
from pipeline.store.database import Project

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window


def wait_ids(qtbot, view, expected):
    qtbot.waitUntil(lambda: set(view.image_ids) == set(expected), timeout=5000)


def test_the_grid_shows_every_image_and_loads_thumbnails_lazily(qtbot, explorer):
    made, view = explorer
    assert view.image_ids == sorted(made.images)
    qtbot.waitUntil(lambda: len(view.model.pixmaps) == 3, timeout=5000)
    assert all(not p.isNull() and p.width() <= 160 for p in view.model.pixmaps.values())
    assert view.count.text() == "3 of 3 images"


def test_filters_picked_with_clicks_and_keys_give_the_expected_images(qtbot, explorer):
    made, view = explorer
    img0, img1, img2 = made.images
    QTest.mouseClick(view.rejections, Qt.MouseButton.LeftButton)
    wait_ids(qtbot, view, {img0})
    QTest.mouseClick(view.rejections, Qt.MouseButton.LeftButton)
    wait_ids(qtbot, view, {img0, img1, img2})

    view.category.lineEdit().selectAll()
    QTest.keyClicks(view.category.lineEdit(), "cat")
    QTest.keyClick(view.category.lineEdit(), Qt.Key.Key_Return)
    wait_ids(qtbot, view, {img0, img1, img2})  # "any state": img02's cat is a negative
    view.category_state.setCurrentIndex(view.category_state.findData("present"))
    wait_ids(qtbot, view, {img0, img1})
    view.category_state.setCurrentIndex(view.category_state.findData("absent"))
    wait_ids(qtbot, view, {img2})
    view.category_state.setCurrentIndex(view.category_state.findData("not_exhaustive"))
    wait_ids(qtbot, view, set())
    assert view.count.text() == "0 of 3 images"

    QTest.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    wait_ids(qtbot, view, {img0, img1, img2})
    view.annotator.setCurrentIndex(view.annotator.findText("drawer"))
    wait_ids(qtbot, view, {img0, img1})


def test_a_state_with_any_category_lists_images_with_such_a_pair(qtbot, explorer):
    made, view = explorer
    img0, img1, img2 = made.images
    assert view.category.currentData() is None
    assert view.category_state.currentText() == "any state"
    # chosen with the keyboard, as a person would: the state box's first letter
    view.category_state.setFocus()
    QTest.keyClicks(view.category_state, "p")
    assert view.category_state.currentData() == "present"
    wait_ids(qtbot, view, {img0, img1})  # img02 has no positive
    assert view.count.text() == "2 of 3 images"
    view.category_state.setCurrentIndex(view.category_state.findData("not_exhaustive"))
    wait_ids(qtbot, view, {img0})
    QTest.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    wait_ids(qtbot, view, {img0, img1, img2})
    assert view.category_state.currentText() == "any state"


def open_first(qtbot, view, image_id):
    row = view.image_ids.index(image_id)
    index = view.model.index(row)
    rect = view.grid.visualRect(index)
    # Qt's item views act on a double click only after the press that began it
    QTest.mouseClick(view.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(view.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(
        lambda: view.history is not None and view.history.image.id == image_id, timeout=5000
    )


def test_opening_an_image_shows_its_annotations_states_and_history(qtbot, explorer):
    made, view = explorer
    open_first(qtbot, view, made.images[0])
    texts = []
    iterator = [view.tree.topLevelItem(k) for k in range(view.tree.topLevelItemCount())]
    while iterator:
        item = iterator.pop(0)
        texts.append(" | ".join(item.text(c) for c in range(3)))
        iterator += [item.child(k) for k in range(item.childCount())]
    joined = "\n".join(texts)
    assert "dog | positive | not exhaustive" in joined
    assert "version 1 | rejected | proposal by drawer" in joined
    assert "verdict by verifier | rejected | : too loose" in joined
    assert "version 2 | accepted | polygon by drawer" in joined
    assert len(view.scene.annotations()) == 3  # the three masks on the canvas


def test_a_mask_corrected_in_the_explorer_goes_back_to_verification(qtbot, explorer):
    made, view = explorer
    img0 = made.images[0]
    open_first(qtbot, view, img0)
    instance = next(
        r for r in rows(made.project, s.instances) if r.image_id == img0 and r.x == 51
    )  # the cat in box (50, 10, 30, 30)
    view.select_instance(instance.id)
    assert view.correct_button.isEnabled()
    QTest.mouseClick(view.correct_button, Qt.MouseButton.LeftButton)
    dialog = view.correction_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=3000)
    editor = dialog.editor
    before = editor.current_mask().area
    editor.set_tool("hole")  # cut a hole into the accepted mask
    for x, y in ((55, 15), (70, 15), (70, 30), (55, 30)):
        QTest.mouseClick(
            editor.view.viewport(),
            Qt.MouseButton.LeftButton,
            pos=editor.image_point_to_view(x, y).toPoint(),
        )
    QTest.keyClick(editor.view.viewport(), Qt.Key.Key_Return)
    assert editor.current_mask().area < before
    assert dialog.isVisible()  # Enter closed the polygon, not the dialog
    QTest.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)

    segments = [r for r in rows(made.project, s.segments) if r.instance_id == instance.id]
    assert [r.status for r in sorted(segments, key=lambda r: r.version)] == [
        s.SEGMENT_REJECTED,
        s.SUPERSEDED,
        s.PENDING,
    ]
    newest = max(segments, key=lambda r: r.version)
    assert Mask.from_bytes(newest.mask_kind, newest.mask, 90, 120).area < before
    (item,) = pending(made.project, s.VERIFICATION)
    assert item.segment_id == newest.id
    qtbot.waitUntil(
        lambda: any(
            view.tree.topLevelItem(k).child(c).text(0) == "version 3"
            for k in range(view.tree.topLevelItemCount())
            for c in range(view.tree.topLevelItem(k).childCount())
        ),
        timeout=5000,
    )
    view.stage.setCurrentIndex(view.stage.findData(s.VERIFICATION))
    wait_ids(qtbot, view, {img0})


def test_explorer_screenshot_on_tiny_coco(qtbot, tmp_path, tiny_coco, screenshot_dir):
    project = Project.open(simulated_tiny_coco_folder(tiny_coco))
    session = Session(project, "reviewer")
    view = ExplorerView(session)
    qtbot.addWidget(view)
    view.resize(1400, 820)
    view.show()
    qtbot.waitUntil(lambda: view.model.rowCount() == 5, timeout=5000)
    QTest.mouseClick(view.rejections, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: 0 < view.model.rowCount() < 5, timeout=5000)
    first = view.image_ids[0]
    open_first(qtbot, view, first)
    qtbot.waitUntil(
        lambda: view.model.pixmaps and view.model.pool.activeThreadCount() == 0, timeout=8000
    )
    redone = [e for e in view.history.instances if len(e.versions) > 1]
    if redone:
        view.select_instance(redone[0].annotation.instance.id)
    qtbot.wait(200)
    assert view.grab().save(str(screenshot_dir / "explorer.png"))
    view.close()
    session.close()
    project.close()


def test_the_main_windows_view_menu_opens_the_explorer_and_the_statistics(qtbot, window, tmp_path):
    made = build_hand_made(tmp_path)
    folder = made.project.folder
    made.project.close()
    open_and_wait(qtbot, window, folder)
    window.explorer_action.trigger()
    window.statistics_action.trigger()
    explorer, statistics = window.panels["explorer"], window.panels["statistics"]
    assert isinstance(explorer, ExplorerView)
    qtbot.waitUntil(lambda: explorer.model.rowCount() == 3, timeout=5000)
    qtbot.waitUntil(lambda: statistics.stats is not None, timeout=20000)
    assert statistics.stats.shape.instances == 4

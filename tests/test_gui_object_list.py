"""The image panel's object list and the context masks, in the real main window: the
panel follows the item on the canvas, lists every object with its colour, selects and
hides masks on the canvas, and the keys hide the context masks and the labels."""

from __future__ import annotations

import pytest
from gui_stage_support import coco_project, use_grabcut_worker
from gui_support import open_and_wait, settings_sandbox, window  # noqa: F401 (fixtures)
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from test_gui_stage_segmentation import draw_square

from app.gui.canvas.items import MaskItem, category_color
from app.gui.widgets.image_dock import INSTANCE_ROLE
from pipeline.stages import SEGMENTATION


@pytest.fixture
def work(tiny_coco, tmp_path):
    work = coco_project(tiny_coco, tmp_path, images=2, negatives_per_category=0)
    work.work_until(SEGMENTATION)
    # some masks drawn already: they wait for verification (pending) on the images
    assert work.work(SEGMENTATION, limit=3) == 3
    yield work
    work.project.close()


def open_stage_3(qtbot, window, work):  # noqa: F811
    open_and_wait(qtbot, window, work.project.folder)
    use_grabcut_worker(window.session)
    window.set_stage(SEGMENTATION)
    view = window.views[SEGMENTATION]
    assert view.items, "the test needs open stage-3 items"
    return view


def test_the_panel_follows_the_item_on_the_canvas_and_lists_its_objects(
    qtbot,
    window,  # noqa: F811
    work,
):
    view = open_stage_3(qtbot, window, work)
    dock = window.dock
    shown = view.items[0]
    qtbot.waitUntil(lambda: len(view.items) == 2, timeout=5000)  # one held ahead
    # the panel shows the canvas's image, never the one claimed ahead
    assert dock.image_id == shown.image.id
    summary = dock.summary
    assert summary is not None and summary.image.id == shown.image.id
    rows = dock.object_rows()
    assert {r.data(0, INSTANCE_ROLE) for r in rows} == {a.instance.id for a in summary.annotations}
    # every object has its category's colour; those drawn faintly on the canvas an eye
    layer = view.context
    drawn = [r for r in rows if r.data(0, INSTANCE_ROLE) in layer.items]
    assert drawn, "pending masks of the image are shown as context in stage 3"
    assert shown.instance.id not in layer.items  # the one being drawn is the editor's
    for row in drawn:
        item = layer.items[row.data(0, INSTANCE_ROLE)]
        assert item.color == category_color(item.category_id)
        assert row.checkState(0) == Qt.CheckState.Checked

    # a click on an object selects and highlights its mask on the canvas
    row = drawn[0]
    instance_id = row.data(0, INSTANCE_ROLE)
    with qtbot.waitSignal(dock.instanceSelected):
        rect = dock.tree.visualItemRect(row)
        QTest.mouseClick(dock.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert layer.items[instance_id].isSelected()

    # its eye hides it, and shows it again
    row.setCheckState(0, Qt.CheckState.Unchecked)
    assert not layer.items[instance_id].isVisible()
    row.setCheckState(0, Qt.CheckState.Checked)
    assert layer.items[instance_id].isVisible()

    # Shift+C hides every context mask, Shift+L every label, wherever the focus is
    QTest.keyClick(view.editor.view, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    assert not any(i.isVisible() for i in layer.items.values())
    assert not dock.context_box.isChecked()
    QTest.keyClick(view.editor.view, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    assert all(i.isVisible() for i in layer.items.values())
    scene = view.editor.scene
    assert scene.labels_visible
    QTest.keyClick(view.editor.view, Qt.Key.Key_L, Qt.KeyboardModifier.ShiftModifier)
    assert not scene.labels_visible and scene.label_plan(scene.view_scale) == {}
    QTest.keyClick(view.editor.view, Qt.Key.Key_L, Qt.KeyboardModifier.ShiftModifier)
    assert scene.labels_visible


def test_the_context_comes_back_after_the_proposal_reloads_the_editor(
    qtbot,
    window,  # noqa: F811
    work,
):
    view = open_stage_3(qtbot, window, work)
    layer = view.context
    qtbot.waitUntil(lambda: view.editor.current_mask() is not None, timeout=20000)
    masks = [i for i in view.editor.scene.annotations() if isinstance(i, MaskItem)]
    assert set(layer.items.values()) <= set(masks)
    assert all(item.scene() is view.editor.scene for item in layer.items.values())


def test_an_empty_stage_empties_the_panel(qtbot, window, work):  # noqa: F811
    view = open_stage_3(qtbot, window, work)
    qtbot.waitUntil(lambda: len(view.items) == 2, timeout=5000)
    work.work(SEGMENTATION)  # another annotator takes every item the view does not hold
    assert window.dock.image_id is not None
    for _ in range(4):  # the view's own items: submit a mask for each
        if view.showing_empty():
            break
        if view.editor.current_mask() is None:
            draw_square(view, 10, 10, 40)
        QTest.keyClick(view.editor.view, Qt.Key.Key_Return)
    assert view.showing_empty()
    assert window.dock.image_id is None
    assert window.dock.tree.topLevelItem(0).text(0) == "No image shown"


def test_the_panel_reads_the_image_again_after_an_answer(qtbot, work):
    from app.gui.session import Session
    from app.gui.widgets.image_dock import ImageDock
    from pipeline.stages import VERIFICATION, VerifyAnswer

    session = Session(work.project, "checker")
    dock = ImageDock()
    qtbot.addWidget(dock)
    try:
        item = session.next_item(VERIFICATION)
        assert item is not None
        dock.show_summary(session.image_summary(item.image.id), None, session)

        def state() -> str:
            row = next(
                r for r in dock.object_rows() if r.data(0, INSTANCE_ROLE) == item.instance.id
            )
            return row.text(1)

        assert state() == "pending"
        session.answer(item, VerifyAnswer(True))
        qtbot.waitUntil(lambda: state() == "accepted", timeout=3000)  # not "pending" still
    finally:
        session.close()


def test_stage_4_crops_show_the_images_other_masks_and_shift_c_hides_them(
    qtbot,
    window,  # noqa: F811
    work,
):
    from pipeline.stages import VERIFICATION

    work.work(SEGMENTATION)  # every mask drawn: all wait for verification
    open_and_wait(qtbot, window, work.project.folder)
    window.set_stage(VERIFICATION)
    view = window.views[VERIFICATION]
    assert view.tiles
    crowded = [t for t in view.tiles if view._others(t.item)]
    assert crowded, "the page's images have other masks to show"
    for tile in crowded:  # never the crop's own mask among the others
        own = tile.item.segment.mask
        assert all(mask is not own for mask, _ in view._others(tile.item))
    before = crowded[0].pixmap.toImage()
    QTest.keyClick(view.grid, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    assert not view.context_visible and not window.dock.context_box.isChecked()
    assert crowded[0].pixmap.toImage() != before  # drawn again without them
    QTest.keyClick(view.grid, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    assert view.context_visible
    assert crowded[0].pixmap.toImage() == before

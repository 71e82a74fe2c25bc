"""The explorer as a person sees it: thumbnails show the masks, portrait thumbnails keep
their names, the grid reflows with the window, and "Correct mask…" opens the image at
a useful size with each mask in its category's colour."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from test_gui_explorer import open_first

from app.gui.canvas.items import MaskItem, category_color
from app.gui.panels import panel_size
from app.gui.widgets.explorer import THUMB_HEIGHT
from pipeline import explorer as ex
from pipeline.store import schema as s


@pytest.fixture
def thumbnails(qtbot, explorer):
    """The explorer (conftest) once its three thumbnails are drawn."""
    made, view = explorer
    qtbot.waitUntil(lambda: len(view.model.pixmaps) == 3, timeout=8000)
    return made, view


def pixels(pixmap) -> np.ndarray:
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(bytes(image.constBits()), np.uint8, image.bytesPerLine() * height)
    return data.reshape(height, image.bytesPerLine())[:, : 3 * width].reshape(height, width, 3)


def test_thumbnails_show_the_images_masks(thumbnails):
    made, view = thumbnails
    model = view.model
    for image_id in made.images:
        record = model.records[image_id]
        plain = ex.thumbnail(model.files.path(record.path))
        shown = pixels(model.pixmaps[image_id])
        top, left = (shown.shape[0] - plain.shape[0]) // 2, (shown.shape[1] - plain.shape[1]) // 2
        shown = shown[top : top + plain.shape[0], left : left + plain.shape[1]]  # centred
        with_masks = bool(view.session.image_summary(image_id).context_masks())
        differ = int((np.abs(shown.astype(int) - plain.astype(int)) > 8).any(axis=2).sum())
        if with_masks:
            assert differ > 50, f"image {image_id}: its masks are not drawn"
        else:
            assert differ == 0, f"image {image_id} has no mask, yet its thumbnail changed"


def test_a_portrait_thumbnail_keeps_its_name_in_its_cell(thumbnails):
    made, view = thumbnails
    image_id = made.images[0]
    portrait = QImage(90, 160, QImage.Format.Format_RGB888)
    portrait.fill(Qt.GlobalColor.darkGreen)
    view.model._thumbnail_ready(image_id, portrait)
    pixmap = view.model.pixmaps[image_id]
    assert pixmap.height() == THUMB_HEIGHT
    # every picture has one size: the uniform cells fit each with its name
    assert {p.size().toTuple() for p in view.model.pixmaps.values()} == {(160, THUMB_HEIGHT)}
    row = view.image_ids.index(image_id)
    cell = view.grid.visualRect(view.model.index(row))
    name_height = view.grid.fontMetrics().height()
    assert cell.height() >= pixmap.height() + name_height  # the name is below, in the cell


def test_the_grid_reflows_when_the_window_widens(qtbot, explorer):
    made, view = explorer
    rows_before = {view.grid.visualRect(view.model.index(i)).top() for i in range(3)}
    view.resize(700, 760)
    qtbot.waitUntil(
        lambda: len({view.grid.visualRect(view.model.index(i)).top() for i in range(3)}) == 3,
        timeout=3000,
    )
    view.resize(1920, 1000)
    qtbot.waitUntil(
        lambda: len({view.grid.visualRect(view.model.index(i)).top() for i in range(3)}) == 1,
        timeout=3000,
    )
    assert len(rows_before) <= 2


def test_the_explorer_fills_a_large_screen_and_gives_the_details_a_fair_share(qtbot):
    """It stayed 1200x760 on a 1920x1080 screen, the details pane ~380 px wide."""
    assert panel_size("explorer", QRect(0, 0, 1920, 1040)) == (1728, 936)
    assert panel_size("explorer", QRect(0, 0, 1280, 770)) == (1152, 693)
    assert panel_size("statistics", QRect(0, 0, 1920, 1040)) == (1320, 800)  # as it was
    assert panel_size("explorer", None) == (1200, 760)


def test_at_the_large_screens_size_the_details_pane_is_wide(qtbot, tmp_path):
    from stats_support import build_hand_made

    from app.gui.session import Session
    from app.gui.widgets.explorer import ExplorerView

    made = build_hand_made(tmp_path)
    session = Session(made.project, "editor")
    view = ExplorerView(session)
    try:
        qtbot.addWidget(view)
        view.resize(*panel_size("explorer", QRect(0, 0, 1920, 1040)))
        view.show()
        qtbot.waitExposed(view)
        filters, grid, detail = view.splitter.sizes()
        assert detail >= 0.4 * (grid + detail) and detail >= 600, (filters, grid, detail)
        assert grid >= 4 * 160  # four thumbnail columns
    finally:
        view.close()
        session.close()
        made.project.close()


def test_correct_mask_opens_at_a_useful_size_in_category_colours(qtbot, explorer):
    made, view = explorer
    img0 = made.images[0]
    open_first(qtbot, view, img0)
    entry = next(e for e in view.history.instances if e.annotation.segment is not None)
    view.select_instance(entry.annotation.instance.id)
    QTest.mouseClick(view.correct_button, Qt.MouseButton.LeftButton)
    dialog = view.correction_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=3000)
    assert dialog.size().expandedTo(QSize(900, 700)) == dialog.size()
    editor = dialog.editor
    width, height = editor.scene.image_size
    viewport = editor.view.viewport().size()
    # fitted: the image fills the view (not a 40 px thumbnail in its corner)
    qtbot.waitUntil(
        lambda: (
            max(
                width * editor.view.scale_factor / viewport.width(),
                height * editor.view.scale_factor / viewport.height(),
            )
            > 0.9
        ),
        timeout=3000,
    )
    others = [i for i in editor.scene.annotations() if isinstance(i, MaskItem) and i.label]
    assert others, "the image's other masks are shown"
    for item in others:
        assert item.color == category_color(item.category_id)
    dialog.reject()


LONG_REASON = (
    "too loose: the outline takes in the whole shadow under the cat and a strip of the "
    "sofa behind it, and the left ear is cut off at the top of the box, redraw it tightly"
)


def test_a_long_detail_is_readable_in_full_by_scrolling_the_annotation_tree(qtbot, explorer):
    made, view = explorer
    with made.project.write() as conn:
        conn.execute(s.verdicts.update().values(reason=LONG_REASON))
    open_first(qtbot, view, made.images[0])
    tree = view.tree
    every = Qt.MatchFlag.MatchStartsWith | Qt.MatchFlag.MatchRecursive
    leaf = next(i for i in tree.findItems("verdict by", every) if LONG_REASON in i.text(2))
    text = leaf.text(2)
    assert leaf.toolTip(2) == text  # hovering shows it whole too
    tree.expandItem(leaf.parent())  # the verdicts of a version: shown when it is opened
    # the column widens to the longest value shown, wider than the view: nothing elided ...
    needed = tree.fontMetrics().horizontalAdvance(text)
    qtbot.waitUntil(lambda: tree.columnWidth(2) >= needed, timeout=3000)
    assert tree.columnWidth(0) + tree.columnWidth(1) + needed > tree.viewport().width()
    # ... and the tree scrolls sideways to the value's end
    bar = tree.horizontalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=3000)
    bar.setValue(bar.maximum())
    cell = tree.visualRect(tree.indexFromItem(leaf, 2))
    assert cell.left() + needed <= tree.viewport().width(), (cell, tree.viewport().width())

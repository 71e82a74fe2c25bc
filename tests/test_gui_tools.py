"""Drawing with the MaskEditor's tools through real mouse and key events (offscreen)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from app.gui.editor import MaskEditor
from app.gui.tools.base import PolylinePreview
from pipeline.masks.edits import stroke_pixels
from pipeline.masks.geometry import Mask

W, H = 320, 240
ALT = Qt.KeyboardModifier.AltModifier
NONE = Qt.KeyboardModifier.NoModifier
LEFT = Qt.MouseButton.LeftButton


def picture() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.dstack([(xx * 255 // W), (yy * 255 // H), np.full_like(xx, 90)]).astype(np.uint8)


@pytest.fixture
def editor(qtbot):
    e = MaskEditor()
    qtbot.addWidget(e)
    e.resize(760, 560)
    e.show()
    qtbot.waitExposed(e)
    e.activateWindow()
    e.load(picture())
    # 2 screen px per image px, so that integer image points are whole screen pixels.
    e.view.set_zoom(2.0, QPointF(W / 2, H / 2))
    e.view.setFocus()
    return e


def at(e: MaskEditor, x: float, y: float) -> QPoint:
    p = e.view.image_to_view(QPointF(x, y))
    assert p.x() == round(p.x()) and p.y() == round(p.y())  # exact, no rounding below
    return p.toPoint()


def click(e: MaskEditor, x: float, y: float, mods=NONE) -> None:
    QTest.mouseClick(e.view.viewport(), LEFT, mods, at(e, x, y))


def drag(e: MaskEditor, points: list[tuple[float, float]]) -> None:
    vp = e.view.viewport()
    QTest.mousePress(vp, LEFT, NONE, at(e, *points[0]))
    for x, y in points[1:]:
        QTest.mouseMove(vp, at(e, x, y))
    QTest.mouseRelease(vp, LEFT, NONE, at(e, *points[-1]))


def key(e: MaskEditor, k, mods=NONE) -> None:
    QTest.keyClick(e.view, k, mods)


def draw_polygon(e: MaskEditor, points, mods=NONE, close_with_enter=True) -> None:
    for x, y in points:
        click(e, x, y, mods)
    if close_with_enter:
        key(e, Qt.Key.Key_Return)


SQUARE = [(10, 10), (60, 10), (60, 50), (10, 50)]
HOLE = [(20, 20), (30, 20), (30, 30), (20, 30)]


def test_a_polygon_drawn_by_clicks_gives_the_expected_mask(editor):
    changes = []
    editor.maskChanged.connect(changes.append)
    draw_polygon(editor, SQUARE)
    mask = editor.current_mask()
    assert mask.kind == "polygon" and mask.area == 50 * 40
    assert mask.bbox == (10.0, 10.0, 50.0, 40.0)
    assert sorted(map(tuple, mask.parts[0].exterior.tolist())) == sorted(
        (float(x), float(y)) for x, y in SQUARE
    )
    assert changes[-1] is mask and editor.tool_used() == "polygon"


def test_a_click_on_the_first_vertex_closes_the_polygon(editor):
    triangle = [(100, 100), (150, 100), (100, 150)]
    for x, y in triangle:
        click(editor, x, y)
    click(editor, 101, 101)  # within a few screen pixels of the first vertex
    mask = editor.current_mask()
    assert mask is not None and len(mask.parts[0].exterior) == 3
    assert mask.area == Mask.from_polygons([triangle], H, W).area


def test_backspace_removes_the_last_vertex_and_esc_cancels(editor):
    previews = []
    editor.tool.previewChanged.connect(previews.append)
    for x, y in [(10, 10), (60, 10), (200, 200)]:
        click(editor, x, y)
    key(editor, Qt.Key.Key_Backspace)
    assert editor.tool.points == [(10.0, 10.0), (60.0, 10.0)]
    assert isinstance(previews[-1], PolylinePreview) and len(previews[-1].points) == 2
    click(editor, 60, 50)
    key(editor, Qt.Key.Key_Escape)
    assert editor.tool.points == [] and editor.current_mask() is None
    assert editor.preview.preview is None


def test_a_polygon_drawn_with_alt_cuts_a_hole_of_its_area(editor):
    draw_polygon(editor, SQUARE)
    before = editor.current_mask().area
    draw_polygon(editor, HOLE, mods=ALT)
    mask = editor.current_mask()
    assert mask.has_holes
    assert mask.area == before - Mask.from_polygons([HOLE], H, W).area == before - 100
    # The hole tool does the same without Alt.
    QTest.keyClick(editor.view, Qt.Key.Key_H)
    assert editor.tool.name == "hole"
    draw_polygon(editor, [(40, 20), (50, 20), (50, 30), (40, 30)])
    assert editor.current_mask().area == before - 200


def test_a_brush_stroke_and_an_eraser_stroke_change_exactly_the_expected_pixels(editor):
    QTest.keyClick(editor.view, Qt.Key.Key_B)
    assert editor.tool.name == "brush"
    editor.radius.set(4.0)
    key(editor, Qt.Key.Key_BracketRight)
    assert editor.radius.value == 5.0
    key(editor, Qt.Key.Key_BracketLeft)
    assert editor.radius.value == 4.0
    drag(editor, [(40, 30), (60, 30), (80, 30)])
    painted = editor.current_mask().to_bitmap()
    expected = stroke_pixels([(40, 30), (60, 30), (80, 30)], 4.0, H, W)
    assert np.array_equal(painted, expected)
    assert editor.current_mask().kind == "rle"
    QTest.keyClick(editor.view, Qt.Key.Key_E)
    assert editor.tool.name == "eraser"
    drag(editor, [(60, 20), (60, 40)])
    erased = editor.current_mask().to_bitmap()
    cut = stroke_pixels([(60, 20), (60, 40)], 4.0, H, W)
    assert np.array_equal(erased, expected & (1 - cut))
    assert int(expected.sum()) - int(erased.sum()) == int((expected & cut).sum()) > 0


def test_vertex_drag_insert_and_delete(editor):
    draw_polygon(editor, SQUARE)
    QTest.keyClick(editor.view, Qt.Key.Key_V)
    assert editor.tool.name == "vertex"
    drag(editor, [(60, 50), (65, 55), (70, 60)])
    mask = editor.current_mask()
    assert (70.0, 60.0) in map(tuple, mask.parts[0].exterior.tolist())
    assert (60.0, 50.0) not in map(tuple, mask.parts[0].exterior.tolist())
    assert editor.undo_stack().count() == 2  # one drag, one undo step
    QTest.mouseDClick(editor.view.viewport(), LEFT, NONE, at(editor, 35, 10))
    mask = editor.current_mask()
    assert len(mask.parts[0].exterior) == 5
    assert (35.0, 10.0) in map(tuple, mask.parts[0].exterior.tolist())
    # Select the new vertex and delete it.
    click(editor, 35, 10)
    key(editor, Qt.Key.Key_Delete)
    mask = editor.current_mask()
    assert len(mask.parts[0].exterior) == 4
    assert (35.0, 10.0) not in map(tuple, mask.parts[0].exterior.tolist())


def test_the_vertex_tool_traces_a_painted_mask_first_as_an_undo_step(editor):
    QTest.keyClick(editor.view, Qt.Key.Key_B)
    editor.radius.set(10)
    drag(editor, [(100, 100)])
    QTest.keyClick(editor.view, Qt.Key.Key_V)
    assert editor.current_mask().kind == "polygon"
    assert editor.undo_stack().undoText() == "Trace mask into polygons"
    key(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.current_mask().kind == "rle"


def test_undo_goes_back_to_empty_and_redo_returns_the_same_bytes(editor):
    states = []
    draw_polygon(editor, SQUARE)
    states.append(editor.current_mask().to_bytes())
    draw_polygon(editor, HOLE, mods=ALT)
    states.append(editor.current_mask().to_bytes())
    QTest.keyClick(editor.view, Qt.Key.Key_B)
    editor.radius.set(3)
    drag(editor, [(100, 100), (120, 110)])
    states.append(editor.current_mask().to_bytes())
    ctrl = Qt.KeyboardModifier.ControlModifier
    for expected in [states[1], states[0], None]:
        key(editor, Qt.Key.Key_Z, ctrl)
        mask = editor.current_mask()
        assert (mask.to_bytes() if mask else None) == expected
    key(editor, Qt.Key.Key_Z, ctrl)  # nothing more to undo
    assert editor.current_mask() is None
    key(editor, Qt.Key.Key_Z, ctrl | Qt.KeyboardModifier.ShiftModifier)
    assert editor.current_mask().to_bytes() == states[0]
    key(editor, Qt.Key.Key_Y, ctrl)
    key(editor, Qt.Key.Key_Y, ctrl)
    assert editor.current_mask().to_bytes() == states[2]
    assert editor.undo_stack().count() == 3 and editor.undo_stack().undoLimit() == 0


def test_each_image_gets_a_fresh_undo_stack_and_a_draft_to_start_from(editor):
    draw_polygon(editor, SQUARE)
    stacks = []
    editor.undoStackChanged.connect(stacks.append)
    draft = Mask.from_box((5, 5, 20, 20), H, W)
    editor.load(picture(), draft=draft, draft_tool="brush")
    assert stacks and stacks[-1] is editor.undo_stack() and editor.undo_stack().count() == 0
    assert editor.current_mask() is draft and editor.tool_used() == "brush"


def test_the_box_tool_adds_a_rectangle(editor):
    QTest.keyClick(editor.view, Qt.Key.Key_X)
    drag(editor, [(100, 100), (130, 120), (140, 130)])
    assert editor.current_mask().area == 40 * 30 and editor.tool_used() == "box"


def test_the_point_tool_reports_the_clicked_point(editor):
    got = []
    editor.pointAdded.connect(lambda x, y: got.append((x, y)))
    QTest.keyClick(editor.view, Qt.Key.Key_Period)
    assert editor.tool.name == "point"
    click(editor, 42, 17)
    assert got == [(42.0, 17.0)] and editor.current_mask() is None


def test_opacity_slider_and_show_hide_change_the_masks(editor):
    draw_polygon(editor, SQUARE)
    editor.opacity.setValue(80)
    assert editor._item._fill_opacity == pytest.approx(0.8)
    editor.show_action.trigger()
    assert not editor._item.isVisible()
    editor.show_action.trigger()
    assert editor._item.isVisible()


# ---------------------------------------------------------------- screenshots


@pytest.fixture
def coco_editor(qtbot, tiny_coco):
    data = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    image = next(i for i in data["images"] if i["file_name"] == "000000397133.jpg")
    names = {c["id"]: c["name"] for c in data["categories"]}
    context = [
        (
            Mask.from_coco(a["segmentation"], image["height"], image["width"]),
            names[a["category_id"]],
            a["category_id"],
        )
        for a in data["annotations"]
        if a["image_id"] == image["id"] and a["category_id"] != 1
    ]
    e = MaskEditor()
    qtbot.addWidget(e)
    e.resize(1000, 700)
    e.show()
    qtbot.waitExposed(e)
    e.activateWindow()
    e.load(tiny_coco / "val2017" / image["file_name"], context, category_id=1)
    e.view.fit()
    e.view.setFocus()
    return e


def _fit_then(e: MaskEditor, zoom: float, cx: float, cy: float) -> None:
    e.view.set_zoom(zoom, QPointF(cx, cy))
    # Whole screen pixels per image pixel offset keep the clicks exact.
    e.view.pan_by(0, 0)


def _save(e: MaskEditor, folder: Path, name: str) -> None:
    assert e.grab().save(str(folder / name))
    assert (folder / name).stat().st_size > 0


def test_screenshots_of_each_tool_in_use(coco_editor, screenshot_dir):
    e = coco_editor
    _fit_then(e, 2.0, 430, 250)
    person = [(400, 120), (440, 115), (470, 160), (480, 260), (470, 330), (430, 330), (410, 260)]
    for x, y in person[:-1]:
        click(e, x, y)
    QTest.mouseMove(e.view.viewport(), at(e, *person[-1]))
    _save(e, screenshot_dir, "tool-polygon.png")
    click(e, *person[-1])
    key(e, Qt.Key.Key_Return)
    QTest.keyClick(e.view, Qt.Key.Key_H)
    for x, y in [(425, 200), (455, 200), (455, 240)]:
        click(e, x, y)
    QTest.mouseMove(e.view.viewport(), at(e, 425, 240))
    _save(e, screenshot_dir, "tool-hole.png")
    click(e, 425, 240)
    key(e, Qt.Key.Key_Return)
    assert e.current_mask().has_holes
    QTest.keyClick(e.view, Qt.Key.Key_B)
    e.radius.set(9)
    vp = e.view.viewport()
    QTest.mousePress(vp, LEFT, NONE, at(e, 480, 260))
    for x, y in [(490, 280), (500, 300), (505, 320)]:
        QTest.mouseMove(vp, at(e, x, y))
    _save(e, screenshot_dir, "tool-brush.png")
    QTest.mouseRelease(vp, LEFT, NONE, at(e, 505, 320))
    key(e, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(e.view, Qt.Key.Key_V)
    QTest.mousePress(vp, LEFT, NONE, at(e, 470, 160))
    QTest.mouseMove(vp, at(e, 478, 150))
    QTest.mouseMove(vp, at(e, 486, 142))
    _save(e, screenshot_dir, "tool-vertex.png")
    QTest.mouseRelease(vp, LEFT, NONE, at(e, 486, 142))
    assert (486.0, 142.0) in map(tuple, e.current_mask().parts[0].exterior.tolist())

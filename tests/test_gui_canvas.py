"""The canvas: items, zoom about the cursor, pan, fit, 1:1, exact coordinates, tiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gui_support import wheel
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from app.gui.canvas import (
    AnnotationScene,
    CanvasView,
    MaskItem,
    category_color,
    tiles,
)
from pipeline.masks.geometry import Mask, PolygonPart

W, H = 320, 240


def picture(width: int = W, height: int = H) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.dstack([(xx * 255 // width), (yy * 255 // height), np.full_like(xx, 90)]).astype(
        np.uint8
    )


@pytest.fixture
def view(qtbot):
    v = CanvasView()
    qtbot.addWidget(v)
    v.resize(640, 480)
    v.show()
    qtbot.waitExposed(v)
    v.set_image(picture())
    return v


def holed_mask() -> Mask:
    part = PolygonPart(
        [(40, 40), (200, 40), (200, 180), (40, 180)],
        ([(80, 80), (120, 80), (120, 120), (80, 120)],),
    )
    return Mask.from_polygons([part], H, W)


def test_a_polygon_mask_is_one_path_item_whose_holes_stay_open(view):
    item = view.annotation_scene.add_mask(holed_mask(), "cat", category_id=3)
    assert isinstance(item, MaskItem)
    assert item.path.contains(QPointF(60, 60))
    assert not item.path.contains(QPointF(100, 100))  # inside the hole
    assert item.color == category_color(3)


def test_an_rle_mask_is_a_cached_overlay_image_with_its_outline(view):
    bitmap = np.zeros((H, W), np.uint8)
    bitmap[50:70, 30:90] = 1
    bitmap[55:60, 40:50] = 0  # a hole
    item = view.annotation_scene.add_mask(Mask.from_bitmap(bitmap), "dog", category_id=1)
    assert item._image.width() == 60 and item._image.height() == 20
    assert item.path.contains(QPointF(35, 65)) and not item.path.contains(QPointF(45, 57))
    assert item.baked  # drawn into the view's cached background


def test_opacity_slider_and_show_hide_reach_every_mask(view):
    scene = view.annotation_scene
    items = [scene.add_mask(holed_mask(), category_id=i) for i in range(3)]
    scene.set_opacity(0.8)
    assert all(i._fill_opacity == 0.8 for i in items)
    scene.set_annotations_visible(False)
    assert not any(i.isVisible() for i in items)
    scene.set_annotations_visible(True)
    assert all(i.isVisible() for i in items)


def test_hover_highlights_the_mask_under_the_mouse(view, qtbot):
    item = view.annotation_scene.add_mask(holed_mask(), category_id=2)
    inside = view.image_to_view(QPointF(60, 60)).toPoint()
    no_contents = item.GraphicsItemFlag.ItemHasNoContents
    # A static mask is drawn in the view's cached background; the item itself paints
    # only its highlight, so it has no contents of its own until hovered.
    assert item.baked and item.flags() & no_contents
    QTest.mouseMove(view.viewport(), inside)
    qtbot.waitUntil(lambda: item.hovered, timeout=2000)
    assert not item.flags() & no_contents
    QTest.mouseMove(view.viewport(), view.image_to_view(QPointF(100, 100)).toPoint())
    qtbot.waitUntil(lambda: not item.hovered, timeout=2000)
    assert item.flags() & no_contents


def test_image_coordinates_stay_exact_at_400_percent_zoom(view, qtbot):
    view.set_zoom(4.0, QPointF(100, 80))
    assert view.scale_factor == 4.0
    got: list[QPointF] = []
    view.clicked.connect(lambda p, *_: got.append(p))
    for x, y in [(100.5, 80.5), (93.25, 77.75), (110.0, 85.0)]:
        at = view.image_to_view(QPointF(x, y))
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=at.toPoint())
        p = got[-1]
        # One screen pixel is a quarter of an image pixel: the click lands within it.
        assert abs(p.x() - x) <= 0.5 / 4 and abs(p.y() - y) <= 0.5 / 4
    # The pixel under a click is the pixel whose square the cursor is in.
    at = view.image_to_view(QPointF(100.5, 80.5))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=at.toPoint())
    assert (int(got[-1].x()), int(got[-1].y())) == (100, 80)


def test_wheel_zoom_keeps_the_image_point_under_the_cursor(view):
    at = QPointF(200, 150)
    before = view.view_to_image(at)
    wheel(view, at, 3)
    assert view.scale_factor > 1.9
    after = view.view_to_image(at)
    assert abs(after.x() - before.x()) < 1 / view.scale_factor
    assert abs(after.y() - before.y()) < 1 / view.scale_factor


def test_zoom_pan_and_fit_leave_the_geometry_unchanged(view, qtbot):
    mask = holed_mask()
    item = view.annotation_scene.add_mask(mask)
    data = mask.to_bytes()
    path_before = item.path.boundingRect()
    wheel(view, QPointF(300, 200), 2)
    # Middle-button pan, then Space + left-drag pan.
    start = view.image_to_view(QPointF(100, 100))
    QTest.mousePress(view.viewport(), Qt.MouseButton.MiddleButton, pos=start.toPoint())
    QTest.mouseMove(view.viewport(), (start + QPointF(-60, -40)).toPoint())
    QTest.mouseRelease(
        view.viewport(), Qt.MouseButton.MiddleButton, pos=(start + QPointF(-60, -40)).toPoint()
    )
    moved = view.image_to_view(QPointF(100, 100))
    assert abs(moved.x() - (start.x() - 60)) <= 1 and abs(moved.y() - (start.y() - 40)) <= 1
    QTest.keyPress(view.viewport(), Qt.Key.Key_Space)
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(300, 300))
    QTest.mouseMove(view.viewport(), QPoint(330, 310))
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(330, 310))
    QTest.keyRelease(view.viewport(), Qt.Key.Key_Space)
    again = view.image_to_view(QPointF(100, 100))
    assert abs(again.x() - (moved.x() + 30)) <= 1 and abs(again.y() - (moved.y() + 10)) <= 1
    QTest.keyClick(view.viewport(), Qt.Key.Key_1)
    assert view.scale_factor == 1.0
    QTest.keyClick(view.viewport(), Qt.Key.Key_F)
    shown = view.visible_image_rect()
    assert shown.width() == pytest.approx(W) and shown.height() == pytest.approx(H)
    assert item.mask.to_bytes() == data and item.path.boundingRect() == path_before


def test_a_large_image_shows_a_preview_first_and_sharpens_by_tiles(
    qtbot, tmp_path: Path, monkeypatch
):
    # The real sizes (8000 x 6000) are in bench/canvas.py; the mechanism at a small size.
    monkeypatch.setattr(tiles, "TILED_ABOVE", 400)
    monkeypatch.setattr(tiles, "PREVIEW_SIDE", 200)
    monkeypatch.setattr(tiles, "TILE", 128)
    from PIL import Image

    path = tmp_path / "large.jpg"
    Image.fromarray(picture(1000, 700)).save(path, quality=90)
    v = CanvasView()
    qtbot.addWidget(v)
    v.resize(180, 130)
    v.show()
    v.set_image(path)
    image = v.annotation_scene.image_item
    assert (image.width, image.height) == (1000, 700) and image.tiled
    assert image._preview.width() <= 200
    assert image.wait_full_resolution(10)
    v.grab()
    assert image.cached_tiles == 0  # fitted: the preview is sharp enough
    v.set_zoom(0.4, QPointF(500, 350))
    v.grab()
    assert image.cached_tiles == 0  # while the zoom moves, the preview is drawn scaled
    v.settle()
    v.grab()
    # Between the preview and 1:1: half-resolution tiles (256 image px), only those in view.
    assert image._tiles and all(level == 1 for level, _, _ in image._tiles)
    v.set_zoom(2.0, QPointF(500, 350))
    before = set(image._tiles)
    v.grab()
    assert set(image._tiles) == before  # the quick look: no tile made in a zoom step
    with qtbot.waitSignal(v.backgroundSettled, timeout=10000):
        pass  # the settle makes the tiles in view, one per piece of work
    full = {key for key in image._tiles if key not in before}
    assert full
    v.grab()
    assert {key for key in image._tiles if key not in before} == full  # none in the paint
    assert full and all(level == 0 for level, _, _ in full) and len(full) <= 4


def test_a_missing_image_file_says_which(qtbot, tmp_path: Path):
    from pipeline.errors import ImageError

    v = CanvasView()
    qtbot.addWidget(v)
    with pytest.raises(ImageError, match="nothere.jpg"):
        v.set_image(tmp_path / "nothere.jpg")


def test_canvas_screenshot_of_a_tiny_coco_image_with_its_masks(qtbot, tiny_coco, screenshot_dir):
    data = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    image = next(i for i in data["images"] if i["file_name"] == "000000397133.jpg")
    v = CanvasView(AnnotationScene())
    qtbot.addWidget(v)
    v.resize(960, 660)
    v.show()
    v.set_image(tiny_coco / "val2017" / image["file_name"])
    shown = 0
    for a in data["annotations"]:
        if a["image_id"] == image["id"]:
            mask = Mask.from_coco(a["segmentation"], image["height"], image["width"])
            v.annotation_scene.add_mask(mask, names[a["category_id"]], category_id=a["category_id"])
            shown += 1
    v.fit()
    assert shown > 5
    out = screenshot_dir / "canvas-tiny-coco.png"
    assert v.grab().save(str(out))
    assert out.stat().st_size > 0


def test_a_click_without_a_tool_selects_the_mask_under_it(view):
    item = view.annotation_scene.add_mask(holed_mask(), category_id=2)
    QTest.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        pos=view.image_to_view(QPointF(60, 60)).toPoint(),
    )
    assert item.isSelected()
    QTest.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        pos=view.image_to_view(QPointF(100, 100)).toPoint(),
    )
    assert not item.isSelected()  # the hole is not the mask

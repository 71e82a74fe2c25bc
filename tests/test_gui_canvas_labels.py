"""Mask labels in a dense image: no two drawn labels overlap at any zoom, a long one is
elided, and labels can be hidden (the scene's placement, drawn by the real view)."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QApplication

from app.gui.canvas import CanvasView
from app.gui.canvas.items import LABEL_MAX_PX, MaskItem, label_size
from pipeline.masks.geometry import Mask


def square(x: float, y: float, side: float = 30.0) -> Mask:
    ring = np.array([[x, y], [x + side, y], [x + side, y + side], [x, y + side]], float)
    return Mask.from_polygons([ring.ravel().tolist()], 400, 600)


def placed_rects(scene, scale):
    plan = scene.label_plan(scale)
    rects = []
    for item in scene.annotations():
        if id(item) in plan:
            x, y, dx, dy = item.label_origin()
            _, w, h = label_size(item.label)
            top = y * scale + dy if plan[id(item)] else y * scale + dy - h
            rects.append((x * scale + dx, top, x * scale + dx + w, top + h))
    return rects


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_dense_labels_never_overlap_and_can_be_hidden(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(800, 560)
    view.show()
    view.set_image(np.zeros((400, 600, 3), np.uint8))
    scene = view.annotation_scene
    # 60 chairs 8 px apart: their labels ("chair 12") would pile on each other
    for k in range(60):
        scene.add_mask(square(20 + 8 * (k % 10), 20 + 6 * (k // 10)), f"chair {k}", category_id=k)
    scene.add_point(100, 100, "a point's label")
    top = scene.add_mask(square(400, 0), "at the top edge", category_id=3)
    view.fit()
    QApplication.processEvents()
    for scale in (0.5, view.scale_factor, 2.0, 4.0):
        rects = placed_rects(scene, scale)
        assert rects, "some labels are shown"
        assert not any(
            overlaps(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :]
        ), f"labels overlap at zoom {scale}"
    # zoomed in, there is room for more of them
    assert len(placed_rects(scene, 4.0)) > len(placed_rects(scene, 0.5))
    # a label that would stick out above the image hangs below its anchor instead
    assert all(scene.label_plan(scale)[id(top)] is True for scale in (0.5, 1.0, 3.0))
    # the point (what a view works on) keeps its label before any mask's
    point = next(i for i in scene.annotations() if i.label == "a point's label")
    assert id(point) in scene.label_plan(0.5)
    # the looks a layer is rendered from carry only the placed labels
    shown = [look for look in scene.static_looks() if look.label]
    assert len(shown) == sum(
        1
        for i in scene.annotations()
        if isinstance(i, MaskItem) and i.label and i.label_place() is not None
    )

    scene.set_labels_visible(False)
    assert scene.label_plan(view.scale_factor) == {}
    assert not any(look.label for look in scene.static_looks())
    assert point.label_place() is None
    scene.set_labels_visible(True)
    assert scene.label_plan(view.scale_factor)


def test_a_long_label_is_elided_to_its_maximum_width(qtbot):
    text, width, _ = label_size("a television set with a very long name indeed, and more")
    assert text.endswith("\u2026")
    assert width <= LABEL_MAX_PX + 10

"""Mask geometry: conversions, area/bbox/IoU against pycocotools, validation, storage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as mask_utils

from pipeline.errors import GeometryError
from pipeline.masks.geometry import (
    Mask,
    PolygonPart,
    box_iou,
    boxes_agree,
    polygon_problems,
    repair_part,
    validate_polygons,
)

# ---------------------------------------------------------------- strategies


@st.composite
def bitmaps(draw, max_side: int = 24):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    return draw(arrays(np.uint8, (h, w), elements=st.integers(0, 1)))


@st.composite
def star_polygons(draw):
    """A simple polygon (star-shaped around its centre) inside a random image."""
    width = draw(st.integers(20, 200))
    height = draw(st.integers(20, 200))
    n = draw(st.integers(3, 20))
    cx = draw(st.floats(5, width - 5))
    cy = draw(st.floats(5, height - 5))
    limit = min(cx, cy, width - cx, height - cy)
    radii = draw(st.lists(st.floats(0.3 * limit, limit), min_size=n, max_size=n))
    angles = np.sort(np.asarray(draw(st.lists(st.floats(0, 2 * np.pi), min_size=n, max_size=n, unique=True))))
    if np.any(np.diff(np.concatenate([angles, [angles[0] + 2 * np.pi]])) < 1e-3):
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    xs = cx + np.asarray(radii) * np.cos(angles)
    ys = cy + np.asarray(radii) * np.sin(angles)
    flat = np.stack([xs, ys], axis=1).reshape(-1).round(2).tolist()
    return flat, height, width


# ---------------------------------------------------------------- round trips


@settings(max_examples=150, deadline=None)
@given(bitmaps())
def test_bitmap_rle_bitmap_is_exact(bitmap):
    mask = Mask.from_bitmap(bitmap)
    assert np.array_equal(mask.to_bitmap(), bitmap)
    assert mask.area == int(bitmap.sum())


@settings(max_examples=150, deadline=None)
@given(bitmaps())
def test_bitmap_polygons_bitmap_is_exact(bitmap):
    """Tracing along pixel corners keeps every pixel, holes and diagonal touches included."""
    mask = Mask.from_bitmap(bitmap)
    if mask.area == 0:
        with pytest.raises(GeometryError):
            mask.to_polygons()
        return
    traced = mask.to_polygons()
    assert traced.kind == "polygon"
    assert np.array_equal(traced.to_bitmap(), bitmap)


@settings(max_examples=100, deadline=None)
@given(star_polygons())
def test_polygon_rle_polygon_round_trip(case):
    flat, height, width = case
    mask = Mask.from_coco([flat], height, width)
    reference = mask_utils.merge(mask_utils.frPyObjects([flat], height, width))
    assert mask.area == int(mask_utils.area(reference))
    rle = Mask.from_coco(mask.coco_rle(), height, width)
    assert np.array_equal(rle.to_bitmap(), mask.to_bitmap())
    if mask.area:
        back = rle.to_polygons()
        assert back.iou(mask) == pytest.approx(1.0)


@settings(max_examples=100, deadline=None)
@given(st.one_of(star_polygons().map(lambda c: Mask.from_coco([c[0]], c[1], c[2])), bitmaps().filter(lambda b: b.any()).map(Mask.from_bitmap)))
def test_storage_round_trip_is_lossless(mask):
    kind, data = mask.to_bytes()
    back = Mask.from_bytes(kind, data, mask.height, mask.width)
    assert back.kind == mask.kind
    assert np.array_equal(back.to_bitmap(), mask.to_bitmap())
    assert back.bbox == mask.bbox
    if mask.kind == "polygon":
        for a, b in zip(back.parts, mask.parts, strict=True):
            assert np.array_equal(a.exterior, b.exterior)


# ---------------------------------------------------------------- area, bbox, IoU


def test_box_mask_area_bbox():
    mask = Mask.from_box((10, 5, 20, 8), 40, 50)
    assert mask.area == 160
    assert mask.bbox == (10.0, 5.0, 20.0, 8.0)
    assert mask.to_bitmap()[5:13, 10:30].all()


def test_bbox_of_polygon_is_its_extent_and_rle_bbox_matches_pycocotools():
    flat = [3.5, 4.25, 30.0, 6.0, 18.0, 25.75]
    mask = Mask.from_coco([flat], 40, 40)
    assert mask.bbox == (3.5, 4.25, 26.5, 21.5)
    rle = mask.to_rle_mask()
    assert list(rle.bbox) == pytest.approx(mask_utils.toBbox(mask.rle).tolist())


def test_iou_matches_pycocotools_and_is_symmetric():
    a = Mask.from_box((0, 0, 10, 10), 20, 20)
    b = Mask.from_box((5, 0, 10, 10), 20, 20)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert b.iou(a) == pytest.approx(a.iou(b))
    assert a.iou(a) == 1.0
    with pytest.raises(GeometryError, match="cannot compare"):
        a.iou(Mask.from_box((0, 0, 1, 1), 10, 10))


def test_box_iou_and_agreement():
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 1, 1), (5, 5, 1, 1)) == 0.0
    assert boxes_agree((0, 0, 10, 10), (0.5, 0, 10, 10.4))
    assert not boxes_agree((0, 0, 10, 10), (0, 0, 12, 10))


# ---------------------------------------------------------------- holes


def test_polygon_with_hole():
    outer = [(0, 0), (20, 0), (20, 20), (0, 20)]
    hole = [(5, 5), (15, 5), (15, 15), (5, 15)]
    mask = Mask.from_polygons([PolygonPart(outer, (hole,))], 30, 30)
    assert mask.has_holes
    assert mask.area == 400 - 100
    assert mask.to_bitmap()[10, 10] == 0
    assert mask.to_bitmap()[2, 2] == 1
    auto = mask.to_coco("auto")
    assert isinstance(auto.segmentation, dict)  # holes go out as RLE
    assert auto.changed == 0 and auto.area == 300
    polygons = mask.to_coco("polygon")
    assert len(polygons.segmentation) == 1 and polygons.changed == 100  # the hole is filled
    assert polygons.area == 400  # the area of what is written, not of the mask
    traced = mask.to_rle_mask().to_polygons()
    assert traced.has_holes and np.array_equal(traced.to_bitmap(), mask.to_bitmap())


def test_part_inside_another_parts_hole_stays_filled():
    ring = PolygonPart([(0, 0), (30, 0), (30, 30), (0, 30)], ([(5, 5), (25, 5), (25, 25), (5, 25)],))
    island = PolygonPart([(10, 10), (20, 10), (20, 20), (10, 20)])
    mask = Mask.from_polygons([ring, island], 40, 40)
    assert mask.area == 900 - 400 + 100


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("coords", "reason"),
    [
        ([1, 1, 5, 5], "needs at least 6"),
        ([1, 1, 5, 5, 9, 1, 3], "odd number"),
        ([1, 1, 5, 5, 90, 1], "outside the 50x40 image"),
        ([1, 1, 2, 2, 3, 3], "zero area"),
        ("1,2,3", "must be a list"),
        ([1, 1, 5, float("nan"), 9, 1], "finite"),
    ],
)
def test_polygon_problems_name_the_reason(coords, reason):
    problems = polygon_problems(coords, 50, 40)
    assert problems and any(reason in p for p in problems), problems


def test_good_polygon_has_no_problems():
    assert polygon_problems([0, 0, 50, 0, 50, 40], 50, 40) == []


def test_self_intersection_is_repaired_or_rejected():
    bowtie = [0, 0, 10, 10, 10, 0, 0, 10]
    mask, notes = validate_polygons([bowtie], 20, 20, repair=True)
    assert len(mask.parts) == 2 and notes and "repaired" in notes[0]
    assert mask.area > 0
    with pytest.raises(GeometryError, match="not simple"):
        validate_polygons([bowtie], 20, 20, repair=False)
    assert len(repair_part(PolygonPart([(0, 0), (10, 0), (0, 10)]))) == 1


def test_validate_lists_every_problem_with_its_part():
    with pytest.raises(GeometryError) as info:
        validate_polygons([[0, 0, 1], [0, 0, 5, 0, 99, 5]], 10, 10)
    message = str(info.value)
    assert "part 0" in message and "part 1" in message and "outside" in message


# ---------------------------------------------------------------- RLE input


def test_uncompressed_and_compressed_rle_agree():
    bitmap = np.zeros((6, 5), np.uint8)
    bitmap[1:4, 2:5] = 1
    compressed = Mask.from_bitmap(bitmap).coco_rle()
    counts = []  # column-major runs, starting with zeros
    flat = bitmap.flatten(order="F")
    value, run = 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    a = Mask.from_coco({"size": [6, 5], "counts": counts}, 6, 5)
    b = Mask.from_coco(compressed, 6, 5)
    assert np.array_equal(a.to_bitmap(), bitmap) and np.array_equal(b.to_bitmap(), bitmap)


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ({"size": [6, 5], "counts": [10, 5]}, "sum to 15"),
        ({"size": [7, 5], "counts": [35]}, "is 5x7"),
        ({"counts": [30]}, "needs 'size'"),
        ({"size": [6, 5], "counts": [10, -2, 22]}, "non-negative"),
        ({"size": [6, 5], "counts": 12}, "string or a list"),
    ],
)
def test_bad_rle_is_refused_with_a_reason(rle, message):
    with pytest.raises(GeometryError, match=message):
        Mask.from_coco(rle, 6, 5)


def test_mask_needs_exactly_one_form_and_a_size():
    with pytest.raises(GeometryError):
        Mask(10, 10)
    with pytest.raises(GeometryError):
        Mask.from_polygons([], 10, 10)
    with pytest.raises(GeometryError, match="positive size"):
        Mask.from_box((0, 0, 1, 1), 0, 10)

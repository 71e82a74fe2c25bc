"""Clicks refine every proposal: the fallback's GrabCut seeds, the model's refinement, bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import fallback as F
from model.predictor import FallbackPredictor, Predictor
from model.weights import WeightsReport
from model.zoo import build_model


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def two_parts(height: int = 120, width: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A red body and a blue arm (one object) on green, with a red decoy beside it."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (40, 110, 40)
    truth = np.zeros((height, width), np.uint8)
    truth[30:90, 30:90] = 1  # the body
    truth[50:70, 90:140] = 1  # the arm, another colour
    image[30:90, 30:90] = (220, 50, 50)
    image[50:70, 90:140] = (50, 50, 220)
    rng = np.random.default_rng(0)
    image = np.clip(image.astype(int) + rng.integers(-12, 12, image.shape), 0, 255)
    return image.astype(np.uint8), truth


def test_a_positive_click_outside_the_box_brings_in_the_missed_part():
    image, truth = two_parts()
    body_box = (28, 28, 64, 64)  # the box drawn around the body alone
    alone = F.box_to_mask(image, body_box).bitmap
    assert not alone[55:65, 110:135].any()  # the arm is outside the box
    clicked = F.box_to_mask(image, body_box, points=[(120, 60, True)]).bitmap
    assert clicked[55:65, 100:135].mean() > 0.9
    assert _iou(clicked, truth) > _iou(alone, truth) + 0.15


def test_a_negative_click_takes_out_a_false_area():
    image, truth = two_parts()
    box = (28, 28, 114, 64)  # body and arm
    arm_out = F.box_to_mask(image, box, points=[(125, 60, False)]).bitmap
    assert arm_out[60, 125] == 0
    assert arm_out[40:80, 40:80].mean() > 0.9  # the body stays


def test_the_clicked_pixel_always_agrees_with_its_click():
    image, _ = two_parts()
    for points in ([(20, 20, True)], [(60, 60, False)], [(120, 60, True), (60, 60, False)]):
        bitmap = F.box_to_mask(image, (28, 28, 114, 64), points=points).bitmap
        for x, y, positive in points:
            assert bitmap[y, x] == int(positive), points


def test_clicks_are_deterministic():
    image, _ = two_parts()
    points = [(120, 60, True), (40, 40, False)]
    first = F.box_to_mask(image, (28, 28, 64, 64), points=points).bitmap
    for _ in range(3):
        assert np.array_equal(F.box_to_mask(image, (28, 28, 64, 64), points=points).bitmap, first)


def test_the_fallback_predictor_takes_clicks_on_boxes_and_points():
    image, truth = two_parts()
    predictor = FallbackPredictor(["thing"])
    found = predictor.box_to_mask(image, (28, 28, 64, 64), points=[(120, 60, True)])
    assert found.source.startswith("fallback")
    assert found.bitmap[60, 120] == 1
    # a point prompt with a negative click: the point is a positive seed, the click not
    found = predictor.point_to_mask(image, (60, 60), points=[(120, 60, False)])
    assert found.bitmap[60, 60] == 1 and found.bitmap[60, 120] == 0


def test_the_model_backend_refines_its_mask_with_the_clicks():
    torch.manual_seed(0)
    tiny = dict(min_size=64, max_size=96, rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20)
    model = build_model("r50-fpn-v2", 2, **tiny)
    report = WeightsReport("r50-fpn-v2", kind="longtail")  # "trained": the model answers
    image, truth = two_parts()
    with Predictor(model, ["thing"], weights=report, device="cpu", max_proposals=20) as p:
        plain = p.box_to_mask(image, (28, 28, 114, 64))
        points = [(60, 60, True), (120, 60, True), (20, 100, False)]
        refined = p.box_to_mask(image, (28, 28, 114, 64), points=points)
    assert refined.source == "model"
    for x, y, positive in points:
        assert refined.bitmap[y, x] == int(positive)
    assert _iou(refined.bitmap, truth) >= _iou(plain.bitmap, truth)


@pytest.mark.parametrize("bad", [[(1, 2)], [("a", 2, True)], [(float("nan"), 2, True)]])
def test_a_malformed_click_is_refused_in_one_line(bad):
    from pipeline.errors import LongtailError

    image, _ = two_parts()
    with pytest.raises(LongtailError, match="click #0"):
        FallbackPredictor(["thing"]).box_to_mask(image, (28, 28, 64, 64), points=bad)


def test_a_negative_click_on_the_only_object_never_comes_back_as_mask():
    # A negative click in the middle of the one (uniform) object in the box takes all of
    # it out; the never-empty last resort (the box) must still leave the clicked pixel out.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 30, (100, 120, 3)).astype(np.uint8)
    image[30:70, 20:60] = (230, 60, 60)
    x, y = 40, 50
    bitmap = F.box_to_mask(image, (15, 25, 50, 50), points=[(x, y, False)]).bitmap
    assert bitmap.any()
    assert not bitmap[y, x]


def test_a_click_on_a_small_object_always_flips_the_pixel_it_is_on():
    # A small box's view is enlarged (each pixel a 4 x 4 block): a click mapped onto a
    # block's corner seeded too little of it, and the mask came back unchanged.
    rng = np.random.default_rng(1)
    image = rng.integers(90, 140, (60, 80, 3)).astype(np.uint8)
    image[24:32, 30:42] = (200, 70, 60)
    box = (29.6, 23.4, 12.8, 9.3)
    start = F.box_to_mask(image, box).bitmap
    unchanged = []
    for y in range(23, 34):
        for x in range(29, 43):
            click = (float(x), float(y), not start[y, x])
            if F.box_to_mask(image, box, points=[click]).bitmap[y, x] != int(click[2]):
                unchanged.append(click)
    assert not unchanged

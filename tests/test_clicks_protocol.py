"""bench/clicks.py's protocol (the next click, mIoU per click, NoC) and what the
fallback's clicks buy on real photos; the fallback's work stays bounded on huge images."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script

from model import fallback as F


@pytest.fixture(scope="module")
def bench():
    return load_script("bench/clicks.py")


def test_the_next_click_is_the_deepest_point_of_the_largest_error(bench):
    truth = np.zeros((40, 60), np.uint8)
    truth[5:35, 5:45] = 1
    found = truth.copy()
    found[5:35, 25:45] = 0  # a 30 x 20 miss on the right
    found[36:39, 5:10] = 1  # a small false area below
    x, y, positive = bench.next_click(truth, found)
    assert positive and 33 <= x <= 37 and 14 <= y <= 25  # 10 px deep: the middle band
    found = truth.copy()
    found[5:35, 45:58] = 1  # a false band on the right, larger than any miss
    x, y, positive = bench.next_click(truth, found)
    assert not positive and 49 <= x <= 53
    assert bench.next_click(truth, truth) is None


def test_the_protocol_counts_clicks_to_each_threshold(bench):
    truth = np.zeros((40, 60), np.uint8)
    truth[5:35, 5:45] = 1
    item = (np.zeros((40, 60, 3), np.uint8), truth, {"bbox": [5, 5, 40, 30], "image_id": 1})

    def perfect(pixels, box, points, ann):
        return truth

    def half_then_perfect(pixels, box, points, ann):
        out = truth.copy()
        if not points:
            out[:, 25:] = 0
        return out

    result = bench.run_protocol(perfect, [item], 3)
    assert result["miou_after_box"] == 1.0 and result["noc@90"] == 0
    result = bench.run_protocol(half_then_perfect, [item], 3)
    assert result["miou_after_box"] == 0.5 and result["miou_after_clicks"] == [1.0, 1.0, 1.0]
    assert result["noc@85"] == 1 and result["noc@90"] == 1 and result["failed@90"] == 0


def test_clicks_raise_the_fallbacks_iou_on_real_photos(bench, tiny_coco):
    items = bench.load_items(
        tiny_coco / "annotations" / "instances_val2017.json", tiny_coco / "val2017", 4
    )
    result = bench.run_protocol(bench.fallback_segmenter, items, 4)
    curve = [result["miou_after_box"], *result["miou_after_clicks"]]
    print(f"\nfallback on {result['instances']} tiny_coco val instances: {curve}")
    assert curve[4] > curve[0] + 0.05
    assert all(b >= a - 0.01 for a, b in zip(curve, curve[1:], strict=False))


def test_a_box_on_an_8000_by_6000_photo_is_worked_at_a_capped_size():
    image = np.zeros((6000, 8000, 3), np.uint8)
    image[:] = (40, 110, 40)
    image[1000:5000, 2000:6000] = (220, 50, 50)
    settings = F.FallbackSettings()
    view = F._View.around(image, (1900, 900, 6100, 5100), settings)
    assert max(view.image.shape[:2]) <= settings.view_side
    result = F.box_to_mask(image, (1900, 900, 4200, 4200), points=[(4000, 3000, True)])
    assert result.bitmap.shape == (6000, 8000)
    inside = result.bitmap[1000:5000, 2000:6000].mean()
    outside = result.bitmap[900:5100, 1900:6100].sum() - result.bitmap[1000:5000, 2000:6000].sum()
    assert inside > 0.97 and outside < 0.02 * 4000 * 4000

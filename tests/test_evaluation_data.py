"""Loading ground truth and results: clear errors for bad input; the RLE reader."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pipeline.errors import LongtailError
from pipeline.evaluation import evaluate_coco, evaluate_lvis, evaluate_voc
from pipeline.evaluation.rle import structurally_valid, summarize_counts


def small_gt() -> dict:
    return {
        "images": [{"id": 7, "height": 20, "width": 30}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "category_id": 3,
                "bbox": [2, 2, 10, 10],
                "area": 100,
                "iscrowd": 0,
                "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]],
            }
        ],
        "categories": [{"id": 3, "name": "cup"}],
    }


def rle(h=20, w=30):
    m = np.zeros((h, w), np.uint8)
    m[2:12, 2:12] = 1
    r = mask_utils.encode(np.asfortranarray(m))
    return {"size": [h, w], "counts": r["counts"].decode()}


def good(**change):
    d = {
        "image_id": 7,
        "category_id": 3,
        "score": 0.5,
        "bbox": [2, 2, 10, 10],
        "segmentation": rle(),
    }
    d.update(change)
    return d


@pytest.mark.parametrize(
    "results, iou_type, message",
    [
        ([], "bbox", "empty"),
        ([good(), good(image_id=8)], "bbox", "result #1: unknown image id 8"),
        ([good(category_id=4)], "bbox", "result #0: unknown category id 4"),
        ([good(), {"image_id": 7, "category_id": 3, "bbox": [1, 1, 2, 2]}], "bbox", "result #1"),
        ([good(score=float("nan"))], "bbox", "result #0: score nan"),
        ([good(score="high")], "bbox", "result #0: score 'high'"),
        ([good(bbox=[1, 2, 3])], "bbox", "result #0: 'bbox' must be four numbers"),
        ([good(), good(segmentation=rle(30, 20))], "segm", "result #1: the RLE size [30, 20]"),
        ([good(segmentation={"size": [20, 30], "counts": "!!not-rle"})], "segm", "malformed RLE"),
        ([good(segmentation={"size": [20, 30], "counts": [5, 5]})], "segm", "malformed RLE"),
        ([good(segmentation=[[1, 1, 5, 1, 5, 5]])], "segm", "polygons are not accepted"),
        (
            [{"image_id": 7, "category_id": 3, "score": 1, "bbox": [1, 1, 2, 2]}],
            "segm",
            "no 'segmentation'",
        ),
        ({"annotations": []}, "bbox", "must be a list"),
    ],
)
def test_bad_results_raise_clear_errors(results, iou_type, message):
    for evaluate in (evaluate_coco, evaluate_lvis, evaluate_voc):
        with pytest.raises(LongtailError, match=message.replace("[", r"\[").replace("(", r"\(")):
            evaluate(small_gt(), results, iou_type)


def test_truncated_rle_is_caught_before_pycocotools_sees_it():
    # pycocotools' C IoU loops forever on counts that stop short of the image
    full = rle()["counts"]
    short = summarize_counts([full]).total[0]
    assert short == 600
    m = np.zeros((20, 30), np.uint8)
    m[2:12, 2:12] = 1
    counts = mask_utils.encode(np.asfortranarray(m))["counts"].decode()
    truncated = counts[: len(counts) // 2]
    while truncated and (ord(truncated[-1]) - 48) & 32:
        truncated = truncated[:-1]
    bad = good(segmentation={"size": [20, 30], "counts": truncated})
    with pytest.raises(LongtailError, match=r"result #1: malformed RLE: its counts cover"):
        evaluate_coco(small_gt(), [good(), bad], "segm")


def test_bad_ground_truth():
    gt = small_gt()
    gt["annotations"][0]["category_id"] = 9
    with pytest.raises(LongtailError, match="annotation id 1 refers to unknown category id 9"):
        evaluate_coco(gt, [good()], "bbox")
    gt = small_gt()
    gt["images"].append({"id": 7})
    with pytest.raises(LongtailError, match="image id 7 twice"):
        evaluate_coco(gt, [good()], "bbox")
    with pytest.raises(LongtailError, match="no 'annotations' list"):
        evaluate_coco({"images": [], "categories": []}, [good()], "bbox")
    with pytest.raises(LongtailError, match="not found"):
        evaluate_coco("/nonexistent/gt.json", [good()], "bbox")
    with pytest.raises(LongtailError, match="unknown iou type"):
        evaluate_coco(small_gt(), [good()], "keypoints")


def test_missing_area_is_taken_from_the_mask():
    gt = small_gt()
    del gt["annotations"][0]["area"]
    r = evaluate_coco(gt, [good()], "segm")
    assert r.stats["APs"] == pytest.approx(1.0)


def test_rle_summary_equals_pycocotools():
    rng = np.random.default_rng(0)
    rles = []
    for density in (0.0, 0.01, 0.3, 0.9, 1.0):
        for _ in range(5):
            h, w = (int(v) for v in rng.integers(1, 60, 2))
            m = (rng.random((h, w)) < density).astype(np.uint8)
            rles.append(mask_utils.encode(np.asfortranarray(m)))
    summary = summarize_counts([r["counts"] for r in rles])
    assert summary.well_formed.all()
    assert summary.area.tolist() == [int(mask_utils.area(r)) for r in rles]
    assert summary.total.tolist() == [r["size"][0] * r["size"][1] for r in rles]
    assert structurally_valid([r["counts"].decode() for r in rles]).all()
    broken = ["0a", "", "é1", "01\x7f"]
    assert not structurally_valid(broken).any()
    assert not summarize_counts(["0a", "é1", "01\x7f"]).well_formed.any()

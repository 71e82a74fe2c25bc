"""LVIS federated evaluation: agreement with lvis-api, and one small case per rule."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from reference.cases import LVIS_STAT_NAMES, make_detections, run_lvis_reference

from pipeline.evaluation import evaluate_coco, evaluate_lvis


@pytest.fixture(scope="module")
def lvis_val(test_data) -> dict:
    path = test_data / "lvis_v05_val_100.json"
    return json.loads(path.read_text())


def _assert_same_as_lvis_api(gt, results, iou_type):
    ref = run_lvis_reference(gt, results, iou_type)
    ours = evaluate_lvis(gt, results, iou_type)
    diff = max(abs(ours.stats[k] - ref.results[k]) for k in LVIS_STAT_NAMES)
    assert diff <= 1e-4
    assert np.abs(ours.precision[..., 0] - ref.eval["precision"]).max() <= 1e-12
    assert np.abs(ours.recall[..., 0] - ref.eval["recall"]).max() <= 1e-12
    return ours


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_lvis_api(lvis_val, seed, iou_type):
    results = make_detections(lvis_val, seed, federated=True, n_fp=30, with_bbox=seed == 0)
    _assert_same_as_lvis_api(lvis_val, results, iou_type)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_300_detections_per_image_equal_to_lvis_api(lvis_val, iou_type):
    gt = dict(lvis_val)
    gt["images"] = lvis_val["images"][:12]
    kept = {im["id"] for im in gt["images"]}
    gt["annotations"] = [a for a in lvis_val["annotations"] if a["image_id"] in kept]
    # far more than 300 per image, scores with ties at the cut
    results = make_detections(gt, 4, federated=True, n_fp=650, score_decimals=1)
    assert max(Counter(r["image_id"] for r in results).values()) > 300
    _assert_same_as_lvis_api(gt, results, iou_type)


def test_ground_truth_against_itself_is_perfect(lvis_val):
    images = {im["id"]: im for im in lvis_val["images"]}
    results = []
    for a in lvis_val["annotations"]:
        im = images[a["image_id"]]
        rle = mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], im["height"], im["width"]))
        results.append(
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "score": 1.0,
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
            }
        )
    r = evaluate_lvis(lvis_val, results, "segm")
    for key in ("AP", "AP50", "AP75", "APs", "APm", "APl", "APc", "APf", "AR@300"):
        assert r.stats[key] == pytest.approx(1.0, abs=1e-12), key


# --------------------------------------------------------------------------- rules


def lvis_gt(images: list[dict], boxes: list[tuple], freqs=("f", "f", "f")) -> dict:
    """Ground truth of 100x100 images; boxes are (image_id, category, x, y, w, h)."""
    anns = []
    for i, (image_id, cat, x, y, w, h) in enumerate(boxes):
        anns.append(
            {
                "id": i + 1,
                "image_id": image_id,
                "category_id": cat,
                "bbox": [x, y, w, h],
                "area": w * h,
                "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
            }
        )
    full = []
    for im in images:
        full.append(
            {
                "height": 100,
                "width": 100,
                "neg_category_ids": [],
                "not_exhaustive_category_ids": [],
                **im,
            }
        )
    cats = [{"id": i + 1, "name": f"c{i + 1}", "frequency": f} for i, f in enumerate(freqs)]
    return {"images": full, "annotations": anns, "categories": cats}


def det(image_id, cat, score, x, y, w, h):
    return {"image_id": image_id, "category_id": cat, "score": score, "bbox": [x, y, w, h]}


def test_detection_of_an_unverified_category_is_dropped():
    hit = det(1, 1, 0.5, 10, 10, 30, 30)
    elsewhere = det(2, 1, 0.9, 50, 50, 20, 20)  # category 1 in image 2, better scored
    unverified = lvis_gt([{"id": 1}, {"id": 2}], [(1, 1, 10, 10, 30, 30)])
    assert evaluate_lvis(unverified, [hit, elsewhere], "bbox").stats["AP50"] == pytest.approx(1.0)
    negative = lvis_gt([{"id": 1}, {"id": 2, "neg_category_ids": [1]}], [(1, 1, 10, 10, 30, 30)])
    r = evaluate_lvis(negative, [hit, elsewhere], "bbox")
    assert r.stats["AP50"] == pytest.approx(0.5)  # a verified negative: a false positive
    for gt in (unverified, negative):
        _assert_same_as_lvis_api(gt, [hit, elsewhere], "bbox")


def test_unmatched_detection_of_a_not_exhaustive_category_is_ignored():
    hit = det(1, 1, 0.5, 10, 10, 30, 30)
    stray = det(1, 1, 0.9, 60, 60, 20, 20)
    exhaustive = lvis_gt([{"id": 1}], [(1, 1, 10, 10, 30, 30)])
    assert evaluate_lvis(exhaustive, [hit, stray], "bbox").stats["AP50"] == pytest.approx(0.5)
    partial = lvis_gt([{"id": 1, "not_exhaustive_category_ids": [1]}], [(1, 1, 10, 10, 30, 30)])
    r = evaluate_lvis(partial, [hit, stray], "bbox")
    assert r.stats["AP50"] == pytest.approx(1.0)  # the stray one may be an unlabelled object
    assert r.stats["AR@300"] == pytest.approx(1.0)  # matched ones still count
    for gt in (exhaustive, partial):
        _assert_same_as_lvis_api(gt, [hit, stray], "bbox")


def test_300_detections_per_image_across_categories():
    gt = lvis_gt([{"id": 1, "neg_category_ids": [2]}], [(1, 1, 10, 10, 30, 30)])
    noise = [det(1, 2, 0.9, 60, 60, 10, 10) for _ in range(299)]
    hit = det(1, 1, 0.1, 10, 10, 30, 30)
    assert evaluate_lvis(gt, [*noise, hit], "bbox").stats["AR@300"] == pytest.approx(1.0)
    # one more better-scored detection, of another category, pushes the hit out
    extra = det(1, 2, 0.95, 70, 70, 10, 10)
    r = evaluate_lvis(gt, [*noise, extra, hit], "bbox")
    assert r.per_category[1].ar == 0.0
    _assert_same_as_lvis_api(gt, [*noise, extra, hit], "bbox")


def _rle(x, y, w, h):
    m = np.zeros((100, 100), np.uint8)
    m[y : y + h, x : x + w] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    return {"size": [100, 100], "counts": rle["counts"].decode()}


def test_mask_areas_decide_size_buckets_for_segm():
    gt = lvis_gt([{"id": 1}], [(1, 1, 10, 10, 10, 10)])
    hit = {**det(1, 1, 0.5, 10, 10, 10, 10), "segmentation": _rle(10, 10, 10, 10)}
    # a small mask (64 px) with a large box: a small false positive
    stray = {**det(1, 1, 0.9, 0, 0, 90, 90), "segmentation": _rle(70, 70, 8, 8)}
    r = evaluate_lvis(gt, [hit, stray], "segm")
    assert r.stats["APs"] == pytest.approx(0.5)
    _assert_same_as_lvis_api(gt, [hit, stray], "segm")
    # pycocotools takes the box area when results carry boxes: the stray one is 'large'
    # there and ignored among small objects; evaluate_coco keeps that for equal numbers
    coco = evaluate_coco(gt, [hit, stray], "segm")
    assert coco.stats["APs"] == pytest.approx(1.0)


def test_frequency_groups():
    gt = lvis_gt(
        [{"id": 1}],
        [(1, 1, 0, 0, 20, 20), (1, 2, 30, 30, 20, 20), (1, 3, 60, 60, 20, 20)],
        freqs=("r", "c", "f"),
    )
    results = [
        det(1, 1, 0.9, 0, 0, 20, 20),  # rare: found
        det(1, 2, 0.9, 0, 60, 20, 20),  # common: a false positive first...
        det(1, 2, 0.8, 30, 30, 20, 20),  # ...then found
    ]  # frequent: never found
    r = evaluate_lvis(gt, results, "bbox")
    assert r.stats["APr"] == pytest.approx(1.0)
    assert r.stats["APc"] == pytest.approx(0.5)
    assert r.stats["APf"] == 0.0
    _assert_same_as_lvis_api(gt, results, "bbox")


def test_ignore_flag_and_zero_area_ground_truth():
    gt = lvis_gt([{"id": 1}], [(1, 1, 10, 10, 30, 30), (1, 1, 60, 60, 20, 20)])
    gt["annotations"][1]["ignore"] = 1
    results = [det(1, 1, 0.9, 60, 60, 20, 20), det(1, 1, 0.5, 10, 10, 30, 30)]
    r = evaluate_lvis(gt, results, "bbox")
    assert r.stats["AP50"] == pytest.approx(1.0)  # the match to the ignored one is ignored
    _assert_same_as_lvis_api(gt, results, "bbox")
    gt["annotations"][1]["ignore"] = 0
    gt["annotations"][1]["area"] = 0  # lvis-api keeps 0 < area only
    r = evaluate_lvis(gt, results, "bbox")
    assert r.per_category[1].n_gt == 1
    _assert_same_as_lvis_api(gt, results, "bbox")


def test_every_detection_dropped():
    gt = lvis_gt([{"id": 1}], [(1, 1, 10, 10, 30, 30)])
    results = [det(1, 2, 0.9, 0, 0, 5, 5)]  # category 2: unverified in image 1
    r = _assert_same_as_lvis_api(gt, results, "bbox")
    assert r.stats["AP"] == 0.0 and r.stats["APm"] == -1.0

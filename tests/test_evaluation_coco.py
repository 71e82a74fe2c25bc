"""COCO evaluation: equal to pycocotools' COCOeval, plus hand-checked small cases."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from reference.cases import COCO_STAT_NAMES, make_detections, run_pycocotools

from pipeline.evaluation import EvalResult, evaluate_coco, load_ground_truth


@pytest.fixture(scope="module")
def coco_val(tiny_coco) -> dict:
    return json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())


def _assert_same_as_pycocotools(gt: dict, results: list[dict], iou_type: str) -> EvalResult:
    ref = run_pycocotools(gt, results, iou_type)
    ours = evaluate_coco(gt, results, iou_type)
    stats = np.array([ours.stats[k] for k in COCO_STAT_NAMES])
    assert np.abs(stats - ref.stats).max() <= 1e-4
    # the arrays behind the numbers, too (all equal to the last bit in practice)
    assert np.abs(ours.precision - ref.eval["precision"]).max() <= 1e-12
    assert np.abs(ours.recall - ref.eval["recall"]).max() <= 1e-12
    return ours


VARIANTS = {
    "jitter": dict(),
    "no-boxes-in-results": dict(with_bbox=False),
    "ties-and-duplicates": dict(score_decimals=1, max_dup=4),
    "many-misses": dict(p_miss=0.6, n_fp=10),
}


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_equal_to_pycocotools(coco_val, variant, iou_type):
    results = make_detections(coco_val, seed=hash(variant) % 1000, **VARIANTS[variant])
    _assert_same_as_pycocotools(coco_val, results, iou_type)


def test_more_than_100_detections_per_image_and_category(coco_val):
    # maxDets truncation per (image, category) before matching, and maxDets 1/10 cuts
    cats = sorted({a["category_id"] for a in coco_val["annotations"]})[:4]
    results = make_detections(coco_val, seed=7, n_fp=160, categories=cats, score_decimals=1)
    for iou_type in ("bbox", "segm"):
        _assert_same_as_pycocotools(coco_val, results, iou_type)


def test_boxes_only_results(coco_val):
    results = make_detections(coco_val, seed=3, with_segm=False)
    _assert_same_as_pycocotools(coco_val, results, "bbox")


def test_crowd_regions_absorb_detections(coco_val):
    crowd = [a for a in coco_val["annotations"] if a["iscrowd"]]
    assert crowd, "tiny_coco val has crowd regions"
    results = make_detections(coco_val, seed=11, max_dup=4, crowd_hits=True)
    # several detections right on each crowd region: all ignored, none a false positive
    for a in crowd:
        x, y, w, h = a["bbox"]
        for j in range(3):
            results.append(
                {
                    "image_id": a["image_id"],
                    "category_id": a["category_id"],
                    "score": 0.9 - j * 0.1,
                    "bbox": [x + 2 * j, y + 2 * j, w / 2, h / 2],
                }
            )
    for r in results:
        r.pop("segmentation", None)
    _assert_same_as_pycocotools(coco_val, results, "bbox")


def _gt_as_results(gt: dict) -> list[dict]:
    from pycocotools import mask as mask_utils

    images = {im["id"]: im for im in gt["images"]}
    out = []
    for a in gt["annotations"]:
        im = images[a["image_id"]]
        segm = a["segmentation"]
        if isinstance(segm, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(segm, im["height"], im["width"]))
        else:
            rle = mask_utils.frPyObjects(segm, im["height"], im["width"])
        counts = rle["counts"]
        out.append(
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "score": 1.0,
                "bbox": a["bbox"],
                "segmentation": {"size": rle["size"], "counts": counts.decode()},
            }
        )
    return out


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_ground_truth_against_itself_is_perfect(coco_val, iou_type):
    r = _assert_same_as_pycocotools(coco_val, _gt_as_results(coco_val), iou_type)
    for key in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "ARs", "ARm", "ARl"):
        assert r.stats[key] == pytest.approx(1.0, abs=1e-12)  # tp / (tp + fp + eps)
    for score in r.per_category.values():
        assert score.ap is None or score.ap == pytest.approx(1.0, abs=1e-12)


def test_does_not_modify_inputs(coco_val):
    gt = copy.deepcopy(coco_val)
    results = make_detections(coco_val, seed=5)
    before = copy.deepcopy(results)
    evaluate_coco(gt, results, "segm")
    assert gt == coco_val
    assert results == before


def test_paths_and_loaded_ground_truth(tmp_path, coco_val):
    results = make_detections(coco_val, seed=2)
    gt_path = tmp_path / "gt.json"
    res_path = tmp_path / "res.json"
    gt_path.write_text(json.dumps(coco_val))
    res_path.write_text(json.dumps(results))
    a = evaluate_coco(gt_path, res_path, "bbox")
    b = evaluate_coco(load_ground_truth(coco_val), results, "bbox")
    assert a.stats == b.stats


# --------------------------------------------------------------------------- small cases


def box_gt(boxes: list[tuple], size=(100, 100), crowd=()) -> dict:
    """A one-image ground truth of boxes (category, x, y, w, h)."""
    h, w = size
    anns = []
    for i, (cat, x, y, bw, bh) in enumerate(boxes):
        anns.append(
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": cat,
                "bbox": [x, y, bw, bh],
                "area": bw * bh,
                "iscrowd": int(i in crowd),
                "segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]],
            }
        )
    return {
        "images": [{"id": 1, "height": h, "width": w}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }


def det(cat, score, x, y, w, h, image_id=1):
    return {"image_id": image_id, "category_id": cat, "score": score, "bbox": [x, y, w, h]}


def test_hand_checked_precision_and_recall():
    gt = box_gt([(1, 10, 10, 40, 40), (1, 60, 60, 30, 30)])
    # best detection a false positive, then the two objects: precision 1/2 then 2/3
    results = [det(1, 0.9, 0, 70, 10, 10), det(1, 0.8, 10, 10, 40, 40), det(1, 0.7, 60, 60, 30, 30)]
    r = evaluate_coco(gt, results, "bbox")
    recall, precision = r.pr_curve(1, iou=0.5)
    assert precision[0] == pytest.approx(2 / 3)  # envelope: best precision at recall >= r
    assert precision[50] == pytest.approx(2 / 3)
    assert precision[51] == pytest.approx(2 / 3)
    assert precision[100] == pytest.approx(2 / 3)
    assert r.stats["AP50"] == pytest.approx(2 / 3)
    assert r.stats["AR100"] == 1.0
    assert r.stats["AR1"] == 0.0  # the single best detection per image is the false positive
    assert r.per_category[2].ap is None  # no ground truth: undefined, not zero
    _assert_same_as_pycocotools(gt, results, "bbox")


def test_crowd_iou_is_over_the_detection_area():
    # a detection inside a crowd region has crowd-IoU 1 (intersection / its own area)
    gt = box_gt([(1, 0, 0, 80, 80), (1, 85, 85, 10, 10)], crowd=(0,))
    results = [
        det(1, 0.9, 10, 10, 10, 10),
        det(1, 0.8, 30, 30, 10, 10),
        det(1, 0.7, 85, 85, 10, 10),
    ]
    r = evaluate_coco(gt, results, "bbox")
    # both detections on the crowd are ignored, not false positives
    assert r.stats["AP"] == pytest.approx(1.0, abs=1e-12)
    _assert_same_as_pycocotools(gt, results, "bbox")


def test_second_best_ground_truth_is_taken_when_the_best_is_used():
    gt = box_gt([(1, 10, 10, 40, 40), (1, 14, 14, 40, 40)])
    results = [det(1, 0.9, 12, 12, 40, 40), det(1, 0.8, 12, 12, 40, 40)]
    r = evaluate_coco(gt, results, "bbox")
    assert r.stats["AP50"] == pytest.approx(1.0, abs=1e-12)
    _assert_same_as_pycocotools(gt, results, "bbox")


def test_area_ranges_use_the_ground_truth_area_field():
    gt = box_gt([(1, 10, 10, 40, 40)])
    gt["annotations"][0]["area"] = 500.0  # 'small' by its field though the box is 1600
    r = evaluate_coco(gt, [det(1, 0.9, 10, 10, 40, 40)], "bbox")
    assert r.stats["APs"] == pytest.approx(1.0, abs=1e-12)
    assert r.stats["APm"] == -1.0


def test_annotation_id_zero_behaves_as_in_pycocotools():
    # pycocotools stores a match as the ground truth's id, so id 0 reads as "no match"
    gt = box_gt([(1, 10, 10, 40, 40), (1, 60, 60, 30, 30)])
    gt["annotations"][0]["id"] = 0
    results = [det(1, 0.9, 10, 10, 40, 40), det(1, 0.8, 60, 60, 30, 30)]
    r = _assert_same_as_pycocotools(gt, results, "bbox")
    assert r.stats["AP50"] < 1.0


def test_no_ground_truth_at_all():
    results = [det(1, 0.5, 1, 1, 5, 5)]
    r = _assert_same_as_pycocotools(box_gt([]), results, "bbox")
    assert set(r.stats.values()) == {-1.0}
    from pipeline.evaluation import evaluate_voc

    assert evaluate_voc(box_gt([]), results, "bbox").stats["mAP50"] == -1.0

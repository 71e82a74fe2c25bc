"""VOC AP50: equal to a line-by-line transcription of the devkit's voc_eval."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from reference.cases import make_detections

from pipeline.evaluation import evaluate_coco, evaluate_voc


def voc_reference(gt: dict, results: list[dict], iou_type: str) -> dict[int, float | None]:
    """The devkit's voc_eval loop (py-faster-rcnn's voc_eval.py), on COCO data: crowd and
    ignore-flagged annotations are 'difficult'; IoU from pycocotools (no crowd rule)."""
    images = {im["id"]: im for im in gt["images"]}
    aps: dict[int, float | None] = {}
    for cat in sorted(c["id"] for c in gt["categories"]):
        class_recs = {}
        npos = 0
        for a in gt["annotations"]:
            if a["category_id"] != cat:
                continue
            rec = class_recs.setdefault(a["image_id"], {"objs": [], "difficult": [], "det": []})
            im = images[a["image_id"]]
            if iou_type == "bbox":
                rec["objs"].append(a["bbox"])
            else:
                segm = a["segmentation"]
                if isinstance(segm, list):
                    rle = mask_utils.merge(mask_utils.frPyObjects(segm, im["height"], im["width"]))
                else:
                    rle = mask_utils.frPyObjects(segm, im["height"], im["width"])
                rec["objs"].append(rle)
            difficult = bool(a.get("iscrowd", 0)) or bool(a.get("ignore", 0))
            rec["difficult"].append(difficult)
            rec["det"].append(False)
            npos += not difficult
        dets = [d for d in results if d["category_id"] == cat]
        order = np.argsort([-d["score"] for d in dets], kind="mergesort")
        nd = len(dets)
        tp = np.zeros(nd)
        fp = np.zeros(nd)
        for k, i in enumerate(order):
            d = dets[i]
            rec = class_recs.get(d["image_id"])
            ovmax = -np.inf
            if rec and rec["objs"]:
                geom = d["bbox"] if iou_type == "bbox" else d["segmentation"]
                overlaps = np.asarray(
                    mask_utils.iou([geom], rec["objs"], [0] * len(rec["objs"]))
                ).ravel()
                ovmax = overlaps.max()
                jmax = int(overlaps.argmax())
            if ovmax > 0.5:
                if not rec["difficult"][jmax]:
                    if not rec["det"][jmax]:
                        tp[k] = 1.0
                        rec["det"][jmax] = True
                    else:
                        fp[k] = 1.0
            else:
                fp[k] = 1.0
        if npos == 0:
            aps[cat] = None
            continue
        fp = np.cumsum(fp)
        tp = np.cumsum(tp)
        rec_ = tp / float(npos)
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        mrec = np.concatenate(([0.0], rec_, [1.0]))
        mpre = np.concatenate(([0.0], prec, [0.0]))
        for i in range(mpre.size - 1, 0, -1):
            mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
        i = np.where(mrec[1:] != mrec[:-1])[0]
        aps[cat] = float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
    return aps


@pytest.fixture(scope="module")
def coco_val(tiny_coco) -> dict:
    return json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_devkit_transcription(coco_val, seed, iou_type):
    results = make_detections(coco_val, seed + 20, score_decimals=3, max_dup=3)
    ours = evaluate_voc(coco_val, results, iou_type)
    ref = voc_reference(coco_val, results, iou_type)
    for cat, ap in ref.items():
        if ap is None:
            assert ours.per_category[cat].ap50 is None
        else:
            assert ours.per_category[cat].ap50 == pytest.approx(ap, abs=1e-12)
    defined = [v for v in ref.values() if v is not None]
    assert ours.stats["mAP50"] == pytest.approx(np.mean(defined), abs=1e-12)


def _gt(boxes):
    anns = [
        {
            "id": i + 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": list(b),
            "area": b[2] * b[3],
            "iscrowd": 0,
        }
        for i, b in enumerate(boxes)
    ]
    return {
        "images": [{"id": 1, "height": 100, "width": 100}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "thing"}],
    }


def det(score, *box):
    return {"image_id": 1, "category_id": 1, "score": score, "bbox": list(box)}


def test_hand_computed_all_point_ap():
    gt = _gt([(10, 10, 30, 30), (60, 60, 30, 30)])
    results = [det(0.9, 0, 70, 10, 10), det(0.8, 10, 10, 30, 30), det(0.7, 60, 60, 30, 30)]
    r = evaluate_voc(gt, results, "bbox")
    # recall 0.5 at precision 1/2, recall 1 at precision 2/3: envelope 2/3 over [0, 1]
    assert r.stats["mAP50"] == pytest.approx(2 / 3)
    recall, precision = r.pr_curve(1)
    assert recall.tolist() == [0.0, 0.5, 1.0]
    assert precision == pytest.approx([2 / 3, 2 / 3, 2 / 3])


def test_no_second_choice_unlike_coco():
    # both detections overlap both objects; the second one's best object is taken
    gt = _gt([(10, 10, 40, 40), (14, 14, 40, 40)])
    results = [det(0.9, 11, 11, 40, 40), det(0.8, 11, 11, 40, 40)]
    assert evaluate_voc(gt, results, "bbox").stats["mAP50"] == pytest.approx(0.5)
    assert evaluate_coco(gt, results, "bbox").stats["AP50"] == pytest.approx(1.0)


def test_iou_must_exceed_one_half():
    gt = _gt([(0, 0, 10, 10)])
    exactly_half = det(0.9, 0, 0, 20, 10)  # IoU 100 / 200
    assert evaluate_voc(gt, [exactly_half], "bbox").stats["mAP50"] == 0.0
    assert evaluate_coco(gt, [exactly_half], "bbox").stats["AP50"] == pytest.approx(1.0)


def test_difficult_objects_neither_count_nor_penalise():
    gt = _gt([(10, 10, 30, 30), (60, 60, 30, 30)])
    gt["annotations"][1]["iscrowd"] = 1
    results = [det(0.9, 60, 60, 30, 30), det(0.8, 10, 10, 30, 30)]
    r = evaluate_voc(gt, results, "bbox")
    assert r.stats["mAP50"] == pytest.approx(1.0)
    assert r.per_category[1].n_gt == 1


def test_ground_truth_against_itself_is_perfect(coco_val):
    results = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "score": 1.0,
            "bbox": a["bbox"],
        }
        for a in coco_val["annotations"]
    ]
    r = evaluate_voc(coco_val, results, "bbox")
    assert r.stats["mAP50"] == pytest.approx(1.0)
    assert all(c.ap50 in (None, 1.0) for c in r.per_category.values())

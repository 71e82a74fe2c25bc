"""PASCAL VOC-style AP at IoU 0.5 per category and its mean (all-point interpolation).

The rules of the VOC devkit's ``voc_eval`` (VOC2010 and later), on COCO-format data:

- per category, detections are taken in descending score order (ties: results-list
  order); each is compared with the ground truths of its image and category, and the
  one with the highest IoU (the first on ties) decides: IoU > 0.5 and not yet taken
  -> true positive (and taken); already taken -> false positive; IoU <= 0.5 -> false
  positive. There is no second choice, unlike COCO's matching;
- "difficult" ground truths are COCO crowd regions and annotations flagged ``ignore``:
  a detection whose best match is one is neither true nor false positive, and they
  do not count as positives;
- AP is the area under the precision envelope over all recall points; mAP50 is the
  mean over categories with at least one positive.

IoU is COCO's (continuous coordinates; no +1 pixel as in the devkit's boxes), with
the ordinary union also against crowd regions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .coco import IOU_TYPES, rank_in_pair
from .data import (
    Detections,
    EvaluationError,
    GroundTruth,
    check_masks,
    load_detections,
    load_ground_truth,
)
from .matching import box_ious, candidate_pairs, mask_ious
from .result import CategoryScore, EvalResult

IOU_THRESHOLD = 0.5


def _ious(
    truth: GroundTruth, dets: Detections, iou_type: str, d: np.ndarray, g: np.ndarray
) -> np.ndarray:
    no_crowd = np.zeros(len(truth.ann_ids), dtype=bool)
    if iou_type == "bbox":
        if truth.ann_bbox is None:
            raise EvaluationError("box evaluation needs a 'bbox' on every ground-truth annotation")
        return box_ious(dets.boxes()[d], truth.ann_bbox[g], no_crowd[g])
    seg = dets.segmentation
    assert seg is not None
    used = np.unique(d)
    check_masks(
        [seg[i] for i in used],
        truth.heights[dets.image[used]],
        truth.widths[dets.image[used]],
        lambda j: f"result #{used[j]}",
    )
    return mask_ious(d, g, dets.image[d], seg, truth.rles(), no_crowd)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """The devkit's all-point AP: area under the monotone precision envelope."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def evaluate_voc(
    gt: GroundTruth | dict | str | Path,
    results: Detections | list[dict] | str | Path,
    iou_type: str = "bbox",
) -> EvalResult:
    """VOC AP50 per category and ``stats['mAP50']`` of ``results`` against ``gt``."""
    if iou_type not in IOU_TYPES:
        raise EvaluationError(f"unknown iou type {iou_type!r}; use 'bbox' or 'segm'")
    truth = load_ground_truth(gt)
    if not truth.n_images or not truth.n_categories:
        raise EvaluationError("the ground truth has no images or no categories")
    dets = load_detections(results, truth, iou_type)
    K = truth.n_categories
    D = len(dets)
    difficult = truth.ann_iscrowd | truth.ann_ignore
    dt_keys = truth.pair_keys(dets.image, dets.category)
    gt_keys = truth.pair_keys(truth.ann_image, truth.ann_category)

    # Each detection's best ground truth (highest IoU, first on ties).
    d, g = candidate_pairs(dt_keys, gt_keys)
    iou = _ious(truth, dets, iou_type, d, g) if len(d) else np.zeros(0)
    best_gt = np.full(D, -1, dtype=np.int64)
    best_iou = np.zeros(D)
    if len(d):
        order = np.lexsort((np.arange(len(d)), -iou, d))  # per det: best IoU, then first
        first = order[np.r_[True, d[order][1:] != d[order][:-1]]]
        best_gt[d[first]] = g[first]
        best_iou[d[first]] = iou[first]
    hit = best_iou > IOU_THRESHOLD
    ignored = np.zeros(D, dtype=bool)
    ignored[hit] = difficult[best_gt[hit]]
    # A ground truth goes to the first detection (by score) that hits it.
    rank = rank_in_pair(dt_keys, dets.score)
    claim = np.flatnonzero(hit & ~ignored)
    tp = np.zeros(D, dtype=bool)
    if len(claim):
        by_gt = claim[np.lexsort((rank[claim], best_gt[claim]))]
        winners = by_gt[np.r_[True, best_gt[by_gt][1:] != best_gt[by_gt][:-1]]]
        tp[winners] = True

    npos = np.bincount(truth.ann_category[~difficult], minlength=K)
    n_det = np.bincount(dets.category, minlength=K)
    counted = np.flatnonzero(~ignored)
    order = counted[np.lexsort((counted, -dets.score[counted], dets.category[counted]))]
    bounds = np.searchsorted(dets.category[order], np.arange(K + 1))
    table: dict[int, CategoryScore] = {}
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    aps = []
    for k, cid in enumerate(truth.category_ids.tolist()):
        ap = None
        if npos[k] > 0:
            flags = tp[order[bounds[k] : bounds[k + 1]]]
            tp_cum = np.cumsum(flags).astype(np.float64)
            fp_cum = np.cumsum(~flags).astype(np.float64)
            rec = tp_cum / npos[k]
            prec = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
            ap = average_precision(rec, prec)
            aps.append(ap)
            envelope = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
            curves[cid] = (rec, envelope)
        table[cid] = CategoryScore(
            category_id=cid,
            name=truth.category_names[k],
            ap=ap,
            ap50=ap,
            ap75=None,
            ar=None,
            n_gt=int(npos[k]),
            n_det=int(n_det[k]),
            frequency=truth.category_frequency[k],
        )
    stats = {"mAP50": float(np.mean(aps)) if aps else -1.0}
    return EvalResult(
        metric="voc",
        iou_type=iou_type,
        stats=stats,
        per_category=table,
        category_ids=tuple(truth.category_ids.tolist()),
        iou_thresholds=np.array([IOU_THRESHOLD]),
        area_labels=("all",),
        curves=curves,
    )

"""LVIS federated AP, the numbers of lvis-api's ``LVISEval`` (master algorithm).

The same three steps as COCO (:mod:`.coco`), with LVIS' rules in :func:`prepare`:

- at most 300 detections per image, the best-scoring across all categories, cut
  before anything else (lvis-api's ``LVISResults.limit_dets_per_image``);
- annotations and detections with area 0 take no part (lvis-api's ``get_ann_ids``
  keeps ``0 < area < inf``);
- federated filter: a detection whose category is neither in the image's ground truth
  nor in its ``neg_category_ids`` is dropped: the image says nothing about it;
- an unmatched detection of a category in the image's ``not_exhaustive_category_ids``
  is ignored, as is one outside the area range;
- no crowd regions; a ground truth's own ``ignore`` flag is honoured;
- mask evaluation takes the detections' areas from their masks, never their boxes
  (lvis-api itself uses the box when results carry one; detectron2 removes the boxes
  before calling it, and so do we).

Then AP, AP50, AP75, APs/m/l, APr/c/f by the categories' ``frequency`` and AR@300.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .coco import (
    AREA_LABELS,
    AREA_RANGES,
    PerImage,
    Prepared,
    load_inputs,
    make_result,
    rank_in_pair,
)
from .coco import accumulate as coco_accumulate
from .coco import evaluate_images as coco_evaluate_images
from .data import Detections, GroundTruth
from .matching import IOU_THRESHOLDS
from .result import EvalResult

MAX_DETS = 300
FREQUENCY_GROUPS = ("r", "c", "f")


def prepare(truth: GroundTruth, dets: Detections, iou_type: str) -> Prepared:
    # 300 per image, across categories, by descending score (stable), before all else.
    per_image = rank_in_pair(dets.image.astype(np.int64), dets.score)
    rows = np.flatnonzero(per_image < MAX_DETS)
    gt_rows = np.flatnonzero((truth.ann_area > 0) & (truth.ann_area < np.inf))
    gt_keys = np.unique(truth.pair_keys(truth.ann_image[gt_rows], truth.ann_category[gt_rows]))
    keys = truth.pair_keys(dets.image[rows], dets.category[rows])
    # (lvis-api drops zero areas first, then unknown categories: the order does not
    # matter, and measuring only the survivors' masks saves time)
    known = np.isin(keys, gt_keys) | np.isin(keys, truth.neg_keys)
    rows, keys = rows[known], keys[known]
    if iou_type == "segm" or not dets.first_has_bbox:
        area = dets.mask_areas(rows).astype(np.float64)
    else:
        assert dets.bbox is not None  # first_has_bbox
        area = dets.bbox[rows, 2] * dets.bbox[rows, 3]
    positive = (area > 0) & (area < np.inf)
    rows, area, keys = rows[positive], area[positive], keys[positive]

    lo, hi = AREA_RANGES[:, 0:1], AREA_RANGES[:, 1:2]
    not_exhaustive = np.isin(keys, truth.not_exhaustive_keys)
    unmatched = (area[None, :] < lo) | (area[None, :] > hi) | not_exhaustive[None, :]
    gt_area = truth.ann_area[gt_rows]
    gt_ignore = (
        truth.ann_ignore[gt_rows][None, :] | (gt_area[None, :] < lo) | (gt_area[None, :] > hi)
    )
    return Prepared(
        truth=truth,
        dets=dets,
        iou_type=iou_type,
        det_rows=rows,
        det_image=dets.image[rows],
        det_category=dets.category[rows],
        det_score=dets.score[rows],
        det_rank=rank_in_pair(keys, dets.score[rows]),
        det_area=area,
        unmatched_ignore=unmatched,
        gt_rows=gt_rows,
        gt_ignore=gt_ignore,
        gt_crowd=np.zeros(len(gt_rows), dtype=bool),
        max_dets=(MAX_DETS,),
    )


def evaluate_images(p: Prepared) -> PerImage:
    return coco_evaluate_images(p)


def accumulate(p: Prepared, e: PerImage) -> tuple[np.ndarray, np.ndarray]:
    """COCO's accumulation over LVIS's prepared data (one max-dets setting: 300)."""
    return coco_accumulate(p, e)


def frequency_groups(truth: GroundTruth) -> list[list[int]]:
    """Category indices per frequency group r, c, f (lvis-api's ``freq_groups``)."""
    groups: list[list[int]] = [[] for _ in FREQUENCY_GROUPS]
    for k, f in enumerate(truth.category_frequency):
        if f in FREQUENCY_GROUPS:
            groups[FREQUENCY_GROUPS.index(f)].append(k)
    return groups


def summarize(precision: np.ndarray, recall: np.ndarray, groups: list[list[int]]) -> dict:
    """lvis-api's ``summarize()``: its thirteen numbers, by its names."""
    # lvis-api's arrays have no max-detections axis
    p4, r3 = precision[..., 0], recall[..., 0]

    def one(
        kind: str, iou_thr: float | None = None, area: str = "all", group: int | None = None
    ) -> float:
        aidx = [i for i, a in enumerate(AREA_LABELS) if a == area]
        if kind == "ap":
            s = p4
            if iou_thr is not None:
                s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
            s = s[:, :, groups[group], aidx] if group is not None else s[:, :, :, aidx]
        else:
            s = r3
            if iou_thr is not None:
                s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
            s = s[:, :, aidx]
        if len(s[s > -1]) == 0:
            return -1.0
        return float(np.mean(s[s > -1]))

    stats = {
        "AP": one("ap"),
        "AP50": one("ap", iou_thr=0.5),
        "AP75": one("ap", iou_thr=0.75),
        "APs": one("ap", area="small"),
        "APm": one("ap", area="medium"),
        "APl": one("ap", area="large"),
        "APr": one("ap", group=0),
        "APc": one("ap", group=1),
        "APf": one("ap", group=2),
        f"AR@{MAX_DETS}": one("ar"),
    }
    for area in ("small", "medium", "large"):
        stats[f"AR{area[0]}@{MAX_DETS}"] = one("ar", area=area)
    return stats


def evaluate_lvis(
    gt: GroundTruth | dict | str | Path,
    results: Detections | list[dict] | str | Path,
    iou_type: str = "segm",
) -> EvalResult:
    """LVIS federated AP of ``results`` against an LVIS ground truth (dict or path).

    Images should carry ``neg_category_ids`` and ``not_exhaustive_category_ids`` (an
    absent list counts as empty) and categories their ``frequency`` ('r', 'c', 'f').
    """
    # mask evaluation reads no boxes (areas come from the masks)
    truth, dets = load_inputs(gt, results, iou_type, boxes=iou_type == "bbox")
    p = prepare(truth, dets, iou_type)
    e = evaluate_images(p)
    precision, recall = accumulate(p, e)
    stats = summarize(precision, recall, frequency_groups(truth))
    return make_result("lvis", iou_type, p, precision, recall, stats)

"""COCO-style AP and AR, the twelve numbers of pycocotools' ``COCOeval.summarize()``.

Three steps, as in pycocotools: :func:`prepare` (which detections and ground truths
take part, their areas and ignore flags), :func:`evaluate_images` (IoUs and greedy
matching for every image and category) and :func:`accumulate` (precision and recall),
then :func:`summarize`. The numbers equal pycocotools' on the same input, including
its conventions:

- a ground truth is ignored when it is a crowd region (its ``ignore`` field is not
  read) or its ``area`` field lies outside the area range;
- IoU against a crowd region is intersection over the detection's area, and a crowd
  region may match any number of detections;
- per (image, category) only the 100 best-scoring detections are kept; maxDets 1 and
  10 keep the first 1 and 10 of those;
- a detection's area is its box's w*h when the first result carries a ``bbox``
  (pycocotools' ``loadRes`` decides on result 0), otherwise its mask's pixel count;
  an unmatched detection outside the area range is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import accumulate as acc
from .data import (
    Detections,
    EvaluationError,
    GroundTruth,
    check_masks,
    load_detections,
    load_ground_truth,
)
from .matching import IOU_THRESHOLDS, Matches, box_ious, detection_flags, greedy_match, mask_ious
from .matching import overlaps as find_overlaps
from .result import CategoryScore, EvalResult, mean_defined

AREA_RANGES = np.array([[0**2, 1e5**2], [0**2, 32**2], [32**2, 96**2], [96**2, 1e5**2]])
AREA_LABELS = ("all", "small", "medium", "large")
MAX_DETS = (1, 10, 100)
IOU_TYPES = ("bbox", "segm")


@dataclass(eq=False)
class Prepared:
    """Who takes part, with ranks, areas and ignore flags (step 1)."""

    truth: GroundTruth
    dets: Detections
    iou_type: str
    det_rows: np.ndarray  # indices into the results list, of the detections kept
    det_image: np.ndarray
    det_category: np.ndarray
    det_score: np.ndarray
    det_rank: np.ndarray  # place within its (image, category) by descending score
    det_area: np.ndarray
    unmatched_ignore: np.ndarray  # [A, D]
    gt_rows: np.ndarray  # indices of the annotations taking part
    gt_ignore: np.ndarray  # [A, G]
    gt_crowd: np.ndarray  # [G]
    max_dets: tuple[int, ...]


@dataclass(eq=False)
class PerImage:
    """Step 2's output: the matching and the flags of the detections with edges."""

    matches: Matches
    true_positive: np.ndarray  # [A, T, S]
    ignored: np.ndarray  # [A, T, S]


def rank_in_pair(keys: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each detection's place among those with the same key, by descending score and
    then list order (pycocotools' ``argsort(-score, kind='mergesort')``)."""
    order = np.lexsort((np.arange(len(keys)), -score, keys))
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys)) - group_start
    return rank


def prepare(truth: GroundTruth, dets: Detections, iou_type: str) -> Prepared:
    keys = truth.pair_keys(dets.image, dets.category)
    rank = rank_in_pair(keys, dets.score)
    keep = np.flatnonzero(rank < MAX_DETS[-1])
    if dets.first_has_bbox:
        if dets.bbox is None:
            raise EvaluationError("these detections were loaded without their boxes")
        area = dets.bbox[keep, 2] * dets.bbox[keep, 3]
    else:
        area = dets.mask_areas(keep).astype(np.float64)
    gt_rows = np.arange(len(truth.ann_ids))
    gt_flag = truth.ann_iscrowd  # pycocotools: ignore = iscrowd
    gt_area = truth.ann_area
    lo, hi = AREA_RANGES[:, 0:1], AREA_RANGES[:, 1:2]
    gt_ignore = gt_flag[None, :] | (gt_area[None, :] < lo) | (gt_area[None, :] > hi)
    unmatched = (area[None, :] < lo) | (area[None, :] > hi)
    return Prepared(
        truth=truth,
        dets=dets,
        iou_type=iou_type,
        det_rows=keep,
        det_image=dets.image[keep],
        det_category=dets.category[keep],
        det_score=dets.score[keep],
        det_rank=rank[keep],
        det_area=area,
        unmatched_ignore=unmatched,
        gt_rows=gt_rows,
        gt_ignore=gt_ignore,
        gt_crowd=truth.ann_iscrowd.copy(),
        max_dets=MAX_DETS,
    )


def pair_ious(p: Prepared) -> Any:
    """A function (det, gt) -> IoU for index pairs into the prepared arrays."""
    truth, dets = p.truth, p.dets
    gt_rows, det_rows = p.gt_rows, p.det_rows
    if p.iou_type == "bbox":
        if truth.ann_bbox is None:
            raise EvaluationError("box evaluation needs a 'bbox' on every ground-truth annotation")
        gt_boxes = truth.ann_bbox[gt_rows]
        dt_boxes = dets.boxes()[det_rows]

        def boxes(d: np.ndarray, g: np.ndarray) -> np.ndarray:
            return box_ious(dt_boxes[d], gt_boxes[g], p.gt_crowd[g])

        return boxes

    gt_rles_all = truth.rles()
    gt_rles = [gt_rles_all[i] for i in gt_rows]
    seg = dets.segmentation
    assert seg is not None

    def masks(d: np.ndarray, g: np.ndarray) -> np.ndarray:
        used = np.unique(d)
        rows = det_rows[used]
        check_masks(
            [seg[i] for i in rows],
            truth.heights[dets.image[rows]],
            truth.widths[dets.image[rows]],
            lambda j: f"result #{rows[j]}",
        )
        return mask_ious(d, g, p.det_image[d], [seg[i] for i in det_rows], gt_rles, p.gt_crowd)

    return masks


def evaluate_images(p: Prepared) -> PerImage:
    truth = p.truth
    dt_keys = truth.pair_keys(p.det_image, p.det_category)
    gt_keys = truth.pair_keys(truth.ann_image[p.gt_rows], truth.ann_category[p.gt_rows])
    edges = find_overlaps(dt_keys, gt_keys, p.gt_crowd, pair_ious(p))
    matches = greedy_match(edges, p.det_rank, p.gt_ignore, p.gt_crowd)
    gt_id_nonzero = truth.ann_ids[p.gt_rows] != 0
    tp, ignored = detection_flags(
        matches, p.gt_ignore, gt_id_nonzero, p.unmatched_ignore[:, matches.dets]
    )
    return PerImage(matches, tp, ignored)


def accumulate(p: Prepared, e: PerImage) -> tuple[np.ndarray, np.ndarray]:
    truth = p.truth
    K = truth.n_categories
    gt_cat = truth.ann_category[p.gt_rows]
    npig = np.stack(
        [np.bincount(gt_cat[~p.gt_ignore[a]], minlength=K) for a in range(len(AREA_RANGES))],
        axis=1,
    )
    return acc.accumulate(
        K,
        p.det_category,
        p.det_score,
        p.det_image,
        p.det_rank,
        p.unmatched_ignore,
        e.matches,
        e.true_positive,
        e.ignored,
        npig,
        list(p.max_dets),
        IOU_THRESHOLDS,
    )


def _summarize(
    precision: np.ndarray,
    recall: np.ndarray,
    ap: int = 1,
    iou_thr: float | None = None,
    area: str = "all",
    max_dets: int = 100,
) -> float:
    # pycocotools' _summarize, indexing included, so the means agree to the last bit
    aind = [i for i, a in enumerate(AREA_LABELS) if a == area]
    mind = [i for i, m in enumerate(MAX_DETS) if m == max_dets]
    if ap == 1:
        s = precision
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
        s = s[:, :, :, aind, mind]
    else:
        s = recall
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
        s = s[:, :, aind, mind]
    if len(s[s > -1]) == 0:
        return -1.0
    return float(np.mean(s[s > -1]))


def summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """pycocotools' twelve numbers, by name."""
    return {
        "AP": _summarize(precision, recall, 1),
        "AP50": _summarize(precision, recall, 1, iou_thr=0.5, max_dets=100),
        "AP75": _summarize(precision, recall, 1, iou_thr=0.75, max_dets=100),
        "APs": _summarize(precision, recall, 1, area="small", max_dets=100),
        "APm": _summarize(precision, recall, 1, area="medium", max_dets=100),
        "APl": _summarize(precision, recall, 1, area="large", max_dets=100),
        "AR1": _summarize(precision, recall, 0, max_dets=1),
        "AR10": _summarize(precision, recall, 0, max_dets=10),
        "AR100": _summarize(precision, recall, 0, max_dets=100),
        "ARs": _summarize(precision, recall, 0, area="small", max_dets=100),
        "ARm": _summarize(precision, recall, 0, area="medium", max_dets=100),
        "ARl": _summarize(precision, recall, 0, area="large", max_dets=100),
    }


def category_table(
    truth: GroundTruth,
    precision: np.ndarray,
    recall: np.ndarray,
    n_gt: np.ndarray,
    n_det: np.ndarray,
) -> dict[int, CategoryScore]:
    """Per-category AP (area 'all', the largest max-detections setting)."""
    t75 = int(np.where(IOU_THRESHOLDS == 0.75)[0][0])
    table = {}
    for k, cid in enumerate(truth.category_ids.tolist()):
        p = precision[:, :, k, 0, -1]
        table[cid] = CategoryScore(
            category_id=cid,
            name=truth.category_names[k],
            ap=mean_defined(p),
            ap50=mean_defined(p[0]),
            ap75=mean_defined(p[t75]),
            ar=mean_defined(recall[:, k, 0, -1]),
            n_gt=int(n_gt[k]),
            n_det=int(n_det[k]),
            frequency=truth.category_frequency[k],
        )
    return table


def evaluate_coco(
    gt: GroundTruth | dict | str | Path,
    results: Detections | list[dict] | str | Path,
    iou_type: str = "segm",
) -> EvalResult:
    """COCO AP/AR of ``results`` against ``gt``, equal to pycocotools' COCOeval.

    ``gt``: a COCO/LVIS dict or JSON path; ``results``: a COCO results list or JSON
    path; ``iou_type``: 'bbox' or 'segm'.
    """
    truth, dets = load_inputs(gt, results, iou_type)
    p = prepare(truth, dets, iou_type)
    e = evaluate_images(p)
    precision, recall = accumulate(p, e)
    return make_result("coco", iou_type, p, precision, recall, summarize(precision, recall))


def load_inputs(
    gt: GroundTruth | dict | str | Path,
    results: Detections | list[dict] | str | Path,
    iou_type: str,
    **options: bool,
) -> tuple[GroundTruth, Detections]:
    """Ground truth and detections, loaded and checked (shared by COCO and LVIS)."""
    if iou_type not in IOU_TYPES:
        raise EvaluationError(f"unknown iou type {iou_type!r}; use 'bbox' or 'segm'")
    truth = load_ground_truth(gt)
    if not truth.n_images or not truth.n_categories:
        raise EvaluationError("the ground truth has no images or no categories")
    return truth, load_detections(results, truth, iou_type, **options)


def make_result(
    metric: str,
    iou_type: str,
    p: Prepared,
    precision: np.ndarray,
    recall: np.ndarray,
    stats: dict[str, float],
) -> EvalResult:
    """The result of an accumulated evaluation, with its per-category table."""
    truth = p.truth
    K = truth.n_categories
    n_gt = np.bincount(truth.ann_category[p.gt_rows][~p.gt_ignore[0]], minlength=K)
    n_det = np.bincount(p.det_category, minlength=K)
    return EvalResult(
        metric=metric,
        iou_type=iou_type,
        stats=stats,
        per_category=category_table(truth, precision, recall, n_gt, n_det),
        category_ids=tuple(truth.category_ids.tolist()),
        precision=precision,
        recall=recall,
        iou_thresholds=IOU_THRESHOLDS.copy(),
        recall_thresholds=acc.RECALL_THRESHOLDS.copy(),
        area_labels=AREA_LABELS,
        max_dets=tuple(p.max_dets),
    )

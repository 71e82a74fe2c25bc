"""Step 2, "evaluate per image": IoUs and the greedy matching of pycocotools' evaluateImg.

pycocotools matches one (image, category) at a time, detection by detection in score
order, for each IoU threshold and area range. Here every (image, category) pair is
matched at once:

- IoUs are computed only for (detection, ground truth) pairs of the same image and
  category; boxes in numpy with pycocotools' ``bbIou`` formula, masks with
  pycocotools' own C ``iou`` (one call per image), so the values are bit-identical.
- Only pairs with IoU >= 0.5 (the lowest threshold) can ever match; they are the
  *edges* of a small sparse graph.
- A detection's match depends on earlier detections only through the ground truths
  they share. Each detection gets a *level* one above the earlier detections it shares
  a (non-crowd) ground truth with; all detections of one level are independent and are
  matched together, for all thresholds and area ranges at once.

The choice rule is pycocotools' loop, restated: among the ground truths still free (a
crowd region is never used up) with IoU >= the threshold, take a non-ignored one if
any; within that group the highest IoU, and on equal IoU the last in the file's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
"""pycocotools' ``iouThrs`` (linspace, not arange, exactly as theirs)."""


def candidate_pairs(dt_keys: np.ndarray, gt_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (detection, ground truth) index pair with equal keys, grouped by detection
    and, within a detection, in ground-truth index order."""
    gt_order = np.argsort(gt_keys, kind="stable")
    sorted_keys = gt_keys[gt_order]
    lo = np.searchsorted(sorted_keys, dt_keys, side="left")
    hi = np.searchsorted(sorted_keys, dt_keys, side="right")
    count = hi - lo
    total = int(count.sum())
    det = np.repeat(np.arange(len(dt_keys), dtype=np.int64), count)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    gt = gt_order[np.repeat(lo, count) + offset]
    return det, gt


def box_ious(dt_boxes: np.ndarray, gt_boxes: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of each row of ``dt_boxes`` with the same row of ``gt_boxes`` ([x, y, w, h]).

    pycocotools' ``bbIou`` operation for operation (so the doubles agree bit for bit);
    against a crowd region the union is the detection's own area.
    """
    dx, dy, dw, dh = dt_boxes.T
    gx, gy, gw, gh = gt_boxes.T
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = w * h
    da = dw * dh
    union = np.where(crowd, da, (gw * gh + da) - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)


def mask_ious(
    det: np.ndarray,
    gt: np.ndarray,
    image: np.ndarray,
    dt_rles: Sequence[dict],
    gt_rles: Sequence[dict],
    crowd: np.ndarray,
) -> np.ndarray:
    """Mask IoU of each (det[i], gt[i]) pair (both of image ``image[i]``), with
    pycocotools' C ``iou``: one call per image, over the detections and the ground
    truths that pair up in it (pairs of other categories there are computed and
    dropped; one call per image costs less than one per image and category)."""
    out = np.zeros(len(det), dtype=np.float64)
    if not len(det):
        return out
    # Local positions of detections and ground truths within their image's call.
    ud = np.unique(det)
    ug = np.unique(gt)
    d_img = _image_of(ud, det, image)
    g_img = _image_of(ug, gt, image)
    d_order = np.argsort(d_img, kind="stable")
    g_order = np.argsort(g_img, kind="stable")
    ud, d_img = ud[d_order], d_img[d_order]
    ug, g_img = ug[g_order], g_img[g_order]
    images = np.unique(image)
    ends: np.ndarray = np.r_[images, images[-1] + 1]
    d_bounds = np.searchsorted(d_img, ends)
    g_bounds = np.searchsorted(g_img, ends)
    d_local = np.arange(len(ud)) - np.repeat(d_bounds[:-1], np.diff(d_bounds))
    g_local = np.arange(len(ug)) - np.repeat(g_bounds[:-1], np.diff(g_bounds))
    d_at = np.empty(int(ud.max()) + 1, dtype=np.int64)
    d_at[ud] = d_local
    g_at = np.empty(int(ug.max()) + 1, dtype=np.int64)
    g_at[ug] = g_local
    dt_list = [dt_rles[i] for i in ud.tolist()]
    gt_list = [gt_rles[j] for j in ug.tolist()]
    crowd_u8 = crowd[ug].astype(np.uint8)
    pair_order = np.argsort(image, kind="stable")
    p_bounds = np.searchsorted(image[pair_order], ends)
    for i in range(len(images)):
        d0, d1 = int(d_bounds[i]), int(d_bounds[i + 1])
        g0, g1 = int(g_bounds[i]), int(g_bounds[i + 1])
        rows = pair_order[p_bounds[i] : p_bounds[i + 1]]
        matrix = mask_utils.iou(dt_list[d0:d1], gt_list[g0:g1], crowd_u8[g0:g1])
        matrix = np.asarray(matrix).reshape(d1 - d0, g1 - g0)
        out[rows] = matrix[d_at[det[rows]], g_at[gt[rows]]]
    return out


def _image_of(items: np.ndarray, member: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The image of each of ``items`` (sorted unique values of ``member``)."""
    at = np.searchsorted(items, member)
    out = np.empty(len(items), dtype=image.dtype)
    out[at] = image
    return out


@dataclass(frozen=True)
class Edges:
    """(detection, ground truth) pairs of one image and category with IoU >= 0.5."""

    det: np.ndarray
    gt: np.ndarray
    iou: np.ndarray


def overlaps(
    dt_keys: np.ndarray,
    gt_keys: np.ndarray,
    gt_crowd: np.ndarray,
    iou_of_pairs: Callable[[np.ndarray, np.ndarray], np.ndarray],
    lowest: float = float(IOU_THRESHOLDS[0]),
) -> Edges:
    """The edges: IoUs of all same-key pairs, kept where they reach ``lowest``."""
    det, gt = candidate_pairs(dt_keys, gt_keys)
    iou = iou_of_pairs(det, gt)
    keep = iou >= min(lowest, 1 - 1e-10)
    return Edges(det[keep], gt[keep], iou[keep])


@dataclass(frozen=True)
class Matches:
    """Greedy matching result: for each detection that has an edge (``dets``), the
    ground truth it matched under each area range and threshold (-1: none)."""

    dets: np.ndarray  # int64 [S] detection indices, sorted
    gt: np.ndarray  # int64 [A, T, S]


def greedy_match(
    edges: Edges,
    det_rank: np.ndarray,
    gt_ignore: np.ndarray,
    gt_crowd: np.ndarray,
    thresholds: np.ndarray = IOU_THRESHOLDS,
) -> Matches:
    """pycocotools' evaluateImg matching for all pairs, area ranges and thresholds.

    ``det_rank`` is each detection's place in its (image, category) by descending
    score (the order pycocotools matches in); ``gt_ignore`` is [A, G]: ignored under
    area range a (crowd, ``ignore`` flag or outside the range).
    """
    A = gt_ignore.shape[0]
    T = len(thresholds)
    dets, e_s = np.unique(edges.det, return_inverse=True)
    S = len(dets)
    matched = np.full((A, T, S), -1, dtype=np.int64)
    if not S:
        return Matches(dets, matched)
    e_gt, e_iou = edges.gt, edges.iou
    rank = det_rank[dets]

    # Levels: one above every earlier detection sharing a non-crowd ground truth.
    level = np.zeros(S, dtype=np.int64)
    solid = np.flatnonzero(~gt_crowd[e_gt])
    if len(solid):
        by_gt = solid[np.lexsort((rank[e_s[solid]], e_gt[solid]))]
        same = e_gt[by_gt[1:]] == e_gt[by_gt[:-1]]
        later = e_s[by_gt[1:]][same]
        earlier = e_s[by_gt[:-1]][same]
        while len(later):
            lifted = level.copy()
            np.maximum.at(lifted, later, level[earlier] + 1)
            if np.array_equal(lifted, level):
                break
            level = lifted

    limits = np.minimum(thresholds, 1 - 1e-10)
    order = np.lexsort((e_gt, e_iou, e_s, level[e_s]))
    e_s, e_gt, e_iou = e_s[order], e_gt[order], e_iou[order]
    e_level = level[e_s]
    taken = np.zeros((A, T, gt_ignore.shape[1]), dtype=bool)
    starts = np.searchsorted(e_level, np.arange(int(level.max()) + 2))
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):
        if lo == hi:
            continue
        s, g, iou = e_s[lo:hi], e_gt[lo:hi], e_iou[lo:hi]
        n = hi - lo
        free = gt_crowd[g][None, None, :] | ~taken[:, :, g]  # [A, T, n]
        valid = free & (iou[None, None, :] >= limits[None, :, None])
        big = n + 1
        key = np.where(valid, (~gt_ignore[:, g])[:, None, :] * big + np.arange(n), -1)
        seg = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        best = np.maximum.reduceat(key, seg, axis=2)  # [A, T, n_dets]
        hit = best >= 0
        pick = np.where(hit, best % big, 0)
        chosen_gt = np.where(hit, g[pick], -1)
        matched[:, :, s[seg]] = chosen_gt
        aa, tt, jj = np.nonzero(hit)
        gg = chosen_gt[aa, tt, jj]
        solid_pick = ~gt_crowd[gg]
        taken[aa[solid_pick], tt[solid_pick], gg[solid_pick]] = True
    return Matches(dets, matched)


def detection_flags(
    matches: Matches,
    gt_ignore: np.ndarray,
    gt_id_nonzero: np.ndarray,
    unmatched_ignore: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For the detections with edges: true positive and ignore flags, [A, T, S].

    As pycocotools: a detection matched to an ignored ground truth is ignored; an
    unmatched one is ignored where ``unmatched_ignore`` [A, S] says (outside the area
    range; for LVIS also a not-exhaustive category). pycocotools records a match by
    the ground truth's id, so a match to an annotation with id 0 counts as none;
    that is kept for identical numbers.
    """
    g = matches.gt
    hit = g >= 0
    safe = np.where(hit, g, 0)
    A = gt_ignore.shape[0]
    ign_of_match = gt_ignore[np.arange(A)[:, None, None], safe] & hit
    recorded = hit & gt_id_nonzero[safe]
    ignored = ign_of_match | (~recorded & unmatched_ignore[:, None, :])
    true_positive = recorded & ~ignored
    return true_positive, ignored

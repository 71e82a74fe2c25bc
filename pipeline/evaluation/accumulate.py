"""Step 3, "accumulate": precision at 101 recall points and recall, as pycocotools.

pycocotools concatenates, per category, area range and max-detections setting, the
per-image results, sorts them by score (mergesort), and walks cumulative true and
false positive counts. The same numbers come out of a shorter route:

- Detections are put in pycocotools' order once: by category, descending score,
  then image, then the results list's order (what its stable sorts amount to).
- Most detections match nothing at any threshold (no IoU >= 0.5). They only add to
  the false-positive count, so a running count of them, read off at the few
  detections that can match, replaces the walk over all of them.
- Precision at a recall point is the best precision at or after the first detection
  reaching that recall; the best is always reached at a true positive, so only true
  positives are looked at. The values are computed with pycocotools' own formulas
  (``tp / (fp + tp + eps)``, ``tp / npig``), hence identical doubles.
"""

from __future__ import annotations

import numpy as np

from .matching import Matches

RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
"""pycocotools' ``recThrs``."""


def score_order(category: np.ndarray, score: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Detection indices in pycocotools' accumulate order: category, descending score,
    image (sorted id order), then position in the results list."""
    return np.lexsort((np.arange(len(score)), image, -score, category))


def accumulate(
    n_categories: int,
    det_category: np.ndarray,
    det_score: np.ndarray,
    det_image: np.ndarray,
    det_rank: np.ndarray,
    unmatched_ignore: np.ndarray,
    matches: Matches,
    true_positive: np.ndarray,
    ignored: np.ndarray,
    n_positive_gt: np.ndarray,
    max_dets: list[int],
    thresholds: np.ndarray,
    recall_thresholds: np.ndarray = RECALL_THRESHOLDS,
) -> tuple[np.ndarray, np.ndarray]:
    """``precision`` [T, R, K, A, M] and ``recall`` [T, K, A, M], -1 where a category
    has no non-ignored ground truth (pycocotools' conventions).

    ``det_rank``: each detection's place in its (image, category) by score, which the
    max-detections settings cut at. ``unmatched_ignore`` [A, D]: the ignore flag of a
    detection that matches nothing. ``true_positive``/``ignored`` [A, T, S]: the flags
    of the detections in ``matches.dets``. ``n_positive_gt`` [K, A]: non-ignored ground
    truths per category and area range.
    """
    K = n_categories
    A = unmatched_ignore.shape[0]
    T = len(thresholds)
    R = len(recall_thresholds)
    M = len(max_dets)
    D = len(det_score)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))

    order = score_order(det_category, det_score, det_image)
    position = np.empty(D, dtype=np.int64)
    position[order] = np.arange(D)
    sorted_cat = det_category[order]
    cat_start = np.searchsorted(sorted_cat, np.arange(K))

    S_all = matches.dets
    in_s = np.zeros(D, dtype=bool)
    in_s[S_all] = True
    # The detections with edges, in accumulate order.
    s_order = np.argsort(position[S_all], kind="stable")
    s_dets = S_all[s_order]
    s_cat = det_category[s_dets]
    s_rank = det_rank[s_dets]
    s_pos = position[s_dets]
    s_cat_start = np.searchsorted(s_cat, np.arange(K))
    tp_all = true_positive[:, :, s_order]
    ig_all = ignored[:, :, s_order]

    for a in range(A):
        npig = n_positive_gt[:, a].astype(np.int64)
        has_gt = npig > 0
        first_tp = _first_true_positive_needed(npig, recall_thresholds)  # [K, R]
        for m, max_det in enumerate(max_dets):
            # Detections without edges: false positives unless ignored or cut off.
            base = ~in_s & (det_rank < max_det) & ~unmatched_ignore[a]
            # cum[i]: counted detections among the first i in accumulate order
            cum = np.concatenate(([0], np.cumsum(base[order], dtype=np.int64)))
            base_fp = cum[s_pos + 1] - cum[cat_start][s_cat]

            kept = s_rank < max_det
            tp = tp_all[a] & kept  # [T, S]
            fp = ~tp_all[a] & ~ig_all[a] & kept
            tp_cum = _cumsum_by_segment(tp, s_cat, s_cat_start)
            fp_cum = _cumsum_by_segment(fp, s_cat, s_cat_start) + base_fp

            tt, ii = np.nonzero(tp)
            tpv = tp_cum[tt, ii].astype(np.float64)
            fpv = fp_cum[tt, ii].astype(np.float64)
            pr = tpv / (fpv + tpv + np.spacing(1))
            seg = tt * K + s_cat[ii]
            envelope = _suffix_max(pr, seg)
            seg_start = np.searchsorted(seg, np.arange(T * K)).reshape(T, K)
            n_tp = np.searchsorted(seg, np.arange(T * K), side="right").reshape(T, K) - seg_start

            # q[t, r, k]: envelope at the first_tp-th true positive, 0 past the last one.
            reach = first_tp[None, :, :] <= n_tp[:, :, None]  # [T, K, R]
            at = seg_start[:, :, None] + first_tp[None, :, :] - 1
            if len(envelope):
                values = np.where(reach, envelope[np.clip(at, 0, len(envelope) - 1)], 0.0)
            else:
                values = np.zeros(reach.shape)
            q = np.transpose(values, (0, 2, 1))  # [T, R, K]
            precision[:, :, has_gt, a, m] = q[:, :, has_gt]
            with np.errstate(divide="ignore", invalid="ignore"):
                rc = n_tp.astype(np.float64) / npig[None, :]
            recall[:, has_gt, a, m] = rc[:, has_gt]
    return precision, recall


def _first_true_positive_needed(npig: np.ndarray, recall_thresholds: np.ndarray) -> np.ndarray:
    """[K, R]: the smallest j >= 1 with j / npig >= r (pycocotools' searchsorted on rc)."""
    n = np.maximum(npig, 1).astype(np.float64)[:, None]
    r = recall_thresholds[None, :]
    j = np.maximum(np.ceil(r * n), 1.0)
    # Float rounding may put the ceiling one off; settle it on the exact comparison.
    down = (j > 1) & ((j - 1) / n >= r)
    j = np.where(down, j - 1, j)
    up = j / n < r
    j = np.where(up, j + 1, j)
    first: np.ndarray = j.astype(np.int64)
    return first


def _cumsum_by_segment(flags: np.ndarray, seg_of: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    """Running count of ``flags`` [T, S] along S, restarting at each category."""
    cum = np.zeros((flags.shape[0], flags.shape[1] + 1), dtype=np.int64)
    np.cumsum(flags, axis=1, dtype=np.int64, out=cum[:, 1:])
    # entry i: count up to and including i, less the count before its category began
    return cum[:, 1:] - cum[:, seg_start[seg_of]]


def _suffix_max(values: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """max(values[i:end of i's segment]) for each i; ``seg`` must be non-decreasing.

    A complex number compares by real part first, so with -seg as the real part a
    running maximum from the right never leaks across segments, and the imaginary
    part carries the exact values through.
    """
    if not len(values):
        return values
    z = -seg.astype(np.float64) + 1j * values
    running: np.ndarray = np.maximum.accumulate(z[::-1])[::-1].imag.copy()
    return running

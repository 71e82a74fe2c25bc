"""What an evaluation returns: the summary numbers, per-category scores and the curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import EvaluationError


@dataclass(frozen=True)
class CategoryScore:
    """One category's line of the per-category table (None where undefined: no
    non-ignored ground truth)."""

    category_id: int
    name: str
    ap: float | None
    ap50: float | None
    ap75: float | None
    ar: float | None
    n_gt: int  # non-ignored ground truths (area 'all')
    n_det: int  # detections evaluated for this category
    frequency: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.category_id,
            "name": self.name,
            "AP": self.ap,
            "AP50": self.ap50,
            "AP75": self.ap75,
            "AR": self.ar,
            "n_gt": self.n_gt,
            "n_det": self.n_det,
            "frequency": self.frequency,
        }


@dataclass(frozen=True, eq=False)
class EvalResult:
    """The outcome of :func:`evaluate_coco`, :func:`evaluate_lvis` or :func:`evaluate_voc`.

    ``stats`` holds the summary numbers under the reference tools' names (-1 where
    undefined, as they print it). For COCO and LVIS, ``precision`` is pycocotools'
    ``eval['precision']`` [T, R, K, A, M] (LVIS: M = 1, 300 detections) and ``recall``
    its [T, K, A, M]; categories run in ``category_ids`` order.
    """

    metric: str
    iou_type: str
    stats: dict[str, float]
    per_category: dict[int, CategoryScore]
    category_ids: tuple[int, ...]
    precision: np.ndarray | None = None
    recall: np.ndarray | None = None
    iou_thresholds: np.ndarray | None = None
    recall_thresholds: np.ndarray | None = None
    area_labels: tuple[str, ...] = ("all", "small", "medium", "large")
    max_dets: tuple[int, ...] = ()
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def pr_curve(
        self,
        category_id: int,
        iou: float = 0.5,
        area: str = "all",
        max_dets: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(recall, precision) of one category, for plotting.

        COCO/LVIS: the 101-point interpolated curve at IoU ``iou``; VOC: the all-point
        curve (its precision envelope) at IoU 0.5. Empty arrays where undefined.
        """
        if self.metric == "voc":
            if category_id not in self.per_category:
                raise EvaluationError(f"unknown category id {category_id}")
            return self.curves.get(category_id, (np.zeros(0), np.zeros(0)))
        assert self.precision is not None and self.iou_thresholds is not None
        assert self.recall_thresholds is not None  # set with the precision
        try:
            k = self.category_ids.index(category_id)
        except ValueError:
            raise EvaluationError(f"unknown category id {category_id}") from None
        t = np.flatnonzero(np.isclose(self.iou_thresholds, iou))
        if not len(t):
            raise EvaluationError(
                f"IoU {iou} is not one of the thresholds {np.round(self.iou_thresholds, 2)}"
            )
        if area not in self.area_labels:
            raise EvaluationError(f"unknown area range {area!r}; use one of {self.area_labels}")
        m = len(self.max_dets) - 1 if max_dets is None else self.max_dets.index(max_dets)
        p = self.precision[t[0], :, k, self.area_labels.index(area), m]
        if (p < 0).all():
            return np.zeros(0), np.zeros(0)
        return self.recall_thresholds.copy(), p.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: metric, iou type, stats and the per-category table."""
        return {
            "metric": self.metric,
            "iou_type": self.iou_type,
            "stats": {k: float(v) for k, v in self.stats.items()},
            "per_category": [c.to_dict() for c in self.per_category.values()],
        }


def mean_defined(values: np.ndarray) -> float | None:
    """Mean over entries > -1 (the reference tools' rule), None when there are none."""
    kept = values[values > -1]
    return float(np.mean(kept)) if kept.size else None

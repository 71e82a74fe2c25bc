"""Evaluation: COCO AP/AR, VOC AP50 and LVIS federated AP, for boxes and masks.

The numbers equal pycocotools' ``COCOeval`` and lvis-api's ``LVISEval`` on the same
input; the work is done for all images and categories at once with numpy (and
pycocotools' C mask IoU), in the reference tools' three steps: prepare, evaluate per
image (matching), accumulate.
"""

from __future__ import annotations

from .coco import evaluate_coco
from .data import (
    Detections,
    EvaluationError,
    GroundTruth,
    load_detections,
    load_ground_truth,
)
from .lvis import evaluate_lvis
from .result import CategoryScore, EvalResult
from .voc import evaluate_voc

__all__ = [
    "CategoryScore",
    "Detections",
    "EvalResult",
    "EvaluationError",
    "GroundTruth",
    "evaluate_coco",
    "evaluate_lvis",
    "evaluate_voc",
    "load_detections",
    "load_ground_truth",
]

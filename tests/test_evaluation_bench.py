"""bench/eval.py's generated LVIS-like case: a few images, checked against pycocotools."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script
from reference.cases import COCO_STAT_NAMES, LVIS_STAT_NAMES, run_lvis_reference, run_pycocotools

from pipeline.evaluation import evaluate_coco, evaluate_lvis


@pytest.fixture(scope="module")
def case():
    return load_script("bench/eval.py").generate(4, seed=3)


def test_generated_case_shape(case):
    gt, results = case
    per_image = np.bincount([r["image_id"] for r in results])
    assert per_image.max() <= 300 and per_image[1:].min() >= 150
    assert len(gt["categories"]) == 1203


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_generated_case_equal_to_references(case, iou_type):
    gt, results = case
    ref = run_pycocotools(gt, results, iou_type)
    ours = evaluate_coco(gt, results, iou_type)
    assert np.abs(np.array([ours.stats[k] for k in COCO_STAT_NAMES]) - ref.stats).max() <= 1e-4
    lvis_ref = run_lvis_reference(gt, results, iou_type)
    lvis = evaluate_lvis(gt, results, iou_type)
    assert max(abs(lvis.stats[k] - lvis_ref.results[k]) for k in LVIS_STAT_NAMES) <= 1e-4

"""model.fallback: the classical box -> mask beats the box on real COCO data, never fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from model import fallback as F
from pipeline.masks.geometry import Mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def test_fallback_beats_the_box_on_tiny_coco_val(tiny_coco):
    document = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    images = {im["id"]: im for im in document["images"]}
    by_image: dict[int, list[dict]] = {}
    for ann in document["annotations"]:
        if not ann["iscrowd"]:
            by_image.setdefault(ann["image_id"], []).append(ann)
    scores: dict[str, list[float]] = {"box": [], "ellipse": [], "fallback": []}
    for image_id, anns in by_image.items():
        info = images[image_id]
        pixels = np.asarray(Image.open(tiny_coco / "val2017" / info["file_name"]).convert("RGB"))
        h, w = info["height"], info["width"]
        for ann in anns:
            truth = Mask.from_coco(ann["segmentation"], h, w).to_bitmap()
            box = ann["bbox"]
            scores["box"].append(_iou(F.box_mask(box, h, w).bitmap, truth))
            scores["ellipse"].append(_iou(F.prior_mask(box, h, w, 2.0).bitmap, truth))
            scores["fallback"].append(_iou(F.box_to_mask(pixels, box).bitmap, truth))
    means = {k: round(float(np.mean(v)), 4) for k, v in scores.items()}
    print(f"\nmean mask IoU on tiny_coco val, {len(scores['box'])} GT boxes: {means}")
    assert means["fallback"] > means["box"] + 0.03
    assert means["fallback"] > means["ellipse"]


def scene(height=120, width=160) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (40, 90, 40)
    yy, xx = np.mgrid[:height, :width]
    image[((yy - 60) / 35) ** 2 + ((xx - 80) / 50) ** 2 <= 1] = (230, 60, 50)
    return image


def test_a_clear_object_is_segmented_tightly():
    image = scene()
    truth = (scene()[:, :, 0] == 230).astype(np.uint8)
    result = F.box_to_mask(image, (30, 25, 100, 70))
    assert result.method in (F.GRABCUT, F.COLOUR)
    assert _iou(result.bitmap, truth) > 0.9


@pytest.mark.parametrize(
    "box",
    [
        (0, 0, 160, 120),  # the whole image: no background to learn from
        (-50, -50, 400, 400),  # larger than the image
        (10, 10, 0, 0),  # no area
        (500, 500, 20, 20),  # outside the image
        (3, 3, 4, 5),  # tiny
        (float("nan"), 10, 20, 20),
        (159.6, 119.6, 5, 5),  # at the far corner
    ],
)
def test_odd_boxes_never_raise_and_never_give_an_empty_mask(box):
    result = F.box_to_mask(scene(), box)
    assert result.bitmap.shape == (120, 160) and result.bitmap.any()
    c0, r0, c1, r1 = F.pixel_box(box, 120, 160)
    outside = result.bitmap.copy()
    outside[r0:r1, c0:c1] = 0
    assert not outside.any()


@pytest.mark.parametrize(
    "image",
    [
        np.full((50, 60), 128, np.uint8),  # grey
        np.zeros((50, 60, 4), np.uint8),  # RGBA, all black
        np.random.default_rng(0).random((50, 60, 3)) * 255,  # float
        np.zeros((1, 1, 3), np.uint8),
    ],
)
def test_odd_images_are_accepted(image):
    result = F.box_to_mask(image, (5, 5, 40, 30))
    assert result.bitmap.shape == image.shape[:2] and result.bitmap.any()


def test_prior_is_an_inscribed_rounded_box():
    box = (10, 20, 40, 30)
    prior = F.prior_mask(box, 100, 100).bitmap
    ellipse = F.prior_mask(box, 100, 100, 2.0).bitmap
    full = F.box_mask(box, 100, 100).bitmap
    assert full.sum() == 1200
    assert ellipse.sum() < prior.sum() < full.sum()
    assert abs(ellipse.sum() / 1200 - np.pi / 4) < 0.02


def test_grabcut_reads_bilateral_filtered_pixels_and_answers_real_boxes_better(tiny_coco):
    # Texture and JPEG noise make GrabCut's colour models and edges follow the grain,
    # not the object: on filtered pixels its answer fits the box more often and better.
    document = json.loads((tiny_coco / "annotations" / "instances_train2017.json").read_text())
    first = document["images"][:8]
    scores: dict[int, list[float]] = {0: [], 5: []}
    for info in first:
        pixels = np.asarray(Image.open(tiny_coco / "train2017" / info["file_name"]).convert("RGB"))
        h, w = info["height"], info["width"]
        for ann in document["annotations"]:
            if ann["image_id"] != info["id"] or ann["iscrowd"]:
                continue
            truth = Mask.from_coco(ann["segmentation"], h, w).to_bitmap()
            for diameter, found in scores.items():
                settings = F.FallbackSettings(bilateral=diameter)
                found.append(_iou(F.box_to_mask(pixels, ann["bbox"], settings).bitmap, truth))
    assert F.FallbackSettings().bilateral == 5
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    print(f"\nbox answers on {len(scores[0])} tiny_coco train boxes: {means}")
    assert means[5] > means[0] + 0.001

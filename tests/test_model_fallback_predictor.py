"""Without weights, the GUI's predictor is built at once: no network, the classical
fallback for box and point prompts (model.registry.project_predictor(prompts_only=True))."""

from __future__ import annotations

import json

import pytest

from model import fallback
from model.predictor import FallbackPredictor
from model.registry import mask_weights_offline, project_predictor
from model.weights import KNOWN
from pipeline.errors import LongtailError
from pipeline.images import load_image
from pipeline.masks.geometry import Mask


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return folder


@pytest.fixture
def coco_object(tiny_coco):
    """A tiny_coco val image and the box of a large object on it."""
    doc = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    files = {i["id"]: i["file_name"] for i in doc["images"]}
    names = {c["id"]: c["name"] for c in doc["categories"]}
    ann = max(doc["annotations"], key=lambda a: a["area"] if not a.get("iscrowd") else 0)
    return (
        tiny_coco / "val2017" / files[ann["image_id"]],
        tuple(ann["bbox"]),
        names[ann["category_id"]],
    )


def test_without_weights_the_prompt_predictor_builds_no_network(
    coco_project, torch_home, coco_object
):
    path, box, name = coco_object
    predictor = project_predictor(coco_project, device="cpu", prompts_only=True)
    assert isinstance(predictor, FallbackPredictor)
    assert not hasattr(predictor, "model")  # no torch module at all, not even a random one
    assert not predictor.trained and not predictor.weights.has_weights
    found = predictor.box_to_mask(str(path), box, category=name)
    assert found.source.startswith("fallback:") and found.category == name
    assert found.mask.area > 0
    # the answer an untrained Predictor gives: the classical fallback on the box,
    # pixel for pixel (GrabCut's k-means seeding is seeded, so it repeats exactly)
    pixels = load_image(path)
    expected = Mask.from_bitmap(fallback.box_to_mask(pixels, found.box).bitmap)
    assert found.mask.iou(expected) == 1.0
    x, y, w, h = box
    by_point = predictor.point_to_mask(pixels, (x + w / 2, y + h / 2))
    assert by_point.source.startswith("fallback:") and by_point.mask.area > 0
    with pytest.raises(LongtailError, match="trained model"):
        predictor.propose(pixels)  # whole-image proposals: none without a trained model


def test_a_cached_coco_checkpoint_or_a_named_file_counts_as_mask_weights(torch_home, tmp_path):
    assert not mask_weights_offline(None, {})
    assert mask_weights_offline(None, {"weights": tmp_path / "mine.pt"})
    (torch_home / KNOWN["maskrcnn_resnet50_fpn_v2_coco"].file_name).write_bytes(b"x")
    assert mask_weights_offline(None, {}) and mask_weights_offline("r50-fpn-v2", {})
    assert not mask_weights_offline(None, {"use_cache": False})
    assert not mask_weights_offline("swin-t", {})  # no COCO Mask R-CNN for Swin-T


def test_the_model_worker_answers_a_box_without_building_a_network(
    qtbot, coco_project, torch_home, coco_object
):
    from app.gui.workers.model import ModelWorker

    path, box, _ = coco_object
    worker = ModelWorker(coco_project)
    try:
        with qtbot.waitSignal(worker.proposalReady, timeout=20000) as ready:
            worker.propose_box(str(path), box)
        assert ready.args[1].area > 0
        assert worker.last_source.startswith("fallback:")
        assert isinstance(worker.predictor, FallbackPredictor)
    finally:
        worker.close()

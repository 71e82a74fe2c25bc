"""Held-out evaluation after training: the same masks as torchvision's paste, faster.

detect() pastes each detection's mask into its box only and encodes it from there;
these tests hold it pixel for pixel to torchvision's own output encoded whole.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from training_support import one_thread, shapes_project  # noqa: F401 (autouse)

from model.training.architectures import build_for_training
from model.training.evaluate import LVIS_DETECTIONS, SCORE_THRESHOLD, _column_runs, detect
from model.training.loss import init_sigmoid_classifier, use_federated_heads
from model.training.snapshot import take_snapshot
from pipeline.images import load_image


def whole_rle(bitmap: np.ndarray) -> str:
    return mask_utils.encode(np.asfortranarray(bitmap.astype(np.uint8)))["counts"].decode()


@pytest.mark.parametrize("seed", range(6))
def test_runs_of_a_local_mask_equal_the_encoding_of_the_whole_image(seed):
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(1, 40, 2))
    y0, x0 = int(rng.integers(0, height)), int(rng.integers(0, width))
    h, w = int(rng.integers(0, height - y0 + 1)), int(rng.integers(0, width - x0 + 1))
    local = rng.random((h, w)) < [0.0, 0.5, 1.0][seed % 3]
    whole = np.zeros((height, width), dtype=bool)
    whole[y0 : y0 + h, x0 : x0 + w] = local
    counts = _column_runs(local, x0, y0, height, width)
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    assert rle["counts"].decode() == whole_rle(whole)


def test_detect_gives_torchvisions_masks_pixel_for_pixel(tmp_path):
    with shapes_project(tmp_path, train=1, val=2, size=96) as project:
        snapshot = take_snapshot(project)
    torch.manual_seed(0)
    model = build_for_training("tiny", snapshot.num_classes, min_size=160, max_size=160)
    use_federated_heads(model)
    init_sigmoid_classifier(model)
    model.roi_heads.nms_thresh = 0.95  # many overlapping detections, some at the borders
    model.eval()
    images = snapshot.heldout
    ours = detect(model, snapshot, images, torch.device("cpu"))
    heads = model.roi_heads
    heads.score_thresh, heads.detections_per_img = SCORE_THRESHOLD, LVIS_DETECTIONS
    theirs = []
    for image in images:
        tensor = torch.from_numpy(np.array(load_image(image.path))).permute(2, 0, 1).float() / 255
        with torch.inference_mode():
            out = model([tensor])[0]
        masks = (out["masks"][:, 0] > 0.5).numpy()
        theirs += [(whole_rle(m), s) for m, s in zip(masks, out["scores"].tolist(), strict=True)]
    assert len(ours) == len(theirs) > 100
    assert [r["segmentation"]["counts"] for r in ours] == [rle for rle, _ in theirs]
    assert [r["score"] for r in ours] == pytest.approx([score for _, score in theirs])

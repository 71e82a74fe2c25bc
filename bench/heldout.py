"""Benchmark: held-out evaluation after training against the model's inference alone.

    .venv/bin/python bench/heldout.py [--images 12] [--size 480] [--architecture tiny]

Builds a project of synthetic shapes (``size`` px, ``images`` held-out images), an
untrained model of ``architecture`` (it scores every class low, so each image yields
the full 300 detections above the 0.001 threshold, like an early model on a real set),
then times, on the CPU with one thread:

- ``inference_s``: the model's forward pass on every held-out image (detections at
  LVIS settings: 300 per image, score >= 0.001), nothing else;
- ``detect_s``: :func:`model.training.evaluate.detect` (forward plus the results list:
  masks to RLE);
- ``evaluation_s``: :func:`model.training.evaluate.evaluate_model` end to end (detect plus
  COCO and LVIS AP, boxes and masks).

Prints one JSON object with the seconds, the detections and ``evaluation_over_inference``
(the target is at most 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--architecture", default="tiny")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import numpy as np
    import torch
    from training_support import shapes_project

    from model.training.architectures import build_for_training
    from model.training.evaluate import LVIS_DETECTIONS, SCORE_THRESHOLD, detect, evaluate_model
    from model.training.loss import init_sigmoid_classifier, use_federated_heads
    from model.training.snapshot import take_snapshot
    from pipeline.images import load_image

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder, shapes_project(
        Path(folder), train=2, val=args.images, size=args.size
    ) as project:
        snapshot = take_snapshot(project)
        torch.manual_seed(0)
        model = build_for_training(
            args.architecture, snapshot.num_classes, min_size=args.size, max_size=args.size
        )
        use_federated_heads(model)
        init_sigmoid_classifier(model)
        model.eval()
        images = snapshot.heldout
        heads = model.roi_heads
        heads.score_thresh, heads.detections_per_img = SCORE_THRESHOLD, LVIS_DETECTIONS
        start = time.perf_counter()
        count = 0
        for image in images:
            pixels = torch.from_numpy(np.array(load_image(image.path), copy=True))
            tensor = pixels.permute(2, 0, 1).float().div_(255.0)
            with torch.inference_mode():
                count += len(model([tensor])[0]["scores"])
        inference = time.perf_counter() - start
        start = time.perf_counter()
        results = detect(model, snapshot, images, torch.device("cpu"))
        detect_s = time.perf_counter() - start
        start = time.perf_counter()
        metrics = evaluate_model(model, snapshot, torch.device("cpu"))
        evaluation = time.perf_counter() - start
    print(
        json.dumps(
            {
                "bench": "heldout evaluation",
                "architecture": args.architecture,
                "images": len(images),
                "size": args.size,
                "threads": args.threads,
                "detections": len(results),
                "forward_detections": count,
                "inference_s": round(inference, 3),
                "detect_s": round(detect_s, 3),
                "evaluation_s": round(evaluation, 3),
                "evaluation_over_inference": round(evaluation / inference, 2),
                "segm_AP": metrics.get("coco", {}).get("segm", {}).get("AP"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""Prompt latency: backbone time per image, then box -> mask on the cached features.

Prints one JSON object. For each architecture (random weights: the timing does not
depend on them) at ``--min-size`` px short side: the backbone per image (median of
``--images``, after one warm-up), and box -> mask latency after the cache (median
and p95 of ``--prompts`` random boxes, with and without a given category; without
one the box head runs too, to choose the class). GPU figures only when CUDA exists.

    .venv/bin/python bench/prompt.py [--images 3] [--prompts 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.predictor import Predictor  # noqa: E402
from model.weights import WeightsReport  # noqa: E402
from model.zoo import ARCHITECTURES, build_model  # noqa: E402
from pipeline.images import load_image  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny_coco" / "val2017"
TARGETS = {"cpu": {"box_to_mask_ms": 250}, "cuda": {"box_to_mask_ms": 15, "backbone_ms": 40}}


def images(count: int) -> list[np.ndarray]:
    files = sorted(DATA.glob("*.jpg"))[: count + 1] if DATA.is_dir() else []
    if files:
        return [load_image(f) for f in files]
    rng = np.random.default_rng(0)  # no shared data: 480 x 640 noise
    return [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(count + 1)]


def stats(ms: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(float(np.median(ms)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "min_ms": round(float(np.min(ms)), 1),
        "n": len(ms),
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_one(name: str, device: torch.device, args: argparse.Namespace) -> dict:
    categories = [f"class {i}" for i in range(args.classes)]
    model = build_model(name, len(categories) + 1, min_size=args.min_size, max_size=args.max_size)
    predictor = Predictor(
        model,
        categories,
        weights=WeightsReport(name, kind="longtail"),  # use the model path, not the fallback
        device=device,
        channels_last=args.channels_last,
    )
    pictures = images(args.images)
    rng = np.random.default_rng(0)
    backbone = []
    for i, picture in enumerate(pictures):
        sync(device)
        start = time.perf_counter()
        feats = predictor.features(picture)
        sync(device)
        if i:  # the first is a warm-up
            backbone.append((time.perf_counter() - start) * 1000)
    height, width = pictures[-1].shape[:2]
    timings: dict[str, list[float]] = {"with_category": [], "best_class": []}
    for i in range(args.prompts + 2):
        w, h = rng.uniform(0.1, 0.6) * width, rng.uniform(0.1, 0.6) * height
        box = (rng.uniform(0, width - w), rng.uniform(0, height - h), w, h)
        for kind, category in (("with_category", 3), ("best_class", None)):
            sync(device)
            start = time.perf_counter()
            predictor.box_to_mask(pictures[-1], box, category=category, use_model=True)
            sync(device)
            if i >= 2:
                timings[kind].append((time.perf_counter() - start) * 1000)
    runs = predictor.backbone_runs
    predictor.close()
    return {
        "input": f"{width}x{height} -> {feats.resized_size[1]}x{feats.resized_size[0]}",
        "backbone": stats(backbone),
        "box_to_mask": {k: stats(v) for k, v in timings.items()},
        "backbone_runs": runs,
        "cache_mb_per_image": round(feats.nbytes / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=30)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--min-size", type=int, default=800)
    parser.add_argument("--max-size", type=int, default=1333)
    parser.add_argument("--arch", nargs="*", default=sorted(ARCHITECTURES))
    parser.add_argument("--device", default=None, help="cpu or cuda (default: both if CUDA)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args()
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] * torch.cuda.is_available())
    report: dict = {
        "benchmark": "prompt",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "targets": TARGETS,
    }
    if not torch.cuda.is_available():
        report["gpu"] = "no GPU available: GPU figures not measured"
    else:
        report["gpu"] = torch.cuda.get_device_name()
    for device in devices:
        dev = torch.device(device)
        for name in args.arch:
            result = bench_one(name, dev, args)
            median = result["box_to_mask"]["best_class"]["median_ms"]
            result["box_to_mask_within_target"] = median <= TARGETS[dev.type]["box_to_mask_ms"]
            report[f"{device}:{name}"] = result
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

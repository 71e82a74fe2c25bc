"""GPU figures: training throughput with AMP, and prompt latency on cached features.

1. **Training throughput**: images per second of Mask R-CNN R50-FPN v2 training steps
   (forward with targets, backward, SGD step) at ``--size`` px (800 by default),
   batch ``--batch``, with AMP (fp16 autocast and a gradient scaler) and channels-last
   on CUDA; synthetic images with a few boxes and masks each (the data loader is not
   timed). The target (issue 22) is at least 30 images/s on one H100.
2. **Prompt latency**: milliseconds per box prompt through
   :meth:`model.predictor.Predictor.box_to_mask` on features already cached (only the
   RoI heads run), with and without four refining clicks.

Without a CUDA device it says so ("no CUDA device") and runs a tiny CPU version
(``--size 128``, 2 steps) so that the script itself stays tested; those figures say
nothing about a GPU. Prints one JSON object.

    .venv/bin/python bench/gpu.py [--size 800] [--batch 8] [--steps 20] [--prompts 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.predictor import Predictor  # noqa: E402
from model.weights import WeightsReport  # noqa: E402
from model.zoo import build_model  # noqa: E402


def synthetic_batch(batch: int, size: int, classes: int, device: torch.device, seed: int):
    """Images and Mask R-CNN targets: 1-4 filled rectangles per image."""
    rng = np.random.default_rng(seed)
    images, targets = [], []
    for _ in range(batch):
        image = torch.rand(3, size, size, device=device)
        count = int(rng.integers(1, 5))
        boxes, masks = [], torch.zeros(count, size, size, dtype=torch.uint8, device=device)
        for k in range(count):
            w, h = (int(v) for v in rng.integers(size // 8, size // 2, 2))
            x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            boxes.append([x, y, x + w, y + h])
            masks[k, y : y + h, x : x + w] = 1
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32, device=device),
                "labels": torch.tensor(rng.integers(1, classes, count), device=device),
                "masks": masks,
            }
        )
        images.append(image)
    return images, targets


def training_throughput(args: argparse.Namespace, device: torch.device) -> dict:
    on_gpu = device.type == "cuda"
    classes = 81
    model = build_model("r50-fpn-v2", classes, min_size=args.size, max_size=args.size)
    model.to(device).train()
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=on_gpu)
    batches = [
        synthetic_batch(args.batch, args.size, classes, device, seed)
        for seed in range(min(args.steps + args.warmup, 4))
    ]

    def step(n: int) -> None:
        images, targets = batches[n % len(batches)]
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=on_gpu):
            losses = model(images, targets)
            loss = sum(losses.values())
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()

    for n in range(args.warmup):
        step(n)
    if on_gpu:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for n in range(args.steps):
        step(n)
    if on_gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    out = {
        "architecture": "r50-fpn-v2",
        "size": args.size,
        "batch": args.batch,
        "steps": args.steps,
        "amp": on_gpu,
        "channels_last": on_gpu,
        "images_per_s": round(args.batch * args.steps / seconds, 2),
        "s_per_step": round(seconds / args.steps, 4),
    }
    if on_gpu:
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def prompt_latency(args: argparse.Namespace, device: torch.device) -> dict:
    categories = ["thing", "other"]
    torch.manual_seed(0)
    model = build_model("r50-fpn-v2", len(categories) + 1, min_size=args.size, max_size=args.size)
    report = WeightsReport("r50-fpn-v2", kind="longtail")  # "trained": the model answers
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)
    out: dict = {}
    with Predictor(model, categories, weights=report, device=device) as predictor:
        start = time.perf_counter()
        predictor.features(image, key="bench")
        if device.type == "cuda":
            torch.cuda.synchronize()
        out["features_ms"] = round(1000 * (time.perf_counter() - start), 1)
        for label, clicks in (("box", 0), ("box_and_4_clicks", 4)):
            times = []
            for _ in range(args.prompts):
                w, h = (float(v) for v in rng.integers(args.size // 10, args.size // 2, 2))
                x, y = float(rng.integers(0, args.size - w)), float(rng.integers(0, args.size - h))
                points = [
                    (x + w * float(rng.random()), y + h * float(rng.random()), bool(k % 2 == 0))
                    for k in range(clicks)
                ]
                begin = time.perf_counter()
                predictor.box_to_mask(image, (x, y, w, h), key="bench", points=points)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(1000 * (time.perf_counter() - begin))
            values = np.array(times[1:] or times)
            out[f"{label}_ms"] = {
                "mean": round(float(values.mean()), 2),
                "p50": round(float(np.percentile(values, 50)), 2),
                "p95": round(float(np.percentile(values, 95)), 2),
            }
        out["backbone_runs"] = predictor.backbone_runs  # 1: every prompt used the cache
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help="image side (800 on a GPU)")
    parser.add_argument("--batch", type=int, default=None, help="images per step (8 on a GPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (20 on a GPU)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--prompts", type=int, default=None, help="box prompts timed")
    args = parser.parse_args()
    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    defaults = (
        {"size": 800, "batch": 8, "steps": 20, "warmup": 5, "prompts": 200}
        if on_gpu
        else {"size": 128, "batch": 2, "steps": 2, "warmup": 1, "prompts": 10}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    report: dict = {"benchmark": "gpu", "device": "cuda" if on_gpu else "cpu"}
    if on_gpu:
        report["gpu"] = torch.cuda.get_device_name(0)
    else:
        torch.set_num_threads(1)
        report["note"] = "no CUDA device: a tiny CPU run that checks the script, not a GPU figure"
    report["training"] = training_throughput(args, device)
    report["prompts"] = prompt_latency(args, device)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

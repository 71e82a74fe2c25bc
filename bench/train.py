"""Training throughput: images/s and peak memory of a training step, R50-FPN v2 and Swin-T.

Each configuration (architecture x precision) runs in a fresh subprocess so that its
peak memory is its own: the peak resident set on the CPU, ``max_memory_allocated`` on
a GPU. A step is what :mod:`model.training.loop` does: the federated sigmoid heads,
SGD (R50) or AdamW (Swin), forward + backward + optimiser step on a batch of synthetic
800 px images (1066 x 800, eight instance masks each), channels-last and AMP on CUDA.
fp32 everywhere; AMP only where CUDA exists. Prints one JSON object.

    .venv/bin/python bench/train.py [--size 800] [--batch 1] [--iterations 3] [--warmup 1]

Anchor (issue 11): detectron2's R50-FPN trains at about 59 img/s on 8 V100s,
about 7.4 img/s per GPU; the target for one H100-class GPU with AMP is >= 30 img/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ARCHITECTURES = ("r50-fpn-v2", "swin-t")
NUM_CLASSES = 81  # a COCO-sized vocabulary (80 + background)


def batch(size: int, count: int, device):
    import torch

    g = torch.Generator().manual_seed(0)
    height, width = size, size * 4 // 3
    images, targets = [], []
    for _ in range(count):
        images.append(torch.rand(3, height, width, generator=g).to(device))
        masks = torch.zeros(8, height, width, dtype=torch.uint8)
        boxes = []
        for k in range(8):
            x0, y0 = (
                int(torch.randint(0, width - 200, (), generator=g)),
                int(torch.randint(0, height - 200, (), generator=g)),
            )
            w, h = (
                int(torch.randint(40, 200, (), generator=g)),
                int(torch.randint(40, 200, (), generator=g)),
            )
            masks[k, y0 : y0 + h, x0 : x0 + w] = 1
            boxes.append([x0, y0, x0 + w, y0 + h])
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32, device=device),
                "labels": torch.randint(1, NUM_CLASSES, (8,), generator=g).to(device),
                "masks": masks.to(device),
                "fed_states": torch.ones(NUM_CLASSES, dtype=torch.long, device=device),
            }
        )
    return images, targets


def one(
    architecture: str, precision: str, size: int, batch_size: int, iterations: int, warmup: int
) -> dict:
    import torch

    from model.training.architectures import build_for_training
    from model.training.config import TrainConfig
    from model.training.loop import _optimizer
    from model.training.loss import class_weights, init_sigmoid_classifier, use_federated_heads

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    amp = precision == "amp"
    torch.manual_seed(0)
    model = use_federated_heads(
        build_for_training(architecture, NUM_CLASSES, min_size=size, max_size=size * 5 // 3)
    )
    init_sigmoid_classifier(model)
    model.roi_heads.class_weights = class_weights([10] * (NUM_CLASSES - 1))
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = _optimizer(model, TrainConfig(architecture=architecture))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    images, targets = batch(size, batch_size, device)

    def step() -> None:
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=amp):
            losses = model(images, targets)
            loss = sum(losses.values())
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    out = {
        "architecture": architecture,
        "precision": precision,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "image_size": [size, size * 4 // 3],
        "batch_size": batch_size,
        "iterations": iterations,
        "seconds_per_iteration": round(seconds / iterations, 3),
        "images_per_s": round(batch_size * iterations / seconds, 3),
    }
    if cuda:
        out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    # ru_maxrss: kilobytes on Linux, bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["peak_rss_mb"] = round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=800, help="shorter image side (800)")
    parser.add_argument("--batch", type=int, default=1, help="images per step (1)")
    parser.add_argument("--iterations", type=int, default=3, help="timed steps (3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (1)")
    parser.add_argument("--architectures", default=",".join(ARCHITECTURES))
    parser.add_argument("--one", nargs=2, metavar=("ARCH", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.size, args.batch, args.iterations, args.warmup)))
        return
    import torch

    cuda = torch.cuda.is_available()
    precisions = ["fp32", "amp"] if cuda else ["fp32"]
    results = []
    for architecture in args.architectures.split(","):
        for precision in precisions:
            command = [
                sys.executable, __file__, "--one", architecture, precision,
                "--size", str(args.size), "--batch", str(args.batch),
                "--iterations", str(args.iterations), "--warmup", str(args.warmup),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
            if done.returncode != 0:
                results.append(
                    {
                        "architecture": architecture,
                        "precision": precision,
                        "error": done.stderr.strip().splitlines()[-1:],
                    }
                )
                continue
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report = {
        "benchmark": "train",
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": cuda,
        },
        "results": results,
        "anchor": "detectron2 R50-FPN: ~59 img/s on 8 V100 (~7.4 img/s per GPU)",
        "target": ">= 30 img/s on one H100-class GPU with AMP",
    }
    if not cuda:
        report["gpu"] = "not measured: no CUDA device here (AMP rows need one)"
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Sloppy-mask cost: the work ``simulate --noise sloppy`` does per careless mask.

Prints one JSON object: milliseconds per :func:`pipeline.simulate.sloppy_mask` call
(median, p95, max) over every truth mask of tiny_coco's val set (``--rounds`` seeds
each), and over masks covering nearly the whole image (the case that stalled the old
kernel-growing version for minutes), with the work each did (distance transforms,
outlines traced and simplified) and the share whose IoU with the truth stayed at or
below the ceiling.

    .venv/bin/python bench/noise.py [--rounds 3] [--size 1080x1920]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.masks.geometry import Mask  # noqa: E402
from pipeline.simulate import SLOPPY_CEILING, NoiseWork, sloppy_mask  # noqa: E402

TRUTH = (
    Path(__file__).resolve().parents[1]
    / "tests" / "data" / "tiny_coco" / "annotations" / "instances_val2017.json"
)  # fmt: skip


def truth_masks() -> list[Mask]:
    if not TRUTH.is_file():
        return []
    doc = json.loads(TRUTH.read_text())
    sizes = {im["id"]: (im["height"], im["width"]) for im in doc["images"]}
    return [Mask.from_coco(a["segmentation"], *sizes[a["image_id"]]) for a in doc["annotations"]]


def near_full(height: int, width: int) -> list[Mask]:
    full = np.ones((height, width), np.uint8)
    border = full.copy()
    border[:4] = 0
    border[:, :3] = 0
    holed = border.copy()
    holed[height // 3 : height // 3 + 20, width // 2 : width // 2 + 40] = 0
    return [Mask.from_bitmap(b) for b in (full, border, holed)]


def run(masks: list[Mask], rounds: int) -> dict:
    ms, below, work = [], 0, NoiseWork()
    for k, mask in enumerate(masks):
        for seed in range(rounds):
            done = NoiseWork()
            start = time.perf_counter()
            sloppy = sloppy_mask(mask, random.Random(seed * 100003 + k), work=done)
            ms.append((time.perf_counter() - start) * 1000)
            below += sloppy.area > 0 and mask.iou(sloppy) <= SLOPPY_CEILING
            work.traces = max(work.traces, done.traces)
            work.simplifications = max(work.simplifications, done.simplifications)
            work.distance_transforms = max(work.distance_transforms, done.distance_transforms)
            work.window_pixels = max(work.window_pixels, done.window_pixels)
    return {
        "masks": len(masks),
        "calls": len(ms),
        "median_ms": round(float(np.median(ms)), 2) if ms else None,
        "p95_ms": round(float(np.percentile(ms, 95)), 2) if ms else None,
        "max_ms": round(float(np.max(ms)), 2) if ms else None,
        "share_at_or_below_ceiling": round(below / len(ms), 4) if ms else None,
        "most_work_per_call": vars(work),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="seeds per mask")
    parser.add_argument("--size", default="1080x1920", help="near-full masks: HxW")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    out = {
        "tiny_coco_val": run(truth_masks(), args.rounds),
        f"near_full_{height}x{width}": run(near_full(height, width), max(args.rounds, 3)),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

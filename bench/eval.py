"""Benchmark: our COCO evaluation against pycocotools' COCOeval and faster-coco-eval.

    .venv/bin/python bench/eval.py [--images 5000] [--seed 0] [--types segm,bbox]
                                   [--skip pycocotools] [--cache-dir DIR]

Generates an LVIS-sized case (default 5,000 images, the 1,203 LVIS v1 categories, up
to 300 mask detections per image: jittered true positives, duplicates, confusions,
and random false positives), writes it as JSON, then times each tool in its own
subprocess on the same parsed inputs (ground-truth dict and results list in memory,
loading JSON not timed; each tool's own indexing and result loading timed). Prints
one JSON object: seconds per tool and IoU type, the ratios, and whether the twelve
numbers agree (max abs difference). Our LVIS federated evaluation is timed too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / "tests" / "data"
SIZES = [(480, 640), (640, 480), (427, 640), (640, 427), (512, 512), (375, 500)]
STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)


# --------------------------------------------------------------------------- data


def _categories(rng: np.random.Generator) -> list[dict]:
    path = SHARED / "lvis_v1_categories.json"
    if path.is_file():
        cats = json.loads(path.read_text())
        return [{"id": c["id"], "name": c["name"], "frequency": c["frequency"]} for c in cats]
    freq = rng.choice(["r", "c", "f"], size=1203, p=[0.28, 0.38, 0.34])
    return [{"id": i + 1, "name": f"cat{i + 1}", "frequency": str(f)} for i, f in enumerate(freq)]


def _polygon(rng, cx, cy, rx, ry, h, w, n=16) -> list[float]:
    ang = np.linspace(0, 2 * np.pi, n + 1)[:-1] + rng.uniform(0, 0.3)
    rad = rng.uniform(0.75, 1.25, n)
    x = np.clip(cx + rx * rad * np.cos(ang), 0, w)
    y = np.clip(cy + ry * rad * np.sin(ang), 0, h)
    return np.round(np.stack([x, y], 1).ravel(), 2).tolist()


def generate(n_images: int, seed: int) -> tuple[dict, list[dict]]:
    """An LVIS-like ground truth and a results list with up to 300 masks per image."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    cats = _categories(rng)
    cat_ids = np.array([c["id"] for c in cats])
    weight = np.array([{"r": 0.3, "c": 3.0, "f": 30.0}[c["frequency"]] for c in cats])
    weight = weight / weight.sum()
    images, anns, results = [], [], []
    ann_id = 1
    for image_id in range(1, n_images + 1):
        h, w = SIZES[int(rng.integers(len(SIZES)))]
        present = rng.choice(
            cat_ids, size=min(1 + int(rng.poisson(3)), 15), replace=False, p=weight
        )
        others = np.setdiff1d(cat_ids, present)
        negatives = rng.choice(others, size=int(rng.integers(5, 16)), replace=False)
        not_exhaustive = [int(c) for c in present if rng.random() < 0.1]
        images.append(
            {
                "id": image_id,
                "height": h,
                "width": w,
                "neg_category_ids": negatives.tolist(),
                "not_exhaustive_category_ids": not_exhaustive,
            }
        )
        gt_polys, gt_meta = [], []
        for cat in present:
            for _ in range(min(1 + int(rng.poisson(1.5)), 20)):
                r = float(np.exp(rng.uniform(np.log(3), np.log(0.35 * min(h, w)))))
                cx, cy = rng.uniform(0, w), rng.uniform(0, h)
                rx, ry = r * rng.uniform(0.6, 1.4), r * rng.uniform(0.6, 1.4)
                gt_polys.append(_polygon(rng, cx, cy, rx, ry, h, w))
                gt_meta.append((int(cat), cx, cy, rx, ry))
        gt_rles = mask_utils.frPyObjects(gt_polys, h, w) if gt_polys else []
        for poly, rle, (cat, *_rest) in zip(gt_polys, gt_rles, gt_meta, strict=True):
            xs, ys = poly[0::2], poly[1::2]
            anns.append(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": cat,
                    "segmentation": [poly],
                    "area": float(mask_utils.area(rle)),
                    "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                    "iscrowd": 0,
                }
            )
            ann_id += 1
        # Detections: true positives (some duplicated), confusions, then false positives.
        dets = []  # (category, score, polygon)
        for cat, cx, cy, rx, ry in gt_meta:
            copies = (rng.random() < 0.8) + (rng.random() < 0.2)
            for _ in range(int(copies)):
                j = rng.normal(0, 0.12, 4)
                dets.append(
                    (
                        cat,
                        rng.uniform(0.3, 1.0),
                        _polygon(
                            rng,
                            cx + j[0] * rx,
                            cy + j[1] * ry,
                            rx * (1 + j[2]),
                            ry * (1 + j[3]),
                            h,
                            w,
                        ),
                    )
                )
            for _ in range(int(rng.integers(0, 3))):
                other = int(rng.choice(negatives) if rng.random() < 0.5 else rng.choice(cat_ids))
                j = rng.normal(0, 0.12, 4)
                dets.append(
                    (
                        other,
                        rng.uniform(0.0, 0.6),
                        _polygon(
                            rng,
                            cx + j[0] * rx,
                            cy + j[1] * ry,
                            rx * (1 + j[2]),
                            ry * (1 + j[3]),
                            h,
                            w,
                        ),
                    )
                )
        target = int(rng.integers(150, 301))
        while len(dets) < target:
            pool = (present, negatives, cat_ids)[int(rng.integers(3))]
            r = float(np.exp(rng.uniform(np.log(3), np.log(0.3 * min(h, w)))))
            dets.append(
                (
                    int(rng.choice(pool)),
                    rng.uniform(0.0, 0.5),
                    _polygon(
                        rng,
                        rng.uniform(0, w),
                        rng.uniform(0, h),
                        r,
                        r * rng.uniform(0.6, 1.4),
                        h,
                        w,
                    ),
                )
            )
        dets = dets[:300]
        rles = mask_utils.frPyObjects([d[2] for d in dets], h, w)
        for (cat, score, poly), rle in zip(dets, rles, strict=True):
            xs, ys = poly[0::2], poly[1::2]
            jit = rng.normal(0, 1.5, 4)
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(cat),
                    "score": round(float(score), 4),
                    "bbox": [
                        round(float(min(xs) + jit[0]), 2),
                        round(float(min(ys) + jit[1]), 2),
                        round(float(max(xs) - min(xs) + jit[2]), 2),
                        round(float(max(ys) - min(ys) + jit[3]), 2),
                    ],
                    "segmentation": {"size": [h, w], "counts": rle["counts"].decode("ascii")},
                }
            )
    gt = {"images": images, "annotations": anns, "categories": cats}
    return gt, results


def case_files(n_images: int, seed: int, cache_dir: Path) -> tuple[Path, Path, float]:
    """Write (or reuse) the generated case; returns the two paths and generation time."""
    import orjson

    cache_dir.mkdir(parents=True, exist_ok=True)
    gt_path = cache_dir / f"gt-{n_images}-{seed}.json"
    res_path = cache_dir / f"results-{n_images}-{seed}.json"
    if gt_path.is_file() and res_path.is_file():
        return gt_path, res_path, 0.0
    start = time.perf_counter()
    gt, results = generate(n_images, seed)
    elapsed = time.perf_counter() - start
    gt_path.write_bytes(orjson.dumps(gt))
    res_path.write_bytes(orjson.dumps(results))
    return gt_path, res_path, elapsed


# --------------------------------------------------------------------------- workers


def _run_ours(gt, results, iou_type, metric):
    sys.path.insert(0, str(REPO))
    from pipeline.evaluation import evaluate_coco, evaluate_lvis

    fn = evaluate_lvis if metric == "lvis" else evaluate_coco
    start = time.perf_counter()
    r = fn(gt, results, iou_type=iou_type)
    return time.perf_counter() - start, r.stats


def _run_pycocotools(gt, results, iou_type, metric):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        seconds = time.perf_counter() - start
    return seconds, dict(zip(STAT_NAMES, map(float, ev.stats[:12]), strict=True))


def _run_faster(gt, results, iou_type, metric):
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        coco = COCO(gt)
        ev = COCOeval_faster(coco, coco.loadRes(results), iou_type, print_function=lambda *a: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        seconds = time.perf_counter() - start
    return seconds, dict(zip(STAT_NAMES, map(float, ev.stats[:12]), strict=True))


WORKERS = {"ours": _run_ours, "pycocotools": _run_pycocotools, "faster_coco_eval": _run_faster}


def worker(tool: str, iou_type: str, metric: str, gt_path: str, res_path: str) -> None:
    import orjson

    gt = orjson.loads(Path(gt_path).read_bytes())
    results = orjson.loads(Path(res_path).read_bytes())
    seconds, stats = WORKERS[tool](gt, results, iou_type, metric)
    peak = None
    with contextlib.suppress(Exception):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "stats": {k: float(v) for k, v in stats.items()},
                "peak_rss_mb": peak,
            }
        )
    )


def _spawn(tool, iou_type, metric, gt_path, res_path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        tool,
        iou_type,
        metric,
        str(gt_path),
        str(res_path),
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _agreement(a: dict, b: dict) -> dict:
    if "stats" not in a or "stats" not in b:
        return {"identical": None}
    diff = max(abs(a["stats"][k] - b["stats"][k]) for k in STAT_NAMES)
    return {"max_abs_diff": diff, "identical": diff <= 1e-4}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--types", default="segm,bbox")
    parser.add_argument(
        "--skip", default="", help="comma list of tools to skip (pycocotools, faster_coco_eval)"
    )
    parser.add_argument("--no-lvis", action="store_true", help="do not time our LVIS evaluation")
    parser.add_argument(
        "--cache-dir", default=str(Path(tempfile.gettempdir()) / "longtail-bench-eval")
    )
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    gt_path, res_path, gen_seconds = case_files(args.images, args.seed, Path(args.cache_dir))
    skip = {s for s in args.skip.split(",") if s}
    import orjson

    gt = orjson.loads(gt_path.read_bytes())
    n_det = len(orjson.loads(res_path.read_bytes()))
    report: dict = {
        "case": {
            "images": args.images,
            "categories": len(gt["categories"]),
            "annotations": len(gt["annotations"]),
            "detections": n_det,
            "max_detections_per_image": 300,
            "seed": args.seed,
            "generation_seconds": round(gen_seconds, 1),
        },
        "machine": {"cpus": os.cpu_count()},
    }
    del gt
    for iou_type in args.types.split(","):
        row: dict = {}
        for tool in ("ours", "faster_coco_eval", "pycocotools"):
            if tool in skip:
                continue
            row[tool] = _spawn(tool, iou_type, "coco", gt_path, res_path)
        ours = row.get("ours", {})
        for tool in ("faster_coco_eval", "pycocotools"):
            other = row.get(tool)
            if other and "seconds" in other and "seconds" in ours:
                row[f"speedup_vs_{tool}"] = round(other["seconds"] / ours["seconds"], 2)
                row[f"agreement_with_{tool}"] = _agreement(ours, other)
        for tool in list(row):
            if isinstance(row[tool], dict) and "seconds" in row[tool]:
                row[tool]["seconds"] = round(row[tool]["seconds"], 3)
                if tool != "ours":
                    row[tool].pop("stats", None)
        report[f"coco_{iou_type}"] = row
        if not args.no_lvis:
            lvis = _spawn("ours", iou_type, "lvis", gt_path, res_path)
            report[f"lvis_{iou_type}_ours"] = {
                "seconds": round(lvis.get("seconds", float("nan")), 3),
                "AP": lvis.get("stats", {}).get("AP"),
            }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Box-prompted mask quality: mean mask IoU against ground truth, prompted by GT boxes.

Prints one JSON object with a row per method on a COCO-format set (default: the
tiny_coco val split in ../shared/data): the plain box, the inscribed ellipse, the
rounded-box prior, the classical fallback (``model.fallback``), and a model checkpoint
(``--weights FILE``, else a COCO checkpoint in torchvision's cache) whose mask head is
prompted with each GT box and its category. Crowd annotations are skipped. Sizes
follow COCO: small < 32^2 px of mask area, medium < 96^2, large above.

    .venv/bin/python bench/proposals.py [--annotations A.json --images DIR]
        [--weights FILE] [--model r50-fpn-v2] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import fallback  # noqa: E402
from pipeline.images import load_image  # noqa: E402
from pipeline.masks.geometry import Mask  # noqa: E402

TINY = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny_coco"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def size_of(area: float) -> str:
    return "small" if area < 32**2 else "medium" if area < 96**2 else "large"


def summarise(rows: list[tuple[float, str]], seconds: float) -> dict:
    scores = np.array([r[0] for r in rows])
    out = {"mean_iou": round(float(scores.mean()), 4), "n": len(rows)}
    for size in ("small", "medium", "large"):
        picked = [s for s, z in rows if z == size]
        if picked:
            out[f"{size}_iou"] = round(float(np.mean(picked)), 4)
    out["ms_per_box"] = round(1000 * seconds / max(1, len(rows)), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", default=TINY / "annotations" / "instances_val2017.json")
    parser.add_argument("--images", default=TINY / "val2017")
    parser.add_argument("--weights", default=None, help="checkpoint for the model row")
    parser.add_argument("--model", default="r50-fpn-v2", choices=("r50-fpn-v2", "swin-t"))
    parser.add_argument("--device", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    args = parser.parse_args()

    document = json.loads(Path(args.annotations).read_text())
    names = {c["id"]: c["name"] for c in document["categories"]}
    by_image: dict[int, list[dict]] = {}
    for ann in document["annotations"]:
        if not ann.get("iscrowd"):
            by_image.setdefault(ann["image_id"], []).append(ann)
    images = [im for im in document["images"] if im["id"] in by_image][: args.limit]

    predictor = None
    model_note = None
    from model.predictor import Predictor

    categories = [names[i] for i in sorted(names)]
    predictor = Predictor.load(categories, args.model, args.weights, device=args.device)
    if not predictor.trained:
        model_note = (
            f"needs weights: {predictor.weights.summary()}; pass --weights FILE "
            "(a COCO Mask R-CNN or a longtail checkpoint)"
        )
        predictor.close()
        predictor = None

    methods = {
        "box": lambda px, box, h, w: fallback.box_mask(box, h, w),
        "ellipse": lambda px, box, h, w: fallback.prior_mask(box, h, w, 2.0),
        "prior": lambda px, box, h, w: fallback.prior_mask(box, h, w),
        "fallback": lambda px, box, h, w: fallback.box_to_mask(px, box),
    }
    rows: dict[str, list[tuple[float, str]]] = {name: [] for name in methods}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    steps: Counter[str] = Counter()
    model_rows: list[tuple[float, str]] = []
    model_seconds = 0.0
    model_fallbacks = 0  # boxes where the model's mask was empty and the fallback answered
    for info in images:
        pixels = load_image(Path(args.images) / info["file_name"])
        h, w = info["height"], info["width"]
        for ann in by_image[info["id"]]:
            truth = Mask.from_coco(ann["segmentation"], h, w).to_bitmap()
            size = size_of(float(truth.sum()))
            for name, method in methods.items():
                start = time.perf_counter()
                result = method(pixels, ann["bbox"], h, w)
                seconds[name] += time.perf_counter() - start
                rows[name].append((iou(result.bitmap, truth), size))
                if name == "fallback":
                    steps[result.method] += 1
            if predictor is not None:
                start = time.perf_counter()
                proposal = predictor.box_to_mask(
                    pixels, ann["bbox"], category=names[ann["category_id"]], key=info["id"]
                )
                model_seconds += time.perf_counter() - start
                model_rows.append((iou(proposal.bitmap, truth), size))
                model_fallbacks += not proposal.from_model

    report: dict = {
        "benchmark": "proposals",
        "annotations": str(args.annotations),
        "images": len(images),
        "instances": len(rows["box"]),
        **{name: summarise(rows[name], seconds[name]) for name in methods},
    }
    report["fallback"]["steps"] = dict(steps)
    report["fallback"]["gain_over_box"] = round(
        report["fallback"]["mean_iou"] - report["box"]["mean_iou"], 4
    )
    if predictor is not None:
        report["checkpoint"] = summarise(model_rows, model_seconds)
        report["checkpoint"]["weights"] = predictor.weights.summary()
        report["checkpoint"]["fallback_answers"] = model_fallbacks
        report["checkpoint"]["note"] = "ms_per_box includes each image's backbone once"
        predictor.close()
    else:
        report["checkpoint"] = model_note
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""``longtail evaluate GT.json RESULTS.json [--type segm|bbox] [--metric coco|voc|lvis] [--json]``
or ``longtail evaluate PROJECT --model ID [--device D] [--json]`` (a trained model on the
project's held-out split; see :mod:`model.training.evaluate`)."""

from __future__ import annotations

import argparse
import json
import time

from pipeline.errors import LongtailError
from pipeline.evaluation import evaluate_coco, evaluate_lvis, evaluate_voc
from pipeline.evaluation.report import format_per_category, format_summary

METRICS = {"coco": evaluate_coco, "lvis": evaluate_lvis, "voc": evaluate_voc}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="COCO, VOC or LVIS federated AP of detections against ground truth",
        description="Evaluate COCO-format detections (bbox and/or RLE segmentation) against "
        "a COCO or LVIS ground-truth file. The numbers equal pycocotools' COCOeval and "
        "lvis-api's LVISEval.",
    )
    p.add_argument("gt", help="ground truth: COCO or LVIS JSON (or, with --model, a project)")
    p.add_argument("results", nargs="?", help="detections: COCO results JSON (a list)")
    p.add_argument(
        "--model",
        type=int,
        metavar="ID",
        help="evaluate the project's trained model ID on its held-out split (COCO and LVIS, "
        "boxes and masks) and store the numbers with the model",
    )
    p.add_argument("--device", default=None, help="with --model: cpu or cuda")
    p.add_argument("--type", choices=("segm", "bbox"), default="segm", help="IoU of masks or boxes")
    p.add_argument("--metric", choices=tuple(METRICS), default="coco", help="which AP")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--per-category", action="store_true", help="also print the per-category AP table"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.model is not None:
        return run_model(args)
    if args.results is None:
        raise LongtailError("evaluate needs GT.json RESULTS.json, or PROJECT --model ID")
    start = time.perf_counter()
    result = METRICS[args.metric](args.gt, args.results, iou_type=args.type)
    seconds = time.perf_counter() - start
    if args.json:
        out = result.to_dict()
        out["seconds"] = round(seconds, 3)
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.metric} {args.type} evaluation of {args.results}")
    print(format_summary(result))
    if args.per_category:
        print()
        print(format_per_category(result))
    print(f"evaluated in {seconds:.2f}s")
    return 0


def run_model(args: argparse.Namespace) -> int:
    """A registry model on its own recorded held-out images; the numbers are stored."""
    if args.results is not None:
        raise LongtailError("with --model, name only the project (no results file)")
    from model.training.evaluate import evaluate_project_model, format_metrics
    from pipeline.store.database import Project

    with Project.open(args.gt) as project:
        metrics = evaluate_project_model(project, args.model, device=args.device)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(f"model {args.model}: {format_metrics(metrics)}; split: {metrics['heldout_rule']}")
    return 0

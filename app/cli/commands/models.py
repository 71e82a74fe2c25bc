"""``longtail models PROJECT [--use ID | --clear] [--json]``

The project's model registry: every training run with its status, iterations, data
hash and held-out metrics side by side; ``--use ID`` makes a model the one that
proposes masks (``predict``, the GUI), ``--clear`` goes back to the default weights;
both are admin actions (pipeline/team/roles.py), on SQLite and PostgreSQL alike.
Reads no torch.
"""

from __future__ import annotations

import argparse
import json
import time

from model.training.registry import ModelRecord, list_models, stop_using, use_model
from pipeline.store.database import Project

from ..acting import act_as, add_annotator_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="the project's trained models; mark one in use",
        description="List the models trained on this project with their held-out metrics "
        "(COCO mask / box AP, LVIS mask AP and AP_r / AP_c / AP_f), or choose the one in use.",
    )
    p.add_argument("project", help="project folder or database URL")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--use", type=int, metavar="ID", help="propose masks with model ID")
    action.add_argument(
        "--clear", action="store_true", help="no trained model in use (default weights)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_annotator_option(p)
    p.set_defaults(func=run)


def _pct(value: float | None) -> str:
    return "-" if value is None or value < 0 else f"{100 * value:.1f}"


def table(models: list[ModelRecord]) -> str:
    headers = ["", "id", "name", "model", "status", "iters", "mask AP", "box AP", "LVIS AP", "AP_r", "AP_c", "AP_f", "created"]  # fmt: skip
    rows = []
    for m in models:
        h = m.headline()
        rows.append(
            [
                "*" if m.in_use else "",
                str(m.id),
                m.name,
                m.architecture,
                m.status,
                str(m.iterations),
                *(_pct(h[k]) for k in ("mask AP", "box AP", "LVIS AP", "AP_r", "AP_c", "AP_f")),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(m.created_at)),
            ]
        )
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    act_as(args)  # --use and --clear are admin actions
    with Project.open(args.project) as project:
        if args.use is not None:
            record = use_model(project, args.use)
            print(f"model {record.id} ({record.name}) now proposes masks for {args.project}")
            return 0
        if args.clear:
            stop_using(project)
            print("no trained model in use: proposals come from the default weights")
            return 0
        models = list_models(project)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": m.id,
                        "name": m.name,
                        "architecture": m.architecture,
                        "status": m.status,
                        "in_use": m.in_use,
                        "iterations": m.iterations,
                        "checkpoint": m.checkpoint,
                        "data_hash": m.data_hash,
                        "metrics": m.metrics,
                        "created_at": m.created_at,
                        "finished_at": m.finished_at,
                    }
                    for m in models
                ],
                indent=2,
            )
        )
        return 0
    if not models:
        print(f"no models yet; train one with `longtail train {args.project}`")
        return 0
    print(table(models))
    print(
        f"{len(models)} model{'s' if len(models) != 1 else ''}; * = in use (change with --use ID)"
    )
    return 0

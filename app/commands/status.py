"""``longtail status PROJECT [--json]``"""

from __future__ import annotations

import argparse
import json

from pipeline.images import check_image_files
from pipeline.status import project_status
from pipeline.store import Project

from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="images, categories, work per stage, federated labels")
    p.add_argument("project", help="project folder or database URL")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--no-file-check", action="store_true", help="skip checking the image files on disk"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        files = None
        if not args.no_file_check:
            with progress_bar("checking image files", unit="img") as progress:
                files = check_image_files(project, progress=progress)
        status = project_status(project, files=files)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(format_status(status))
    return 0


def format_status(status: dict) -> str:
    lines = [
        f"project     {status['project']}",
        f"images      {status['images']}"
        + (
            f"  ({', '.join(f'{k}: {v}' for k, v in status['splits'].items())})"
            if status["splits"]
            else ""
        ),
        f"categories  {status['categories']}",
        f"instances   {status['instances']}",
        "",
        f"{'stage':<42}{'open':>8}{'leased':>8}{'done':>8}",
    ]
    for number, stage in status["stages"].items():
        lines.append(
            f"{number} {stage['name']:<40}{stage['open']:>8}{stage['leased']:>8}{stage['done']:>8}"
        )
    labels = status["labels"]
    lines += [
        "",
        f"positive pairs {labels['positive_pairs']}, verified negatives {labels['negative_pairs']}, "
        f"not exhaustive {labels['not_exhaustive_pairs']}",
    ]
    files = status.get("files")
    if files is not None:
        if files["missing"] or files["changed"]:
            for name in files["missing"]:
                lines.append(f"missing file: {name}")
            for name in files["changed"]:
                lines.append(f"changed file: {name}")
        else:
            lines.append(f"all {files['checked']} image files present and unchanged")
    return "\n".join(lines)

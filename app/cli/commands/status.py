"""``longtail status PROJECT [--json]``"""

from __future__ import annotations

import argparse
import json

from pipeline.activity import project_activity
from pipeline.images import check_image_files
from pipeline.status import project_status
from pipeline.store.database import Project

from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="images, categories, work per stage, federated labels")
    p.add_argument("project", help="project folder or database URL")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--no-file-check", action="store_true", help="skip checking the image files on disk"
    )
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="in the file check, accept symbolic links that lead out of the image roots",
    )
    p.add_argument(
        "--activity",
        action="store_true",
        help="add throughput and agreement per stage and per annotator (from the event log)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        files = None
        if not args.no_file_check:
            with progress_bar("checking image files", unit="img") as progress:
                files = check_image_files(
                    project, progress=progress, follow_symlinks=args.follow_symlinks
                )
        status = project_status(project, files=files)
        if args.activity:
            status["activity"] = project_activity(project).as_dict()
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
        f"federated labels: {labels['positive_pairs']} positive pairs "
        f"({labels['positive_images']} images, {labels['categories_with_positives']} categories), "
        f"{labels['negative_pairs']} verified negatives "
        f"({labels['categories_with_negatives']} categories), "
        f"{labels['not_exhaustive_pairs']} not exhaustive",
        f"not yet verified: {labels['unverified_pairs']} pairs; rejected: "
        f"{labels['rejected_pairs']}; images done spotting: "
        f"{status['spotting']['finished_images']}",
    ]
    if "activity" in status:
        lines += ["", *format_activity(status["activity"])]
    files = status.get("files")
    if files is not None:
        outside = files.get("outside", [])
        if files["missing"] or files["changed"] or outside:
            for name in files["missing"]:
                lines.append(f"missing file: {name}")
            for name in files["changed"]:
                lines.append(f"changed file: {name}")
            for item in outside:
                lines.append(f"refused, not opened: {item['file_name']}: {item['reason']}")
        else:
            lines.append(f"all {files['checked']} image files present and unchanged")
    return "\n".join(lines)


def format_activity(activity: dict) -> list[str]:
    """Throughput per stage and per annotator, and the agreement figures, as text."""

    def num(value: float | None, spec: str = ".1f") -> str:
        return "-" if value is None else format(value, spec)

    lines = [f"{'stage':<42}{'answers':>8}{'median s':>9}{'per hour':>9}{'skips':>6}{'undos':>6}"]
    for stage in activity["stages"]:
        lines.append(
            f"{stage['stage']} {stage['name']:<40}{stage['answers']:>8}"
            f"{num(stage['median_s']):>9}{num(stage['answers_per_hour'], '.0f'):>9}"
            f"{stage['skips']:>6}{stage['undos']:>6}"
        )
    lines += [
        "",
        f"{'annotator':<20}{'answers':>8}{'hours':>7}{'accepts':>8}{'agrees':>7}{'own ok':>7}",
    ]
    for person in activity["annotators"]:
        lines.append(
            f"{person['name'][:19]:<20}{sum(person['answers'].values()):>8}"
            f"{person['total_s'] / 3600:>7.2f}{num(person['accept_rate'], '.2f'):>8}"
            f"{num(person['agreement'], '.2f'):>7}{num(person['segments_accepted_rate'], '.2f'):>7}"
        )
    a = activity["agreement"]
    lines += [
        "",
        f"verification accept rate {num(a['verification_accept_rate'], '.2f')}, verifier pair "
        f"agreement {num(a['verifier_pair_agreement'], '.2f')}, category fits "
        f"{num(a['category_fit_rate'], '.2f')}, all segmented {num(a['all_segmented_rate'], '.2f')}, "
        f"candidates present {num(a['present_rate'], '.2f')}",
    ]
    return lines

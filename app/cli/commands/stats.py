"""``longtail stats PROJECT --out DIR [--json]``"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.errors import LongtailError
from pipeline.outputs import output_target
from pipeline.stats import compute_stats
from pipeline.stats.report import NUMBERS_NAME, PLOTS, REPORT_NAME, write_outputs
from pipeline.store.database import Project

from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats",
        help="dataset statistics: plots (PNG), an HTML report and the numbers (JSON)",
        description=(
            "Writes one PNG per plot, report.html (self-contained: plots inlined, no "
            "network needed) and stats.json into DIR: instances per category with "
            "r/c/f groups, categories per image, relative mask sizes, federated "
            "coverage per category, a burn-down per stage, effort per answer by stage, "
            "annotator and tool, and agreement."
        ),
    )
    p.add_argument("project", help="project folder or database URL")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the files into")
    p.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    p.set_defaults(func=run)


def output_names() -> list[str]:
    """The files ``stats --out`` writes into its folder."""
    return [f"{plot.key}.png" for plot in PLOTS] + [REPORT_NAME, NUMBERS_NAME]


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        # Every file is checked before the work: none over the project's own files, a
        # folder, a device or a FIFO (decision 0023).
        folder = Path(args.out).expanduser()
        if folder.exists() and not folder.is_dir():
            raise LongtailError(f"{folder} is a file; name a folder for the statistics")
        for name in output_names():
            output_target(folder / name, project=project)
        with progress_bar("statistics", unit="part") as bar:
            stats = compute_stats(project, progress=bar)
    with progress_bar("drawing plots", unit="file") as progress:
        written = write_outputs(stats, args.out, progress=progress)
    if args.json:
        print(json.dumps(stats.as_dict(), indent=1))
    shape = stats.shape
    groups = shape.group_counts()
    print(
        f"wrote {len(written)} files to {args.out}: {shape.instances} accepted instances in "
        f"{sum(groups.values())} categories (r {groups['r']}, c {groups['c']}, f {groups['f']}), "
        f"{len(stats.coverage.under_quota)} categories under the negatives quota, "
        f"computed in {stats.seconds:.1f} s"
    )
    return 0

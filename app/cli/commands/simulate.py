"""``longtail simulate PROJECT --truth GT.json [--annotators N] [--noise PROFILE] [--seed S]``"""

from __future__ import annotations

import argparse
import json

from app.interrupt import Cancelled
from pipeline.simulate import PROFILES, load_truth, run_annotators
from pipeline.store.database import Project

from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay a labelled COCO/LVIS set through the six stages with scripted annotators",
        description=(
            "Scripted annotators claim and answer every stage's items from the truth (a COCO "
            "or LVIS JSON whose images are the project's), with the mistakes a noise profile "
            "asks for. The answers are stored like real ones. Ctrl-C stops within about "
            "two seconds, keeping every answer given."
        ),
    )
    p.add_argument("project", help="project folder or database URL")
    p.add_argument("--truth", required=True, help="COCO or LVIS JSON of the project's images")
    p.add_argument("--annotators", type=int, default=3, help="scripted annotators (default 3)")
    p.add_argument(
        "--noise",
        default="none",
        help=f"noise profile: {', '.join(PROFILES)}; join several with commas (default none)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the mistakes (default 0)")
    p.add_argument("--max-answers", type=int, default=None, help="stop after this many answers")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        truth = load_truth(args.truth, project)
        with progress_bar("simulating", unit="answer") as progress:
            outcome = run_annotators(
                project,
                truth,
                annotators=args.annotators,
                noise=args.noise,
                seed=args.seed,
                progress=progress,
                max_answers=args.max_answers,
            )
        if outcome.cancelled:  # no summary: comparing with the truth takes a while
            n = outcome.total_answers
            raise Cancelled(f"{n} answer{'s' if n != 1 else ''} given and saved")
        summary = outcome.summary(project)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        if truth.unmatched_categories:
            print(
                f"note: {len(truth.unmatched_categories)} truth categories match no category "
                f"of the project (by name, synonym or synset) and were left out: "
                f"{', '.join(truth.unmatched_categories)}"
            )
        print("\n".join(summary.lines()))
    return 0 if summary.finished and not summary.violations else 1

"""``longtail check PROJECT [--json]``: exit 0 sound, 1 damaged, 2 could not run."""

from __future__ import annotations

import argparse
import json
import sys
import time

from pipeline.errors import DamagedProjectError, LongtailError
from pipeline.text import for_terminal

SOUND, DAMAGED, COULD_NOT_RUN = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check a project: the database's integrity, its tables and the pipeline's rules",
        description="Read-only. Runs the database's own integrity check, checks the schema "
        "version, tables, settings and meta values, then the federated invariants and the "
        "work queue's bookkeeping. Exit status: 0 sound, 1 damaged, 2 could not run.",
    )
    p.add_argument("project", help="project folder or database URL")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--limit", type=int, default=1000, help="at most this many findings per layer")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.check import check_project
    from pipeline.store.credentials import shown
    from pipeline.store.database import Project

    target = shown(args.project)
    started = time.perf_counter()
    try:
        # Read-only where the store can (a SQLite folder): a check never changes a project.
        project = Project.open(args.project, read_only=True)
    except DamagedProjectError as exc:
        return _report(args, target, [str(exc)], started)
    except LongtailError as exc:
        if "malformed" in str(exc) or "not a database" in str(exc):
            return _report(args, target, [f"project {target} is damaged: {exc}"], started)
        print(
            f"longtail: cannot check {for_terminal(target)}: {for_terminal(exc)}", file=sys.stderr
        )
        return COULD_NOT_RUN
    with project:
        try:
            findings = [str(f) for f in check_project(project, limit=max(1, args.limit))]
        except LongtailError as exc:
            findings = [f"project {target} is damaged: {exc}"]
        except Exception as exc:  # a table the rules read is unreadable: damage, located
            message = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            findings = [f"project {target} is damaged: {message}"]
    return _report(args, target, findings, started)


def _report(args: argparse.Namespace, target: str, findings: list[str], started: float) -> int:
    seconds = time.perf_counter() - started
    if args.json:
        print(
            json.dumps(
                {
                    "project": target,
                    "sound": not findings,
                    "findings": findings,
                    "seconds": seconds,
                },
                indent=1,
            )
        )
    else:
        for line in findings:
            print(for_terminal(line))
        verdict = "sound" if not findings else f"damaged ({len(findings)} findings)"
        print(f"{for_terminal(target)}: {verdict}, checked in {seconds:.1f} s")
    return DAMAGED if findings else SOUND

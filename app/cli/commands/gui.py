"""``longtail gui [PROJECT] [--annotator NAME]``: the desktop app."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gui",
        help="open the desktop app (on a project, or on the welcome page)",
        description="Open the longtail desktop app. The first start asks for the "
        "annotator's name (kept in the user's settings); --annotator gives it instead, "
        "for shared machines and scripts.",
    )
    p.add_argument("project", nargs="?", default=None, help="project folder or database URL")
    p.add_argument(
        "--annotator", default=None, metavar="NAME", help="work as NAME (not remembered)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.gui.app import run_gui  # imports no Qt until the platform check passed

    return run_gui(args.project, annotator=args.annotator)

"""``longtail demo [--no-gui]``: build (once) and open a demo project in the window
(``--no-gui``: print its status instead, for scripts and tests)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.demo import build_demo, default_location

from .status import format_status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="open a demo project (built on first use)")
    p.add_argument(
        "--path", default=None, help=f"where the demo project lives (default: {default_location()})"
    )
    p.add_argument("--rebuild", action="store_true", help="start the demo project afresh")
    p.add_argument(
        "--no-gui", action="store_true", help="print the demo project's status; open no window"
    )
    p.add_argument(
        "--annotator", default=None, metavar="NAME", help="work as NAME (not remembered)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.path) if args.path else default_location()
    if not args.no_gui:
        from app.gui.platform_check import check_platform

        check_platform()  # before building anything: one line saying what to install
    with build_demo(folder, rebuild=args.rebuild) as project:
        if args.no_gui:
            from pipeline.status import project_status

            print(format_status(project_status(project)))
            return 0
    from app.gui.app import run_gui

    return run_gui(str(folder), annotator=args.annotator)

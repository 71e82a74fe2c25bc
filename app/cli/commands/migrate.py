"""``longtail migrate SRC DST``: copy a project between SQLite and PostgreSQL."""

from __future__ import annotations

import argparse

from pipeline.store.database import Project
from pipeline.store.transfer import migrate
from pipeline.team import roles

from ..acting import act_as, add_annotator_option
from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "migrate",
        help="copy a project between SQLite and PostgreSQL (either way)",
        description="Copy the project SRC into a new project DST: a folder to create "
        "(SQLite) or an empty PostgreSQL database (createdb NAME first). All or nothing, "
        "verified by row counts and content checksums before it is kept. SRC is left as "
        "it is. A password is never stored: give it in the URL, in PGPASSWORD or "
        "~/.pgpass, or at the prompt. See docs/team.md.",
    )
    p.add_argument("source", metavar="SRC", help="project folder or database URL")
    p.add_argument("destination", metavar="DST", help="new project folder or empty database URL")
    add_annotator_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    act_as(args)
    with progress_bar("migrating", unit="row") as bar:
        report = migrate(args.source, args.destination, progress=bar)
    print(report.summary())
    if "://" in str(args.destination):  # PostgreSQL: who its admin is (issue 17)
        with Project.open(args.destination) as project:
            print(roles.team_note(project))
    return 0

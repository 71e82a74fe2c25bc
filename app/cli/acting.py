"""Who runs a command, for the team's roles.

On a PostgreSQL project whoever runs a command is its database login: ``--annotator`` and
``$LONGTAIL_ANNOTATOR`` are refused there unless they name that login (the refusal comes
from :func:`pipeline.team.roles.require_in` and the pipeline service). On SQLite: ``--annotator
NAME``, else ``$LONGTAIL_ANNOTATOR``, else the login name (see pipeline/team/roles.py)."""

from __future__ import annotations

import argparse

from pipeline.team import roles


def add_annotator_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--annotator",
        default=None,
        metavar="NAME",
        help=f"who runs this, for a SQLite project's roles (default: ${roles.ACTOR_VARIABLE}, "
        "else your login name); on PostgreSQL you act as your database login",
    )


def act_as(args: argparse.Namespace) -> str:
    """Make ``--annotator`` (when given) whoever acts in this process; returns the name."""
    name = getattr(args, "annotator", None)
    if name:
        roles.set_actor(name)
    return roles.acting_name()

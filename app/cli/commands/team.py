"""``longtail team PROJECT list | add NAME --role R [--password-stdin] | set NAME --role R |
remove NAME | upgrade``"""

from __future__ import annotations

import argparse
import getpass
import sys

from pipeline.errors import LongtailError
from pipeline.store.database import Project
from pipeline.team import postgres as teamdb
from pipeline.team import roles
from pipeline.text import for_terminal

from ..acting import act_as, add_annotator_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "team",
        help="list the team of a project, add someone, change a role, remove someone",
        description="Every annotator is an annotator, a verifier or an admin. Annotators "
        "work stages 1, 2, 3 and 6; verifiers also stages 4 and 5 (project setting "
        "verification_role); admins also change settings, seed, import, export, train, "
        "choose the model in use and change the team. On PostgreSQL a person is a database "
        "login and a role is membership of one of the project's group roles: the database "
        "enforces them. On SQLite roles apply once the project has an admin. See docs/team.md.",
    )
    p.add_argument("project", help="project folder or database URL")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="everyone in the project, with their role")
    add = actions.add_parser(
        "add", help="add someone with a role (PostgreSQL: their login, created if new)"
    )
    change = actions.add_parser("set", help="change someone's role")
    for a in (add, change):
        a.add_argument("name", help="the annotator's name (PostgreSQL: their database login)")
        a.add_argument("--role", required=True, choices=roles.ROLES)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a new login's password from standard input (for scripts); without it, "
        "a hidden prompt asks when the server has no login by that name",
    )
    remove = actions.add_parser(
        "remove", help="take someone off the team (their answers stay; the login stays)"
    )
    remove.add_argument("name")
    actions.add_parser(
        "upgrade",
        help="PostgreSQL, the project's owner: apply the team's group roles and policies "
        "(schema version 6) to a project made before them",
    )
    for a in (add, change, remove):
        add_annotator_option(a)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        if args.action == "list":
            print(for_terminal(format_team(project)))  # names are never raw escapes
            return 0
        if args.action == "upgrade":
            return upgrade(project)
        act_as(args)
        roles.require(project, roles.TEAM)  # refused before a password is asked for
        if args.action == "add":
            member = roles.add_member(
                project, args.name, args.role, password=_new_password(project, args)
            )
        elif args.action == "set":
            member = roles.set_role(project, args.name, args.role)
        else:
            member = roles.remove_member(project, args.name)
            print(f"{for_terminal(member.name)} is no longer in the team; their answers stay")
            return 0
        article = "an" if member.role[0] in "aeiou" else "a"
        print(f"{for_terminal(member.name)} is now {article} {member.role}")
    return 0


def _new_password(project: Project, args: argparse.Namespace) -> str | None:
    """The password of a login ``team add`` creates: None where no login is made (SQLite,
    or a login the server has already)."""
    secured = roles.identity(project).secured
    if not secured:
        if args.password_stdin:
            raise LongtailError(
                "this project has no database logins (SQLite, or team security not applied "
                "yet), so --password-stdin has nothing to set"
            )
        return None
    with project.read() as conn:
        if teamdb.login_exists(conn, args.name):
            return None  # an existing login keeps its password
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass(f"password for the new login {args.name}: ")
        if getpass.getpass("the same again: ") != password:
            raise LongtailError("the two passwords differ; nothing was changed")
    else:
        raise LongtailError(
            f"the server has no login {args.name}: give its password with --password-stdin "
            "(or run this in a terminal to be asked)"
        )
    if not password:
        raise LongtailError(f"a new login needs a password ({args.name}); nothing was changed")
    return password


def upgrade(project: Project) -> int:
    """Applying version 6 happens when its owner opens the project; say where it stands."""
    if project.is_sqlite:
        print(
            "a SQLite project has no database logins: its file's permissions are its "
            "boundary (docs/team.md); nothing to upgrade"
        )
        return 0
    with project.read() as conn:
        ident = teamdb.identity_in(conn)
        blocked = None if ident.secured else teamdb.blocker(conn)
    if ident.secured:
        print(
            f"the team's roles and policies are in force (schema version "
            f"{project.schema_version()}); you are {ident.login} ({ident.role or 'no role'})"
        )
        return 0
    print(f"not upgraded: {blocked or ident.pending}", file=sys.stderr)
    return 1


def format_team(project: Project) -> str:
    members = roles.team(project)
    target = roles.project_target(project)
    ident = roles.identity(project)
    lines = [f"{m.role:<10} {m.name}{' (scripted)' if m.is_bot else ''}" for m in members]
    if ident.secured:
        lines.append(f"you are {ident.login} ({ident.role or 'not in the team'})")
    elif ident.pending:
        lines.append(ident.pending.replace("URL", target))
    if not ident.secured and not any(m.role == roles.ADMIN for m in members):
        lines.append(
            "no admin yet, so everyone acts as admin; make one with "
            f"longtail team {target} set NAME --role admin"
        )
    if not members:
        lines.insert(0, "nobody has worked on this project yet")
    return "\n".join(lines)

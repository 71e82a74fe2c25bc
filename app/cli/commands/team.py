"""``longtail team PROJECT list | add NAME --role R | set NAME --role R``"""

from __future__ import annotations

import argparse

from pipeline import roles
from pipeline.store import Project
from pipeline.text import for_terminal

from ..acting import act_as, add_annotator_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "team",
        help="list the team of a project, add someone, change a role",
        description="Every annotator is an annotator, a verifier or an admin. Annotators "
        "work stages 1, 2, 3 and 6; verifiers also stages 4 and 5 (project setting "
        "verification_role); admins also change settings, seed, import, export, train and "
        "change the team. Roles apply once the project has an admin; until then everyone "
        "acts as admin (a single user never notices them). See docs/team.md.",
    )
    p.add_argument("project", help="project folder or database URL")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="everyone in the project, with their role")
    for action, text in (("add", "add someone with a role"), ("set", "change someone's role")):
        a = actions.add_parser(action, help=text)
        a.add_argument("name", help="the annotator's name (as they sign in)")
        a.add_argument("--role", required=True, choices=roles.ROLES)
        add_annotator_option(a)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        if args.action == "list":
            print(for_terminal(format_team(project)))  # names are never raw escapes
            return 0
        act_as(args)
        change = roles.add_member if args.action == "add" else roles.set_role
        member = change(project, args.name, args.role)
        article = "an" if member.role[0] in "aeiou" else "a"
        print(f"{for_terminal(member.name)} is now {article} {member.role}")
    return 0


def format_team(project: Project) -> str:
    members = roles.team(project)
    target = roles.project_target(project)
    lines = [f"{m.role:<10} {m.name}{' (scripted)' if m.is_bot else ''}" for m in members]
    if not any(m.role == roles.ADMIN for m in members):
        lines.append(
            "no admin yet, so everyone acts as admin; make one with "
            f"longtail team {target} set NAME --role admin"
        )
    if not members:
        lines.insert(0, "nobody has worked on this project yet")
    return "\n".join(lines)

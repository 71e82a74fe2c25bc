"""Who may do what in a project: the team's roles.

Every annotator has a role, ``annotator``, ``verifier`` or ``admin``; each role may do
everything the one before it may. The rules:

- stages 1, 2, 3 and 6 are everyone's work;
- stages 4 and 5 (segment verification, exhaustive annotations verification) need the
  role named by the project setting ``verification_role`` (default: verifier);
- nobody verifies a segment they drew unless the setting ``allow_self_verification``
  is on; the setting is read at every claim and every answer, so changing it applies
  to the items already open;
- settings, seeding, import, export, training and the team itself are for admins.

Roles are in force once the project has an admin. Until then (every single-user SQLite
project) everyone acts as an admin, so nothing changes for one person working alone
(docs/decisions/0010).

Who acts, and who enforces the rules, depends on the database:

- **PostgreSQL** (schema version 6, decision 0020): the acting annotator is the database
  login (``session_user``); a role is membership of one of the project's group roles;
  grants, row-level security and a trigger refuse what a role may not do, to longtail
  and to any other client. ``--annotator`` / ``$LONGTAIL_ANNOTATOR`` naming anyone but
  the login is refused. The checks here only make the refusals readable.
- **SQLite**: the name given, else ``$LONGTAIL_ANNOTATOR`` (which :func:`set_actor` sets
  for the GUI's annotator and the CLI's ``--annotator``), else the login name
  (:func:`acting_name`); the file's permissions are the boundary.
"""

from __future__ import annotations

import getpass
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import exists, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ..errors import LongtailError, NotAllowedError, NotFoundError
from ..store import schema as s
from ..store.credentials import shown
from ..store.database import SETTINGS_CHECKS, Annotator, Project, inserted_id, now
from ..store.settings import ProjectSettings
from ..text import clean as clean_text
from . import postgres as teamdb
from .postgres import Identity, identity_in

ANNOTATOR, VERIFIER, ADMIN, ROLES = s.ANNOTATOR, s.VERIFIER, s.ADMIN, s.ROLES
REMOVED = s.REMOVED
RANK = {REMOVED: -1, ANNOTATOR: 0, VERIFIER: 1, ADMIN: 2}


# the admin actions, and how a refusal names them
SETTINGS = "settings"
SEED = "seed"
IMPORT = "import"
EXPORT = "export"
TRAIN = "train"
TEAM = "team"
MIGRATE = "migrate"
MODELS = "models"
ADMIN_ACTIONS = {
    SETTINGS: "changing the project's settings",
    SEED: "opening work items (seeding)",
    IMPORT: "importing annotations",
    EXPORT: "exporting the project",
    TRAIN: "training a model",
    TEAM: "changing the team",
    MIGRATE: "copying the whole project to another database",
    MODELS: "choosing the model that proposes masks for the team",
}

ACTOR_VARIABLE = "LONGTAIL_ANNOTATOR"
_ACTOR_AT_START = os.environ.get(ACTOR_VARIABLE)

an = s.annotators


@dataclass(frozen=True)
class Member:
    """One annotator of the project and their role."""

    id: int
    name: str
    role: str
    is_bot: bool


# ---------------------------------------------------------------- who is acting


def set_actor(name: str | None) -> None:
    """Who acts in this process from now on (the CLI's ``--annotator``, the GUI's
    annotator), kept in ``$LONGTAIL_ANNOTATOR`` so that subprocesses (training) act as
    the same person; None restores the variable as the process found it."""
    if name and name.strip():
        os.environ[ACTOR_VARIABLE] = name.strip()
    elif _ACTOR_AT_START is None:
        os.environ.pop(ACTOR_VARIABLE, None)
    else:
        os.environ[ACTOR_VARIABLE] = _ACTOR_AT_START


def acting_name(explicit: str | None = None) -> str:
    """The name of whoever acts: ``explicit``, else ``$LONGTAIL_ANNOTATOR`` (which
    :func:`set_actor` sets), else the login name."""
    for candidate in (explicit, os.environ.get(ACTOR_VARIABLE)):
        if candidate and candidate.strip():
            return candidate.strip()
    return getpass.getuser()


# ---------------------------------------------------------------- the rules


def check_role(role: str) -> str:
    if role not in RANK:
        raise LongtailError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    return role


def stage_role(stage: int, settings: ProjectSettings) -> str:
    """The least role that may work ``stage``."""
    if stage in (s.VERIFICATION, s.EXHAUSTIVE):
        return settings.verification_role
    return ANNOTATOR


def may(role: str, needed: str) -> bool:
    return RANK[role] >= RANK[needed]


def roles_in_force(conn: Connection) -> bool:
    """True once the project has an admin (see the module docstring); always on a
    team-secured PostgreSQL project, whose owner is its first admin."""
    if teamdb.group_prefix(conn) is not None:
        return True
    return bool(conn.execute(select(exists().where(an.c.role == ADMIN))).scalar())


def check_stage(conn: Connection, who: Annotator, stage: int, settings: ProjectSettings) -> None:
    """Refuse (NotAllowedError) when ``who`` may not work ``stage`` (inside a transaction)."""
    needed = stage_role(stage, settings)
    if needed == ANNOTATOR:
        return  # everyone's stage: no query on the claim's hot path
    ident = identity_in(conn)
    if ident.secured and who.name == ident.login:  # the login's groups are its role
        if ident.role is None or not may(ident.role, needed):
            held = _a(ident.role) if ident.role else "not in the team"
            raise NotAllowedError(
                f"{who.name} is {held} in this project; stage {stage} ({s.STAGES[stage]}) "
                f"is for {_from(needed)} ({_granted_by(conn)}; project setting "
                "verification_role)"
            )
        return
    admins = select(func.count()).where(an.c.role == ADMIN).scalar_subquery()
    row = conn.execute(select(an.c.role, admins).where(an.c.id == who.id)).first()
    if row is None:
        raise NotFoundError(f"annotator {who.name} is not in the project")
    role, n_admins = row
    if n_admins and not may(role, needed):
        raise NotAllowedError(
            f"{who.name} is {_a(role)} in this project; stage {stage} "
            f"({s.STAGES[stage]}) is for {_from(needed)} (project setting verification_role)"
        )


def own_segment_rule(annotator_id: int, settings: ProjectSettings) -> ColumnElement[bool]:
    """A claim condition on stage-4 work items: not a segment ``annotator_id`` drew,
    unless ``allow_self_verification`` is on. The setting as it is now, not as it was
    when the item opened."""
    if settings.allow_self_verification:
        return true()
    wi = s.work_items
    return ~exists().where(
        s.segments.c.id == wi.c.segment_id, s.segments.c.annotator_id == annotator_id
    )


def require_in(
    conn: Connection, action: str, who: str | Annotator | None = None, *, target: str = "PROJECT"
) -> None:
    """Refuse ``action`` (an admin action) unless whoever acts may do it, inside the
    caller's transaction; ``target`` names the project in the advice. On a team-secured
    PostgreSQL project whoever acts is the login, whatever ``who`` says."""
    if action not in ADMIN_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    what = ADMIN_ACTIONS[action]
    ident = identity_in(conn)
    if ident.secured:
        check_named_actor(ident)
        if ident.role != ADMIN:
            raise NotAllowedError(_login_refusal(conn, ident, what, target))
        return
    if not roles_in_force(conn):
        return
    name = who.name if isinstance(who, Annotator) else acting_name(who)
    role = conn.execute(select(an.c.role).where(an.c.name == name)).scalar()
    if role is None or role == REMOVED:
        raise NotAllowedError(
            f"{name} is not in this project's team, and {what} is for admins "
            f"({_granted_by(conn)}: longtail team {target} add {name} --role admin)"
        )
    if role != ADMIN:
        raise NotAllowedError(
            f"{name} is {_a(role)} in this project, and {what} is for admins "
            f"({_granted_by(conn)}: longtail team {target} set {name} --role admin)"
        )


def check_named_actor(ident: Identity) -> None:
    """Refuse ``--annotator`` / ``$LONGTAIL_ANNOTATOR`` naming anyone but the login (a
    team-secured PostgreSQL project: the login is who acts)."""
    named = (os.environ.get(ACTOR_VARIABLE) or "").strip()
    if ident.login is not None and named and named != ident.login:
        raise NotAllowedError(
            f"--annotator / ${ACTOR_VARIABLE} names {named}, but on this PostgreSQL project "
            f"you act as your database login, {ident.login}"
        )


def _login_refusal(conn: Connection, ident: Identity, what: str, target: str) -> str:
    held = f"{_a(ident.role)}" if ident.role else "not in this project's team"
    return (
        f"{ident.login} is {held} in this project, and {what} is for admins "
        f"({_granted_by(conn)}: longtail team {target} set {ident.login} --role admin)"
    )


def _granted_by(conn: Connection) -> str:
    """Who can grant a role: the project's admins, by name."""
    if teamdb.group_prefix(conn) is not None:
        admins = sorted(n for n, r in teamdb.members(conn).items() if r == ADMIN)
    else:
        admins = sorted(conn.execute(select(an.c.name).where(an.c.role == ADMIN)).scalars())
    if not admins:
        return "the project's owner grants it"
    shown_admins = ", ".join(admins[:5]) + (" ..." if len(admins) > 5 else "")
    return f"an admin ({shown_admins}) grants it"


def require(project: Project, action: str, who: str | Annotator | None = None) -> None:
    """:func:`require_in` in a transaction of its own (entry points call it first)."""
    with project.read() as conn:
        require_in(conn, action, who, target=project_target(project))


def identity(project: Project) -> Identity:
    """Who this process is on ``project`` (see :class:`pipeline.team.postgres.Identity`)."""
    with project.read() as conn:
        return identity_in(conn)


_logins: weakref.WeakKeyDictionary[Project, Identity] = weakref.WeakKeyDictionary()


def check_acting(project: Project, name: str) -> None:
    """Refuse acting as ``name`` on a team-secured PostgreSQL project unless it is the
    login, or the login is an admin (scripts, simulations); nothing on SQLite."""
    if project.is_sqlite:
        return
    ident = _logins.get(project)
    if ident is None:
        ident = _logins[project] = identity(project)
    if not ident.secured or name == ident.login or ident.role == ADMIN:
        return
    raise NotAllowedError(
        f"on this PostgreSQL project you act as your database login, {ident.login}; "
        f"{name} is another person (their answers are theirs to give)"
    )


# ---------------------------------------------------------------- the team


def team(project: Project) -> list[Member]:
    """Every annotator with their stored role, admins first, then by name."""
    with project.read() as conn:
        rows = conn.execute(select(an.c.id, an.c.name, an.c.role, an.c.is_bot)).all()
        # PostgreSQL: a login's groups are its role (the owner may have no row yet)
        logins = teamdb.members(conn)
    members = [
        Member(int(r.id), r.name, logins.get(r.name, r.role), bool(r.is_bot)) for r in rows
    ]
    known = {m.name for m in members}
    members += [Member(0, n, role, False) for n, role in logins.items() if n not in known]
    return sorted(members, key=lambda m: (-RANK.get(m.role, 0), m.name))


def has_admin(project: Project) -> bool:
    with project.read() as conn:
        return roles_in_force(conn)


def add_member(
    project: Project,
    name: str,
    role: str,
    *,
    by: str | None = None,
    password: str | None = None,
) -> Member:
    """Add ``name`` to the team with ``role`` (admins only, once roles are in force).

    On a team-secured PostgreSQL project ``name`` is a login: it is created with
    ``password`` when the server has none by that name (an existing one is taken as it
    is), and given the project's group for ``role``; the database refuses a non-admin."""
    name, role = _name(name), check_role(role)
    with project.write() as conn:
        target = project_target(project)
        require_in(conn, TEAM, by, target=target)
        row = conn.execute(select(an.c.id, an.c.role).where(an.c.name == name)).first()
        if row is not None and row.role != REMOVED:
            raise LongtailError(
                f"{name} is in the team already; change their role with "
                f"longtail team {target} set {name} --role {role}"
            )
        if identity_in(conn).secured:
            _in_database(lambda: teamdb.team_set(conn, name, role, password))
            new_id = conn.execute(select(an.c.id).where(an.c.name == name)).scalar_one()
        elif row is not None:
            conn.execute(an.update().where(an.c.id == row.id).values(role=role))
            new_id = row.id
        else:
            new_id = inserted_id(
                conn.execute(
                    an.insert().values(name=name, is_bot=False, role=role, created_at=now())
                )
            )
    return Member(int(new_id), name, role, False)


def set_role(project: Project, name: str, role: str, *, by: str | None = None) -> Member:
    """Give ``name`` a new role (admins only, once roles are in force). The last admin
    stays one: without an admin, roles would stop applying to everyone."""
    name, role = _name(name), check_role(role)
    with project.write() as conn:
        require_in(conn, TEAM, by, target=project_target(project))
        row = _member_row(conn, name, project, role)
        _keep_an_admin(conn, row, role)
        if identity_in(conn).secured:
            _in_database(lambda: teamdb.team_set(conn, name, role))
        else:
            conn.execute(an.update().where(an.c.id == row.id).values(role=role))
    return Member(int(row.id), name, role, bool(row.is_bot))


def remove_member(project: Project, name: str, *, by: str | None = None) -> Member:
    """Take ``name`` off the team: on PostgreSQL their login loses the project's groups
    (the login itself stays: it may belong to other projects); everywhere their past
    answers stay, under their name."""
    name = _name(name)
    with project.write() as conn:
        require_in(conn, TEAM, by, target=project_target(project))
        row = _member_row(conn, name, project, ANNOTATOR)
        _keep_an_admin(conn, row, REMOVED)
        if identity_in(conn).secured:
            _in_database(lambda: teamdb.team_remove(conn, name))
        else:
            conn.execute(an.update().where(an.c.id == row.id).values(role=REMOVED))
    return Member(int(row.id), name, REMOVED, bool(row.is_bot))


def _member_row(conn: Connection, name: str, project: Project, role: str) -> Any:
    row = conn.execute(select(an).where(an.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            f"no annotator named {name} in this project; add them with "
            f"longtail team {project_target(project)} add {name} --role {role}"
        )
    return row


def _keep_an_admin(conn: Connection, row: Any, role: str) -> None:
    if teamdb.group_prefix(conn) is not None:
        return  # the database's team functions keep the last admin
    if row.role == ADMIN and role != ADMIN:
        admins = conn.execute(select(func.count()).where(an.c.role == ADMIN)).scalar_one()
        if admins == 1:
            raise LongtailError(
                f"{row.name} is the project's only admin; make someone else admin first"
            )


def _in_database(change: Callable[[], None]) -> None:
    """Run a team change the database checks; its refusal becomes one line."""
    try:
        change()
    except sa_exc.DBAPIError as exc:
        raise NotAllowedError(
            f"the project's database refused the change: {teamdb.refusal_text(exc)}"
        ) from None


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise LongtailError("an annotator needs a name")
    return clean_text("annotator", name, where="team")  # the one text policy (decision 0024)


def project_target(project: Project) -> str:
    return shown(str(project.folder) if project.folder is not None else project.url)


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def _from(role: str) -> str:
    return {ANNOTATOR: "everyone", VERIFIER: "verifiers and admins", ADMIN: "admins"}[role]


def _require_admin_for_settings(conn: Connection, project: Project) -> None:
    require_in(conn, SETTINGS, target=project_target(project))


SETTINGS_CHECKS.append(_require_admin_for_settings)  # Project.update_settings runs it


def team_note(project: Project) -> str | None:
    """What ``init`` and ``migrate`` say about a new PostgreSQL project's team: who its
    admin is, or why its roles and policies wait for its owner; None on SQLite."""
    if project.is_sqlite:
        return None
    target = project_target(project)
    ident = identity(project)
    if ident.secured:
        return (
            f"{ident.login} is the project's admin; add people with: "
            f"longtail team {target} add NAME --role annotator"
        )
    with project.read() as conn:
        why = teamdb.blocker(conn)
    return (why or ident.pending or "").replace("URL", target)

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
project, and a new team project until someone is made admin) everyone acts as an
admin, so nothing changes for one person working alone (docs/decisions/0010).

The pipeline service checks the stage rules at every claim and answer; the entry
points of import, export, seeding, settings and training call :func:`require`. Who is
acting: the name given, else ``$LONGTAIL_ANNOTATOR`` (which :func:`set_actor` sets for
the GUI's annotator and the CLI's ``--annotator``), else the login name
(:func:`acting_name`).

Roles guard the workflow, not the data: whoever holds the database's password can
change anything with ``psql``; the server's own roles guard that.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from sqlalchemy import exists, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from . import schema as s
from .credentials import shown
from .errors import LongtailError, NotAllowedError, NotFoundError
from .settings import ProjectSettings
from .store import SETTINGS_CHECKS, Annotator, Project, now

ANNOTATOR, VERIFIER, ADMIN, ROLES = s.ANNOTATOR, s.VERIFIER, s.ADMIN, s.ROLES
RANK = {ANNOTATOR: 0, VERIFIER: 1, ADMIN: 2}

# the admin actions, and how a refusal names them
SETTINGS = "settings"
SEED = "seed"
IMPORT = "import"
EXPORT = "export"
TRAIN = "train"
TEAM = "team"
MIGRATE = "migrate"
ADMIN_ACTIONS = {
    SETTINGS: "changing the project's settings",
    SEED: "opening work items (seeding)",
    IMPORT: "importing annotations",
    EXPORT: "exporting the project",
    TRAIN: "training a model",
    TEAM: "changing the team",
    MIGRATE: "copying the whole project to another database",
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
    """True once the project has an admin (see the module docstring)."""
    return bool(conn.execute(select(exists().where(an.c.role == ADMIN))).scalar())


def check_stage(conn: Connection, who: Annotator, stage: int, settings: ProjectSettings) -> None:
    """Refuse (NotAllowedError) when ``who`` may not work ``stage`` (inside a transaction)."""
    needed = stage_role(stage, settings)
    if needed == ANNOTATOR:
        return  # everyone's stage: no query on the claim's hot path
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
    caller's transaction; ``target`` names the project in the advice."""
    if action not in ADMIN_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not roles_in_force(conn):
        return
    name = who.name if isinstance(who, Annotator) else acting_name(who)
    role = conn.execute(select(an.c.role).where(an.c.name == name)).scalar()
    what = ADMIN_ACTIONS[action]
    if role is None:
        raise NotAllowedError(
            f"{name} is not in this project's team, and {what} is for admins "
            f"(an admin adds them: longtail team {target} add {name} --role admin; "
            f"or act as an admin with --annotator NAME or ${ACTOR_VARIABLE})"
        )
    if role != ADMIN:
        raise NotAllowedError(
            f"{name} is {_a(role)} in this project, and {what} is for admins "
            f"(an admin can change that: longtail team {target} set {name} --role admin)"
        )


def require(project: Project, action: str, who: str | Annotator | None = None) -> None:
    """:func:`require_in` in a transaction of its own (entry points call it first)."""
    with project.read() as conn:
        require_in(conn, action, who, target=project_target(project))


# ---------------------------------------------------------------- the team


def team(project: Project) -> list[Member]:
    """Every annotator with their stored role, admins first, then by name."""
    with project.read() as conn:
        rows = conn.execute(select(an.c.id, an.c.name, an.c.role, an.c.is_bot)).all()
    members = [Member(int(r.id), r.name, r.role, bool(r.is_bot)) for r in rows]
    return sorted(members, key=lambda m: (-RANK.get(m.role, 0), m.name))


def has_admin(project: Project) -> bool:
    with project.read() as conn:
        return roles_in_force(conn)


def add_member(project: Project, name: str, role: str, *, by: str | None = None) -> Member:
    """Add ``name`` to the team with ``role`` (admins only, once roles are in force)."""
    name, role = _name(name), check_role(role)
    with project.write() as conn:
        require_in(conn, TEAM, by, target=project_target(project))
        if conn.execute(select(an.c.id).where(an.c.name == name)).first() is not None:
            raise LongtailError(
                f"{name} is in the team already; change their role with "
                f"longtail team {project_target(project)} set {name} --role {role}"
            )
        new_id = conn.execute(
            an.insert().values(name=name, is_bot=False, role=role, created_at=now())
        ).inserted_primary_key[0]
    return Member(int(new_id), name, role, False)


def set_role(project: Project, name: str, role: str, *, by: str | None = None) -> Member:
    """Give ``name`` a new role (admins only, once roles are in force). The last admin
    stays one: without an admin, roles would stop applying to everyone."""
    name, role = _name(name), check_role(role)
    with project.write() as conn:
        require_in(conn, TEAM, by, target=project_target(project))
        row = conn.execute(select(an).where(an.c.name == name)).first()
        if row is None:
            raise NotFoundError(
                f"no annotator named {name} in this project; add them with "
                f"longtail team {project_target(project)} add {name} --role {role}"
            )
        if row.role == ADMIN and role != ADMIN:
            admins = conn.execute(select(func.count()).where(an.c.role == ADMIN)).scalar_one()
            if admins == 1:
                raise LongtailError(
                    f"{name} is the project's only admin; make someone else admin first"
                )
        conn.execute(an.update().where(an.c.id == row.id).values(role=role))
    return Member(int(row.id), name, role, bool(row.is_bot))


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise LongtailError("an annotator needs a name")
    return name


def project_target(project: Project) -> str:
    return shown(str(project.folder) if project.folder is not None else project.url)


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def _from(role: str) -> str:
    return {ANNOTATOR: "everyone", VERIFIER: "verifiers and admins", ADMIN: "admins"}[role]


def _require_admin_for_settings(conn: Connection, project: Project) -> None:
    require_in(conn, SETTINGS, target=project_target(project))


SETTINGS_CHECKS.append(_require_admin_for_settings)  # Project.update_settings runs it

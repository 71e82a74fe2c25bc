"""The PostgreSQL side of team security: who the login is, which group roles it holds,
and the statements and functions that apply and change them (decision 0020).

The rules themselves are SQL (:func:`pipeline.store.schema.team_security_ddl`): grants, row-level
security policies, a trigger on the work queue and SECURITY DEFINER functions for the
team. This module applies them (schema version 6, by the project's owner) and reads
them back for :mod:`pipeline.team.roles`, which turns them into readable refusals. It builds
on the schema only, so that the store's migration can call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from ..store import schema as s

INSUFFICIENT_PRIVILEGE = "42501"
"""The SQLSTATE of every refusal: a missing grant, a policy, the work-queue trigger."""


@dataclass(frozen=True)
class Identity:
    """Who the connection is on a team-secured PostgreSQL project.

    ``login``: ``session_user`` (None on SQLite and on a PostgreSQL project whose team
    security is not applied yet, where ``pending`` says why); ``role``: the highest of
    the project's group roles the login holds (None: none of them)."""

    login: str | None = None
    role: str | None = None
    pending: str | None = None

    @property
    def secured(self) -> bool:
        return self.login is not None


def _meta(conn: Connection, key: str) -> str | None:
    return conn.execute(select(s.meta.c.value).where(s.meta.c.key == key)).scalar()


def group_prefix(conn: Connection) -> str | None:
    """The prefix of the project's group roles, ``lt<oid>_`` (None on SQLite, or while
    they are not made yet). Derived from the database, never stored in it: a copy of the
    project (``migrate``) is another database, with groups of its own."""
    if conn.dialect.name != "postgresql":
        return None
    oid = conn.execute(
        text(
            "SELECT d.oid FROM pg_database d WHERE d.datname = current_database() "
            "AND to_regrole(:p || d.oid::text || :admin) IS NOT NULL"
        ),
        {"p": s.GROUP_PREFIX, "admin": "_" + s.ADMIN},
    ).scalar()
    return None if oid is None else s.team_group_prefix(int(oid))


_IDENTITY = text(
    "WITH p AS (SELECT :lt || oid::text || '_' AS prefix FROM pg_database "
    "WHERE datname = current_database()) "
    "SELECT session_user, EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p.prefix || :admin), "
    "ARRAY(SELECT substr(g.rolname, length(p.prefix) + 1) FROM pg_roles g "
    "WHERE g.rolname IN (p.prefix || :admin, p.prefix || :verifier, p.prefix || :annotator) "
    "AND pg_has_role(session_user, g.oid, 'MEMBER')) FROM p"
)


def identity_in(conn: Connection) -> Identity:
    """The connection's :class:`Identity` (one query on PostgreSQL, none on SQLite)."""
    if conn.dialect.name != "postgresql":
        return Identity()
    login, made, held = conn.execute(
        _IDENTITY,
        {"lt": s.GROUP_PREFIX, "admin": s.ADMIN, "verifier": s.VERIFIER, "annotator": s.ANNOTATOR},
    ).one()
    if not made:
        return Identity(
            pending="this project's team roles and policies are not applied yet (schema "
            "version 5): its owner applies them with longtail team URL upgrade; until then "
            "roles are checked by longtail only"
        )
    role = next((r for r in (s.ADMIN, s.VERIFIER, s.ANNOTATOR) if r in held), None)
    return Identity(login=str(login), role=role)


def blocker(conn: Connection) -> str | None:
    """Why this login cannot apply the team security now (None: it can)."""
    row = conn.execute(
        text(
            "SELECT r.rolsuper, r.rolcreaterole, t.tableowner, current_user "
            "FROM pg_roles r LEFT JOIN pg_tables t "
            "ON t.schemaname = current_schema() AND t.tablename = 'annotators' "
            "WHERE r.rolname = current_user"
        )
    ).one()
    superuser, createrole, owner, me = row
    if not superuser and owner != me:
        return (
            f"only the project's owner ({owner}) can apply its team roles and policies "
            f"(you are {me}): they run longtail team URL upgrade"
        )
    if not (superuser or createrole):
        return (
            f"the project's owner {me} needs the server privilege CREATEROLE to make the "
            f"project's group roles (a server administrator runs: ALTER ROLE {me} CREATEROLE; "
            "then longtail team URL upgrade)"
        )
    return None


def apply_team_security(conn: Connection) -> str | None:
    """Apply (or apply again) the project's group roles, grants, policies and functions,
    and make the connecting login an admin of the project; None when done, else why
    this login may not (nothing was changed then)."""
    why = blocker(conn)
    if why is not None:
        return why
    oid, database, schema = conn.execute(
        text(
            "SELECT oid, current_database(), current_schema() FROM pg_database "
            "WHERE datname = current_database()"
        )
    ).one()
    prefix = s.team_group_prefix(int(oid))
    driver = conn.connection.driver_connection  # no parameters: '%' stays plpgsql's
    for statement in s.team_security_ddl(prefix, str(schema), str(database)):
        driver.execute(statement)  # type: ignore[union-attr]
    make_login_admin(conn)
    return None


def make_login_admin(conn: Connection) -> None:
    """The connecting login becomes an admin of the project (the admin group; its
    annotator row, where it has one, says so too); ``init`` and ``migrate`` call it for
    whoever made the project. No row is added: a copied project keeps its rows as they
    were, and the login's row is made when it first acts."""
    prefix = group_prefix(conn)
    if prefix is None:
        return
    conn.execute(
        text("UPDATE annotators SET role = :admin WHERE name = session_user"),
        {"admin": s.ADMIN},
    )
    conn.exec_driver_sql(f'GRANT "{prefix}{s.ADMIN}" TO SESSION_USER')


def secure_new_project(conn: Connection) -> str | None:
    """After ``migrate`` copied a project into a PostgreSQL database (inside its
    transaction): apply the team security and make the connecting login the admin. The
    copied schema version drops to 5 when this login cannot (the owner upgrades later);
    returns why, or None."""
    if conn.dialect.name != "postgresql":
        return None
    # migrate's connection streams its reads (yield_per); these writes must not be
    conn = conn.execution_options(stream_results=False, yield_per=None)
    why = apply_team_security(conn)
    if why is not None:
        version = _meta(conn, "schema_version")
        if version is not None and int(version) > 5:
            conn.execute(s.meta.update().where(s.meta.c.key == "schema_version").values(value="5"))
    return why


# ---------------------------------------------------------------- the team


def scram_verifier(conn: Connection, login: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password`` for ``login``, computed by libpq on this
    machine: the server stores it and never sees the password."""
    pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
    verifier: str = pgconn.encrypt_password(
        password.encode("utf-8"), login.encode("utf-8"), b"scram-sha-256"
    ).decode("ascii")
    return verifier


def team_set(conn: Connection, login: str, role: str, password: str | None = None) -> None:
    """Give ``login`` the project role ``role`` (creating the login with ``password`` when
    the server has none by that name), through the project's SECURITY DEFINER function:
    the database refuses anyone but an admin."""
    verifier = scram_verifier(conn, login, password) if password is not None else None
    conn.execute(
        text("SELECT longtail_team_set(:login, :role, :verifier)"),
        {"login": login, "role": role, "verifier": verifier},
    )


def team_remove(conn: Connection, login: str) -> None:
    """Take ``login`` off the project's team (its past answers stay)."""
    conn.execute(text("SELECT longtail_team_remove(:login)"), {"login": login})


def login_exists(conn: Connection, login: str) -> bool:
    return bool(
        conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": login}).first()
    )


def members(conn: Connection) -> dict[str, str]:
    """Every login holding one of the project's groups, with the highest it holds."""
    prefix = group_prefix(conn)
    if prefix is None:
        return {}
    rows = conn.execute(
        text(
            "SELECT m.rolname, g.rolname FROM pg_auth_members a "
            "JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.roleid "
            "WHERE g.rolname IN (:a, :v, :n) AND m.rolcanlogin"
        ),
        {"a": prefix + s.ADMIN, "v": prefix + s.VERIFIER, "n": prefix + s.ANNOTATOR},
    ).all()
    rank = {s.ANNOTATOR: 0, s.VERIFIER: 1, s.ADMIN: 2}
    found: dict[str, str] = {}
    for login, group in rows:
        role = group[len(prefix) :]
        if rank[role] >= rank.get(found.get(login, s.ANNOTATOR), 0):
            found[login] = role
    return found


def drop_project_database(conn: Connection, name: str) -> None:
    """Drop the database ``name`` and its project's group roles, which live on the server
    and would outlive it (``conn``: an autocommit connection to another database, as a
    login allowed to drop both; benchmarks and tests clean up with it)."""
    oid = conn.execute(text("SELECT oid FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if oid is not None:
        for group in group_names(s.team_group_prefix(int(oid))):
            conn.execute(text(f'DROP ROLE IF EXISTS "{group}"'))


def group_names(prefix: str) -> list[str]:
    return [prefix + r for r in s.ROLES]


def refusal_text(exc: Any) -> str:
    """The database's refusal on one line (the driver's message without its context)."""
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary or str(orig).splitlines()[0]).strip()


__all__ = [
    "INSUFFICIENT_PRIVILEGE",
    "Identity",
    "apply_team_security",
    "identity_in",
    "make_login_admin",
    "secure_new_project",
    "team_remove",
    "team_set",
]

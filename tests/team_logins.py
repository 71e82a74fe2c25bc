"""A team project on the test PostgreSQL server with real logins, for the team-security
tests: one database and a login per member, all with unique names, all dropped after.

The CI login (LONGTAIL_TEST_POSTGRES_URL's user, with CREATEDB and CREATEROLE) creates the
database and so owns the project: it is the project's first admin. Each member gets a
login of their own through ``roles.add_member`` (the project's SECURITY DEFINER function),
and tests connect as them with psycopg directly or through longtail.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from team_support import POSTGRES

HOST = POSTGRES.split("@", 1)[1].split("/", 1)[0] if POSTGRES else ""


@dataclass
class TeamServer:
    """The database of one test and its members' logins."""

    database: str
    owner_url: str  # the CI login's URL (with its password)
    suffix: str
    passwords: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)

    def login(self, short: str) -> str:
        """The server-wide login name of member ``short`` (unique to this test)."""
        return f"{short}_{self.suffix}"

    def url(self, short: str, *, password: bool = True) -> str:
        name = self.login(short)
        secret = f":{self.passwords[name]}" if password else ""
        return f"postgresql://{name}{secret}@{HOST}/{self.database}"

    def connect(self, short: str | None = None):
        """A psycopg connection (autocommit off) as member ``short``, or as the owner."""
        import psycopg

        if short is None:
            return psycopg.connect(self.owner_url)
        name = self.login(short)
        return psycopg.connect(
            host=HOST.split(":")[0],
            port=int(HOST.split(":")[1]) if ":" in HOST else 5432,
            user=name,
            password=self.passwords[name],
            dbname=self.database,
        )


@contextmanager
def team_server(members: dict[str, str]) -> Iterator[TeamServer]:
    """A fresh database whose project the caller creates (``server.owner_url``); then
    :func:`add_logins` makes ``members`` ({short name: role}). Drops the database, the
    members' logins and the project's group roles afterwards."""
    psycopg = pytest.importorskip("psycopg")
    assert POSTGRES is not None
    suffix = uuid.uuid4().hex[:8]
    database = f"longtail_sec_{suffix}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
        oid = admin.execute("SELECT oid FROM pg_database WHERE datname = %s", (database,))
        oid = oid.fetchone()[0]
    server = TeamServer(database, POSTGRES.rsplit("/", 1)[0] + "/" + database, suffix)
    server.roles = {server.login(k): v for k, v in members.items()}
    server.passwords = {name: "pw-" + secrets.token_hex(8) for name in server.roles}
    try:
        yield server
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            for name in server.roles:
                admin.execute(f'DROP ROLE IF EXISTS "{name}"')
            for role in ("admin", "verifier", "annotator"):
                admin.execute(f'DROP ROLE IF EXISTS "lt{oid}_{role}"')


def add_logins(server: TeamServer, project) -> None:
    """Give every member of ``server`` a login with their role, as the owner (an admin)."""
    from pipeline.team import roles

    for name, role in server.roles.items():
        roles.add_member(project, name, role, password=server.passwords[name])


def make_images(folder: Path, n: int) -> Path:
    from conftest import make_image

    for i in range(n):
        make_image(folder / f"im{i:02d}.png", 40, 30, color=(i * 30 % 255, 90, 140))
    return folder

"""Helpers for the team-mode tests: a fresh PostgreSQL database per test.

PostgreSQL tests run when LONGTAIL_TEST_POSTGRES_URL names a server (``.ci/run`` starts
the machine's PostgreSQL and sets it); elsewhere they are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES = os.environ.get("LONGTAIL_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="LONGTAIL_TEST_POSTGRES_URL is not set")


def _admin_engine():
    from sqlalchemy import create_engine

    assert POSTGRES is not None
    return create_engine(
        POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server (dropped afterwards)."""
    pytest.importorskip("psycopg")
    from sqlalchemy import text

    name = f"longtail_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def throwaway_role(password: str) -> Iterator[str]:
    """A login role of its own with ``password`` (the test server's user needs CREATEROLE,
    which .ci/run gives it), allowed to create databases; yields its name."""
    pytest.importorskip("psycopg")
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    name = f"longtail_role_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE ROLE {name} LOGIN CREATEDB PASSWORD '{password}'"))
    except ProgrammingError as exc:
        admin.dispose()
        pytest.fail(f"the test server's user cannot create roles (give it CREATEROLE): {exc}")
    try:
        yield name
    finally:
        _drop_role(admin, name, password)
        admin.dispose()


def _drop_role(admin, name: str, password: str) -> None:
    """Drop the role's databases as the role (their owner), then the role."""
    import psycopg
    from sqlalchemy import text

    host = POSTGRES.split("@", 1)[1].split("/", 1)[0]
    with admin.connect() as conn:
        owned = (
            conn.execute(
                text(
                    "SELECT datname FROM pg_database "
                    "WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = :r)"
                ),
                {"r": name},
            )
            .scalars()
            .all()
        )
    if owned:
        as_role = f"postgresql://{name}:{password}@{host}/postgres"
        with psycopg.connect(as_role, autocommit=True) as conn:
            for db in owned:
                conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
    with admin.connect() as conn:
        conn.execute(text(f"DROP ROLE {name}"))

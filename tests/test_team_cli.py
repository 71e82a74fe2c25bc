"""``longtail team`` and the admin-only commands with real logins (issue 17): on PostgreSQL the
login is who acts, ``--annotator`` / ``$LONGTAIL_ANNOTATOR`` cannot say otherwise, and a
refusal names the role needed and who grants it. ``models --clear`` is an admin's action on
SQLite as well.
"""

from __future__ import annotations

import io
import uuid

import pytest
import skips
from team_logins import HOST, add_logins, team_server
from team_support import POSTGRES

from app.cli.main import main
from pipeline.store import credentials
from pipeline.store.database import Project
from pipeline.team import roles

needs_postgres = pytest.mark.skipif(not POSTGRES, reason=skips.POSTGRES)
MEMBERS = {"boss": roles.ADMIN, "bob": roles.ANNOTATOR}


@pytest.fixture(autouse=True)
def nobody_acting(monkeypatch):
    monkeypatch.delenv(roles.ACTOR_VARIABLE, raising=False)
    roles.set_actor(None)
    credentials.forget_all()
    yield
    roles.set_actor(None)
    credentials.forget_all()


@pytest.fixture
def server():
    if not POSTGRES:
        pytest.skip(skips.POSTGRES)
    with team_server(MEMBERS) as srv:
        with Project.create(srv.owner_url) as project:
            add_logins(srv, project)
        yield srv


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("longtail: error: ") and err.count("\n") == 1, err
    return err


# ---------------------------------------------------------------- PostgreSQL


@needs_postgres
def test_bob_cannot_act_as_alice_with_the_annotator_option(server, capsys):
    bob = server.url("bob")
    code = main(["team", bob, "set", server.login("bob"), "--role", "admin", "--annotator", "boss"])
    err = _one_line_error(capsys)
    assert code != 0
    assert "you act as your database login" in err and server.login("bob") in err
    assert server.passwords[server.login("bob")] not in err
    with Project.open(server.owner_url) as project:
        assert {m.name: m.role for m in roles.team(project)}[server.login("bob")] == roles.ANNOTATOR


@needs_postgres
def test_bob_cannot_act_as_an_admin_through_the_environment(server, capsys, monkeypatch):
    monkeypatch.setenv(roles.ACTOR_VARIABLE, server.login("boss"))
    code = main(
        ["team", server.url("bob"), "add", "mallory", "--role", "admin", "--password-stdin"]
    )
    assert code != 0
    assert "you act as your database login" in _one_line_error(capsys)


@needs_postgres
def test_a_refusal_names_the_role_and_who_grants_it(server, capsys):
    code = main(["team", server.url("bob"), "set", server.login("bob"), "--role", "admin"])
    err = _one_line_error(capsys)
    assert code != 0
    assert f"{server.login('bob')} is an annotator" in err and "is for admins" in err
    assert server.login("boss") in err  # who can grant it
    assert "--annotator" not in err and roles.ACTOR_VARIABLE not in err


@needs_postgres
def test_export_and_models_are_refused_to_bob(server, capsys, tmp_path):
    code = main(["export", server.url("bob"), str(tmp_path / "out.json"), "--format", "coco"])
    assert code != 0 and "is for admins" in _one_line_error(capsys)
    code = main(["models", server.url("bob"), "--clear"])
    assert code != 0 and "choosing the model" in _one_line_error(capsys)
    assert main(["models", server.url("boss"), "--clear"]) == 0


@needs_postgres
def test_an_admin_adds_a_login_whose_password_comes_from_stdin(server, capsys, monkeypatch):
    import psycopg

    carol = f"carol_{uuid.uuid4().hex[:8]}"
    password = "c@r0l#pw%:/x"
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    try:
        code = main(
            ["team", server.url("boss"), "add", carol, "--role", "verifier", "--password-stdin"]
        )
        out = capsys.readouterr().out
        assert code == 0 and f"{carol} is now a verifier" in out
        host, _, port = HOST.partition(":")
        with psycopg.connect(
            host=host, port=int(port or 5432), user=carol, password=password, dbname=server.database
        ) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
        assert main(["team", server.url("boss"), "remove", carol]) == 0
        assert main(["team", server.url("boss"), "list"]) == 0
        listing = capsys.readouterr().out
        assert f"removed    {carol}" in listing
        assert f"you are {server.login('boss')} (admin)" in listing
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {carol}")


@needs_postgres
def test_a_new_login_needs_a_password(server, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(["team", server.url("boss"), "add", f"nopw_{server.suffix}", "--role", "annotator"])
    assert code != 0 and "--password-stdin" in _one_line_error(capsys)


@needs_postgres
def test_a_project_made_before_team_security_says_so_until_its_owner_upgrades(capsys, tmp_path):
    """The owner lacks CREATEROLE: the project stays at version 5 and works; once the
    server's administrator grants it, ``team upgrade`` applies versions 6 and 7."""
    import psycopg

    name = f"old_{uuid.uuid4().hex[:8]}"
    password = "pw-" + uuid.uuid4().hex[:8]
    database = f"{name}_db"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} LOGIN CREATEDB PASSWORD '{password}'")
    url = f"postgresql://{name}:{password}@{HOST}/{database}"
    oid = None
    try:
        with psycopg.connect(
            f"postgresql://{name}:{password}@{HOST}/postgres", autocommit=True
        ) as own:
            own.execute(f"CREATE DATABASE {database}")
            oid = own.execute(
                "SELECT oid FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()[0]
        with Project.create(url) as project:
            assert project.schema_version() == 5
        assert main(["team", url, "list"]) == 0
        assert "not applied yet" in capsys.readouterr().out
        assert main(["team", url, "upgrade"]) == 1
        assert "CREATEROLE" in capsys.readouterr().err
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"ALTER ROLE {name} CREATEROLE")
        assert main(["team", url, "upgrade"]) == 0
        assert f"you are {name} (admin)" in capsys.readouterr().out
        with Project.open(url) as project:
            assert project.schema_version() == 7
    finally:
        with psycopg.connect(
            f"postgresql://{name}:{password}@{HOST}/postgres", autocommit=True
        ) as own:
            own.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            if oid is not None:
                for role in ("admin", "verifier", "annotator"):
                    admin.execute(f'DROP ROLE IF EXISTS "lt{oid}_{role}"')
            admin.execute(f"DROP ROLE IF EXISTS {name}")


# ---------------------------------------------------------------- SQLite


def test_models_clear_is_an_admins_action_on_sqlite(tmp_path, capsys):
    folder = tmp_path / "project"
    with Project.create(folder) as project:
        roles.add_member(project, "boss", roles.ADMIN)
        roles.add_member(project, "bob", roles.ANNOTATOR, by="boss")
    code = main(["models", str(folder), "--clear", "--annotator", "bob"])
    err = _one_line_error(capsys)
    assert code != 0 and "bob is an annotator" in err and "choosing the model" in err
    assert "(boss)" in err
    assert main(["models", str(folder), "--clear", "--annotator", "boss"]) == 0


@needs_postgres
def test_migrate_into_postgresql_makes_the_connecting_login_the_admin(tmp_path, capsys):
    import psycopg
    from team_support import fresh_database

    folder = tmp_path / "solo"
    with Project.create(folder) as project:
        roles.add_member(project, "ann", roles.ADMIN)  # a SQLite admin: a name, no login
    with fresh_database() as url:
        assert main(["migrate", str(folder), url, "--annotator", "ann"]) == 0
        out = capsys.readouterr().out
        login = url.split("://", 1)[1].split(":", 1)[0]
        assert f"{login} is the project's admin" in out
        with Project.open(url) as project:
            me = roles.identity(project)
            team = {m.name: m.role for m in roles.team(project)}
            assert project.schema_version() == 7
        assert (me.login, me.role) == (login, roles.ADMIN)
        assert team == {login: roles.ADMIN, "ann": roles.ADMIN}  # ann: a row without a login
        with psycopg.connect(url) as conn:  # the copy has its own groups, of its own oid
            (oid,) = conn.execute(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            ).fetchone()
            (held,) = conn.execute(
                "SELECT pg_has_role(session_user, %s, 'MEMBER')", (f"lt{oid}_admin",)
            ).fetchone()
        assert held

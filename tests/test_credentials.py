"""Database passwords (pipeline/store/credentials.py): used to connect, never stored or shown.

The server tests make a login role of their own with a password nothing else uses, so
that finding that password anywhere is a leak (the CI role's password is its name).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
import skips
from conftest import make_image
from gui_support import open_and_wait, settings_sandbox, window  # noqa: F401 (fixtures)
from sqlalchemy import select
from team_support import POSTGRES, needs_postgres, throwaway_role

from app.cli import main
from pipeline.images import add_image_folder
from pipeline.stages import SPOTTING, Pipeline, SpotAnswer
from pipeline.store import credentials, notify
from pipeline.store import schema as s
from pipeline.store.credentials import ConnectionFailed, public_url, scrub
from pipeline.store.database import Project, _engine
from pipeline.team import roles
from pipeline.vocabulary import add_categories, shipped_vocabulary


@pytest.fixture(autouse=True)
def clean_slate(monkeypatch):
    """No remembered password, no prompt, no libpq password from the environment."""
    for name in ("PGPASSWORD", "PGPASSFILE", "PGSERVICE", roles.ACTOR_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    credentials.forget_all()
    credentials.set_prompt(None)
    roles.set_actor(None)
    yield
    credentials.forget_all()
    credentials.set_prompt(None)
    roles.set_actor(None)


# ---------------------------------------------------------------- showing URLs


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ann:s3cret@db.lab:5433/proj", "postgresql://ann@db.lab:5433/proj"),
        ("postgresql://ann:p%40ss%3Aw0rd@host/proj", "postgresql://ann@host/proj"),
        (
            "postgresql://ann@host/proj?password=s3cret&sslmode=require",
            "postgresql://ann@host/proj?sslmode=require",
        ),
        ("postgresql://host/proj", "postgresql://host/proj"),
        ("/home/ann/project", "/home/ann/project"),
    ],
)
def test_a_shown_url_has_no_password(url, shown):
    assert credentials.shown(url) == shown


def test_messages_lose_url_and_conninfo_passwords():
    text = "cannot use postgresql://ann:s3cret@host/db (host=h password=s3cret user=ann)"
    assert "s3cret" not in scrub(text)
    assert "postgresql://ann@host/db" in scrub(text)


def test_a_server_project_keeps_its_url_without_the_password():
    url = "postgresql://ann:s3cret@localhost:1/nowhere"
    project = Project(_engine(url), None, url)  # no connection is made
    assert project.url == "postgresql://ann@localhost:1/nowhere"
    assert "s3cret" not in repr(project.engine.url)
    assert project.engine.url.password is None
    project.close()


def test_a_subprocess_gets_a_known_password_through_its_environment():
    url = "postgresql://ann:s3cret@localhost/proj"
    credentials.remember(url, "s3cret")
    env = credentials.child_environment(public_url(url), base={})
    assert env == {"PGPASSWORD": "s3cret"}
    assert credentials.child_environment("postgresql://bob@elsewhere/x", base={}) == {}


def test_a_server_that_cannot_be_reached_is_one_clear_line(capsys):
    code = main(["status", "postgresql://ann:s3cret@127.0.0.1:9/nowhere"])
    out, err = capsys.readouterr()
    assert code == 1 and "s3cret" not in out + err
    assert err.startswith("longtail: error: cannot connect to postgresql://ann@127.0.0.1:9/nowhere")
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- where a password comes from


@pytest.fixture
def role():
    """(name, password) of a throwaway login role on the test server."""
    if not POSTGRES:
        pytest.skip(skips.POSTGRES)
    password = "pw-" + secrets.token_hex(12)
    with throwaway_role(password) as name:
        yield name, password


def server(name: str, password: str | None = None, database: str = "postgres") -> str:
    host = POSTGRES.split("@", 1)[1].split("/", 1)[0]
    user = name if password is None else f"{name}:{password}"
    return f"postgresql://{user}@{host}/{database}"


def database_of(role_name: str, password: str) -> str:
    """A new database owned by the role; its URL without the password."""
    import psycopg

    name = f"{role_name}_db"
    url = server(role_name, password)
    with psycopg.connect(url.replace("postgresql://", "postgresql://", 1), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return server(role_name, None, name)


@needs_postgres
def test_the_password_comes_from_pgpassword(role, monkeypatch):
    name, password = role
    url = database_of(name, password)
    monkeypatch.setenv("PGPASSWORD", password)
    with Project.create(url) as project:
        assert project.counts()["images"] == 0


@needs_postgres
def test_the_password_comes_from_the_password_file(role, monkeypatch, tmp_path):
    name, password = role
    url = database_of(name, password)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:{name}:{password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with Project.create(url) as project:
        assert project.url == url


@needs_postgres
def test_a_missing_password_is_asked_once_and_remembered(role):
    name, password = role
    url = database_of(name, password)
    asked: list[str] = []
    credentials.set_prompt(lambda shown: asked.append(shown) or password)
    with Project.create(url):
        pass
    with Project.open(url):
        pass
    assert asked == [url]


@needs_postgres
def test_a_wrong_password_is_asked_again_then_refused(role):
    name, password = role
    url = database_of(name, password)
    answers = iter(["wrong-1", "wrong-2", "wrong-3"])
    credentials.set_prompt(lambda _shown: next(answers))
    with pytest.raises(ConnectionFailed, match="password authentication failed") as failed:
        Project.create(url)
    assert "wrong" not in str(failed.value)


@needs_postgres
def test_without_a_password_or_a_prompt_the_error_says_so(role, capsys):
    name, password = role
    url = database_of(name, password)
    code = main(["status", url])
    out, err = capsys.readouterr()
    assert code == 1 and f"cannot connect to {url}" in err and "password" in err


# ---------------------------------------------------------------- no leaks


def scan(folder: Path, secret: str) -> list[str]:
    """Every file under ``folder`` whose bytes contain ``secret``."""
    needle = secret.encode()
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def server_rows_text(project: Project) -> str:
    """Every value of every table of the project, as text."""
    parts = []
    with project.read() as conn:
        for table in s.metadata.sorted_tables:
            parts += [repr(tuple(row)) for row in conn.execute(select(table))]
    return "\n".join(parts)


@needs_postgres
def test_no_password_leaks_after_a_session_with_a_password_url(
    role, tmp_path, capsys, caplog, monkeypatch
):
    name, password = role
    url = database_of(name, password)
    secret_url = server(name, password, url.rsplit("/", 1)[1])
    caplog.set_level(logging.DEBUG)  # every logger, SQLAlchemy's engine and pool included
    monkeypatch.chdir(tmp_path)  # anything written "next to the project" lands here
    images = tmp_path / "images"
    for i in range(3):
        make_image(images / f"im{i}.png", color=(40 * i, 90, 10))

    assert main(["init", secret_url, "--images", str(images), "--vocabulary", "coco"]) == 0
    with Project.open(secret_url) as project:
        service = Pipeline(project)
        with notify.watch(project, lambda change: None) as watcher:
            watcher.wait_ready()
            service.seed()
            item = service.next_item(SPOTTING, "ann")
            service.answer(item, SpotAnswer(nothing_new=True))
        assert project.url == url
        assert password not in server_rows_text(project)
    credentials.forget_all()  # the CLI gets the password from the URL each time
    for argv in (
        ["team", secret_url, "add", "boss", "--role", "admin"],
        ["team", secret_url, "list"],
        ["status", secret_url, "--json", "--no-file-check"],
        [
            "export",
            secret_url,
            str(tmp_path / "out.json"),
            "--format",
            "lvis",
            "--annotator",
            "boss",
        ],
        ["migrate", secret_url, str(tmp_path / "copy"), "--annotator", "boss"],
        ["status", secret_url.replace(password, "not-it"), "--no-file-check"],
    ):
        main(argv)
    out, err = capsys.readouterr()
    assert url in out  # the URL was shown, without its password
    assert "cannot connect to" in err  # the wrong password's failure was shown, too
    assert password not in out + err
    assert password not in caplog.text
    assert scan(tmp_path, password) == []
    assert (tmp_path / "copy" / "longtail.db").is_file() and (tmp_path / "out.json").is_file()


@needs_postgres
def test_the_gui_session_leaves_no_password_in_qsettings_or_logs(
    role,
    qtbot,
    window,  # noqa: F811 (the fixture)
    settings_sandbox,  # noqa: F811
    tmp_path,
    caplog,
):
    """The real window opens a server project by its password URL, works, closes."""
    from PySide6.QtCore import QSettings

    from app.gui.widgets.dialogs import recent_projects

    name, password = role
    url = database_of(name, password)
    secret_url = server(name, password, url.rsplit("/", 1)[1])
    caplog.set_level(logging.DEBUG)
    make_image(tmp_path / "images" / "a.png")
    with Project.create(secret_url) as project:
        add_categories(project, shipped_vocabulary("coco"))
        add_image_folder(project, tmp_path / "images")
    open_and_wait(qtbot, window, secret_url)
    assert window.session.project.url == url
    # the role has no CREATEROLE: version 5, working as before, and the status bar says so
    assert "team roles not applied yet" in window.identity_label.text()
    window.close_project()
    QSettings().sync()
    assert recent_projects() == [url]
    assert any(settings_sandbox.rglob("*")), "the settings were written where they are scanned"
    assert scan(settings_sandbox, password) == []
    assert password not in caplog.text


# ---------------------------------------------------------------- any character in a password

RAW_CHARACTERS = ["@", "#", "%", ":", "/", "?", "&", "%40"]


@pytest.mark.parametrize("char", RAW_CHARACTERS)
def test_a_password_with_a_raw_character_is_removed_whole(char, capsys):
    """The issue's case: ``postgresql://r:Se@cr3t#Pw@host/db`` showed 7 of its characters."""
    secret = f"Se{char}cr3t{char}Pw"
    url = f"postgresql://r:{secret}@127.0.0.1:9/db?sslmode=disable"
    public = "postgresql://r@127.0.0.1:9/db?sslmode=disable"
    assert credentials.public_url(url) == public
    assert credentials.split_password(url) == (public, secret.replace("%40", "@"))
    assert scrub(f"cannot use {url} now") == f"cannot use {public} now"
    code = main(["status", url])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1
    for fragment in ("Se", "cr3t", "Pw"):
        assert fragment not in err


@pytest.mark.parametrize("char", RAW_CHARACTERS)
def test_a_password_parameter_with_a_raw_character_is_removed(char):
    url = f"postgresql://r@host/db?sslmode=require&password=a{char}b"
    assert credentials.public_url(url) == "postgresql://r@host/db?sslmode=require"

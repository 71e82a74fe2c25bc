"""Issue 20, "Why" 3 and 5: ``init`` and ``migrate`` are all or nothing. A PostgreSQL
database with other tables is refused (listing them) and left as it was; a failed init
leaves nothing; a killed init or migrate into a folder leaves something the next run
recognises and replaces."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_support import run
from conftest import make_image
from sqlalchemy import create_engine, inspect, text
from team_support import fresh_database, needs_postgres

from app.cli import main
from pipeline.store.database import DB_NAME, Project

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def images(tmp_path: Path) -> Path:
    make_image(tmp_path / "imgs" / "a.png")
    make_image(tmp_path / "imgs" / "b.png", color=(1, 2, 3))
    return tmp_path / "imgs"


def _psycopg(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _tables(url: str) -> set[str]:
    engine = _psycopg(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


@needs_postgres
@pytest.mark.parametrize("foreign", [("images", "settings"), ("invoices", "customers")])
def test_init_into_a_database_of_another_application_is_refused_untouched(capsys, images, foreign):
    with fresh_database() as url:
        engine = _psycopg(url)
        with engine.begin() as conn:
            for name in foreign:
                conn.execute(text(f"CREATE TABLE {name} (key text, value text)"))
                conn.execute(text(f"INSERT INTO {name} VALUES ('theirs', 'kept')"))
        code, out, err = run(capsys, "init", url, "--images", str(images), "--vocabulary", "coco")
        assert code == 1 and "not empty" in err
        assert all(name in err for name in foreign), err
        assert len(err.strip().splitlines()) == 1
        assert _tables(url) == set(foreign)  # nothing added, nothing written into theirs
        with engine.connect() as conn:
            for name in foreign:
                assert conn.execute(text(f"SELECT key, value FROM {name}")).all() == [
                    ("theirs", "kept")
                ]
        engine.dispose()
        code, _, err = run(capsys, "status", url)
        assert code == 1 and "Traceback" not in err


@needs_postgres
def test_a_failed_init_into_postgresql_leaves_no_table(capsys, images):
    with fresh_database() as url:
        code, _, err = run(
            capsys, "init", url, "--images", str(images), "--vocabulary", "coco",
            "--split", "s" * 40,
        )  # fmt: skip
        assert code == 1 and "at most 32" in err
        assert _tables(url) == set()
        code, out, _ = run(capsys, "init", url, "--images", str(images), "--vocabulary", "coco")
        assert code == 0 and "2 images added" in out


def test_a_failed_init_into_a_folder_leaves_nothing(capsys, tmp_path, images):
    target = tmp_path / "new"
    code, _, err = run(
        capsys, "init", str(target), "--images", str(images), "--vocabulary", "coco",
        "--split", "bad\x1bsplit",
    )  # fmt: skip
    assert code == 1 and "control character" in err
    assert not target.exists()
    existing = tmp_path / "existing"
    (existing / "notes.txt").parent.mkdir()
    (existing / "notes.txt").write_text("mine")
    code, _, _ = run(
        capsys, "init", str(existing), "--images", str(images), "--vocabulary", "coco",
        "--split", "s" * 40,
    )  # fmt: skip
    assert code == 1
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"]


def _killed(code: str) -> None:
    """Run ``code`` in a child process that dies by SIGKILL at its end (os._exit would
    run no cleanup either; a real kill is what a user's machine does)."""
    script = textwrap.dedent(code) + "\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=120)
    assert done.returncode == -9


def test_a_killed_migrate_into_a_folder_is_recognised_and_replaced(capsys, tmp_path, images):
    source = tmp_path / "src"
    assert main(["init", str(source), "--images", str(images), "--vocabulary", "coco"]) == 0
    destination = tmp_path / "dst"
    destination.mkdir()
    # The migration's one transaction, killed after it created the tables.
    _killed(
        f"""
        from pipeline.store import schema as s
        from pipeline.store.database import Project, _engine, _locate
        url, folder = _locate({str(destination)!r})
        dst = Project(_engine(url), folder, url)
        conn = dst.engine.connect().execution_options(longtail_write=True)
        conn.begin()
        s.metadata.create_all(conn)
        """
    )
    assert (destination / DB_NAME).exists()
    capsys.readouterr()
    code, _, err = run(capsys, "status", str(destination))
    assert code == 1 and "unfinished" in err and "again" in err
    code, out, err = run(capsys, "migrate", str(source), str(destination))
    assert code == 0, err
    with Project.open(destination) as project:
        assert project.counts()["images"] == 2


def test_a_killed_init_is_recognised_and_replaced(capsys, tmp_path, images):
    target = tmp_path / "P"
    _killed(
        f"""
        from pipeline.store.database import Project
        from pipeline.vocabulary import add_categories, shipped_vocabulary
        project = Project.create({str(target)!r}, building=True)
        add_categories(project, shipped_vocabulary("coco"))
        """
    )
    code, _, err = run(capsys, "status", str(target))
    assert code == 1 and "unfinished" in err
    code, out, err = run(
        capsys, "init", str(target), "--images", str(images), "--vocabulary", "coco"
    )
    assert code == 0 and "2 images added" in out, err
    code, _, err = run(capsys, "init", str(target), "--images", str(images), "--vocabulary", "coco")
    assert code == 1 and "already holds a longtail project" in err  # a finished one stays


@needs_postgres
def test_migrate_into_a_database_of_another_application_is_refused(capsys, tmp_path, images):
    source = tmp_path / "src"
    assert main(["init", str(source), "--images", str(images), "--vocabulary", "coco"]) == 0
    capsys.readouterr()
    with fresh_database() as url:
        engine = _psycopg(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE settings (key text)"))
        engine.dispose()
        code, _, err = run(capsys, "migrate", str(source), url)
        assert code == 1 and "settings" in err and "not empty" in err
        assert _tables(url) == {"settings"}

"""Issue 20, "Why" 4: a damaged project is one located line in every command, on both
backends, and ``longtail check`` says 0 sound / 1 damaged / 2 could not run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_support import run
from conftest import make_image
from sqlalchemy import create_engine, text
from team_support import POSTGRES, fresh_database, needs_postgres

from app.cli import main
from pipeline.errors import DamagedProjectError
from pipeline.store.database import DB_NAME, Project

# (case, SQL that damages the project, words the one line must hold)
DAMAGES = [
    ("version-abc", "UPDATE meta SET value = 'abc' WHERE key = 'schema_version'", "schema version"),
    (
        "version-negative",
        "UPDATE meta SET value = '-1' WHERE key = 'schema_version'",
        "schema version",
    ),
    ("no-work-items", "DROP TABLE work_items", "table work_items is missing"),
    ("no-events", "DROP TABLE events", "table events is missing"),
    ("no-settings", "DROP TABLE settings", "table settings is missing"),
    (
        "roots-not-json",
        "UPDATE meta SET value = '{not json' WHERE key = 'images.roots'",
        "images.roots is not JSON",
    ),
]


@pytest.fixture(scope="module")
def sound(tmp_path_factory) -> Path:
    """A small sound project: two images, the COCO vocabulary, work items opened."""
    base = tmp_path_factory.mktemp("sound")
    for n in range(2):
        make_image(base / "imgs" / f"{n}.png")
    assert (
        main(["init", str(base / "P"), "--images", str(base / "imgs"), "--vocabulary", "coco"]) == 0
    )
    from pipeline.stages import Pipeline

    with Project.open(base / "P") as project:
        Pipeline(project).seed()
    return base


def _damaged_copy(sound: Path, tmp_path: Path, sql: str) -> Path:
    shutil.copytree(sound, tmp_path / "c", symlinks=True)
    folder = tmp_path / "c" / "P"
    engine = create_engine(f"sqlite:///{folder / DB_NAME}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql(sql)
    engine.dispose()
    return folder


def test_a_sound_project_checks_sound(capsys, sound: Path):
    code, out, err = run(capsys, "check", str(sound / "P"))
    assert code == 0, out + err
    assert "sound" in out


@pytest.mark.parametrize("case,sql,words", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_a_damaged_project_is_one_line_everywhere(capsys, sound, tmp_path, case, sql, words):
    folder = _damaged_copy(sound, tmp_path, sql)
    for command in (
        ["status", str(folder)],
        ["export", str(folder), str(tmp_path / "e.json"), "--format", "coco"],
        ["stats", str(folder), "--out", str(tmp_path / "s")],
    ):
        code, out, err = run(capsys, *command)
        assert code == 1, (command, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (command, err)
        assert "is damaged" in err and words in err, (command, err)
    code, out, _ = run(capsys, "check", str(folder))
    assert code == 1 and words in out, out


def test_a_negative_version_is_not_migrated_again(sound, tmp_path):
    folder = _damaged_copy(
        sound, tmp_path, "UPDATE meta SET value = '-1' WHERE key = 'schema_version'"
    )
    with pytest.raises(DamagedProjectError, match="schema version '-1'"):
        Project.open(folder)


def test_check_finds_broken_work_queue_bookkeeping(capsys, sound, tmp_path):
    folder = _damaged_copy(
        sound,
        tmp_path,
        "UPDATE work_items SET status = 'leased', lease_owner = NULL "
        "WHERE id = (SELECT min(id) FROM work_items)",
    )
    code, out, _ = run(capsys, "check", str(folder))
    assert code == 1 and "leased-without-holder" in out


def test_check_cannot_run_on_something_that_is_no_project(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "check", str(tmp_path / "empty"))
    assert code == 2 and "not a longtail project" in err


def test_a_garbled_database_file_is_damaged(capsys, sound, tmp_path):
    shutil.copytree(sound, tmp_path / "c", symlinks=True)
    db = tmp_path / "c" / "P" / DB_NAME
    data = bytearray(db.read_bytes())
    data[4096 : 4096 * 3] = b"\xff" * (4096 * 2)  # pages 2-3: tables' b-trees
    db.write_bytes(bytes(data))
    code, out, err = run(capsys, "check", str(db.parent))
    assert code == 1, out + err


@needs_postgres
@pytest.mark.parametrize("case,sql,words", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_a_damaged_postgresql_project_is_one_line(capsys, tmp_path, case, sql, words):
    assert POSTGRES
    with fresh_database() as url:
        make_image(tmp_path / "imgs" / "a.png")
        assert main(["init", url, "--images", str(tmp_path / "imgs"), "--vocabulary", "coco"]) == 0
        capsys.readouterr()
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(
                text(
                    sql.replace("DROP TABLE", "DROP TABLE IF EXISTS") + " CASCADE"
                    if sql.startswith("DROP")
                    else sql
                )
            )
        engine.dispose()
        for command in (
            ["status", url],
            ["export", url, str(tmp_path / "e.json"), "--format", "coco"],
        ):
            code, out, err = run(capsys, *command)
            assert code == 1 and "is damaged" in err and words in err, (command, err)
            assert len(err.strip().splitlines()) == 1
        code, out, _ = run(capsys, "check", url)
        assert code == 1 and words in out, out

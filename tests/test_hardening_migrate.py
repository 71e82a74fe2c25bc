"""Issue 20, "Why" 8 (migrate's side) and issue 17's migrate check: ``migrate`` checks
every row against the one text policy before it writes and lists the offenders; into
PostgreSQL the all-or-nothing check is computed during the copy and by the server, and
still catches a row that arrived changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_image
from sqlalchemy import create_engine, inspect
from team_support import fresh_database, needs_postgres
from test_migrate import tamper_with_category_names

import pipeline.store.transfer as migration
from app.cli import main
from pipeline.store.credentials import server_engine
from pipeline.store.database import DB_NAME, Project
from pipeline.store.transfer import ColumnDigest, MigrationError, migrate, server_table_check


@pytest.fixture
def source(tmp_path: Path) -> Path:
    for n in range(3):
        make_image(tmp_path / "imgs" / f"{n}.png", color=(n, 2, 3))
    assert main(["init", str(tmp_path / "src"), "--images", str(tmp_path / "imgs")]) == 0
    return tmp_path / "src"


def _sql(folder: Path, *statements: str) -> None:
    engine = create_engine(f"sqlite:///{folder / DB_NAME}")
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def test_migrate_lists_every_offender_and_writes_nothing(source: Path, tmp_path: Path):
    # What an older longtail let into a SQLite project: PostgreSQL would refuse it.
    _sql(
        source,
        "INSERT INTO annotators (name, is_bot, created_at, role) "
        f"VALUES ('{'a' * 10_000}', 0, 0, 'annotator')",
        "UPDATE categories SET name = 'cat' || char(0) || 'dog' WHERE id = 3",
        "UPDATE images SET split = '" + "s" * 40 + "' WHERE id = 2",
    )
    with pytest.raises(MigrationError) as refused:
        migrate(source, tmp_path / "dst")
    message = str(refused.value)
    assert message.startswith("3 values of the source break the text policy")
    assert "annotators id 1: the annotator name has 10000 characters (at most 128)" in message
    assert "categories id 3: the category name holds a NUL character" in message
    assert "images id 2: the split has 40 characters (at most 32)" in message
    assert not (tmp_path / "dst").exists()


@needs_postgres
def test_the_servers_digest_equals_the_one_made_during_the_copy(source: Path):
    # NULLs, booleans, floats, bytes, JSON and a text-keyed table all in it
    _sql(source, "UPDATE images SET extra = NULL WHERE id = 1")
    with Project.open(source) as project, project.read() as conn:
        expected = {}
        for table in migration.s.metadata.sorted_tables:
            digest = ColumnDigest(table)
            for batch in migration._batches(conn, table):
                digest.add(batch)
            expected[table.name] = digest.hexdigest()
    with fresh_database() as url:
        migrate(source, url)
        engine = server_engine(url)
        with engine.connect() as conn:
            for table in migration.s.metadata.sorted_tables:
                if table.name in migration.PATH_COLUMNS:
                    continue  # paths become absolute on the way
                assert server_table_check(conn, table).checksum == expected[table.name], table.name
        engine.dispose()


@needs_postgres
def test_a_row_changed_on_the_way_into_postgresql_rolls_everything_back(source: Path, monkeypatch):
    tamper_with_category_names(monkeypatch)
    with fresh_database() as url:
        with pytest.raises(
            MigrationError, match=r"nothing was kept: categories \(content differs\)"
        ):
            migrate(source, url)
        engine = server_engine(url)
        assert inspect(engine).get_table_names() == []
        engine.dispose()

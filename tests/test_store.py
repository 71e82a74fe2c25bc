"""The project store: create/open, schema versions, settings, WAL, refusal of non-projects."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, text

from pipeline.annotations import add_instance, image_annotations
from pipeline.corrections import correct_mask
from pipeline.errors import LongtailError, NotAProjectError, SchemaVersionError
from pipeline.masks.geometry import Mask
from pipeline.stats.effort import answer_groups
from pipeline.store import schema as s
from pipeline.store.database import DB_NAME, Project
from pipeline.store.migrations import MIGRATIONS
from pipeline.store.settings import ProjectSettings


def test_create_then_open(tmp_path: Path):
    with Project.create(tmp_path / "p") as project:
        assert (tmp_path / "p" / DB_NAME).is_file()
        assert project.schema_version() == len(MIGRATIONS)
    with Project.open(tmp_path / "p") as project:
        assert project.counts()["images"] == 0
    # the database file itself names the project too
    with Project.open(tmp_path / "p" / DB_NAME) as project:
        assert project.folder == (tmp_path / "p").resolve()


def test_sqlite_is_wal_with_foreign_keys(empty_project: Project):
    with empty_project.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(Exception, match="FOREIGN KEY"), empty_project.write() as conn:
        conn.execute(
            s.instances.insert().values(
                image_id=999,
                category_id=999,
                status="marked",
                source="pipeline",
                is_crowd=False,
                created_at=0.0,
            )
        )


def test_create_refuses_an_existing_project(tmp_path: Path):
    Project.create(tmp_path / "p").close()
    with pytest.raises(LongtailError, match="already holds"):
        Project.create(tmp_path / "p")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "no longtail.db"),
        (
            lambda p: (p.mkdir(), (p / DB_NAME).write_text("hello, not a database")),
            "not a SQLite database",
        ),
        (
            lambda p: (
                p.mkdir(),
                sqlite3.connect(p / DB_NAME).execute("CREATE TABLE t (x)").connection.commit(),
            ),
            "not a longtail project",
        ),
    ],
)
def test_open_says_what_is_not_a_project(tmp_path: Path, make, message):
    target = tmp_path / "thing"
    make(target)
    with pytest.raises(NotAProjectError, match=message):
        Project.open(target)


def test_newer_schema_is_refused(tmp_path: Path):
    Project.create(tmp_path / "p").close()
    db = sqlite3.connect(tmp_path / "p" / DB_NAME)
    db.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(len(MIGRATIONS) + 1),)
    )
    db.commit()
    db.close()
    with pytest.raises(SchemaVersionError, match="newer longtail"):
        Project.open(tmp_path / "p")


def test_older_schema_is_migrated_in_order(tmp_path: Path):
    Project.create(tmp_path / "p").close()
    applied = []

    def add_column(conn):
        applied.append("v2")
        conn.execute(text("ALTER TABLE images ADD COLUMN note TEXT"))

    def add_table(conn):
        applied.append("v3")
        conn.execute(text("CREATE TABLE extra (id INTEGER PRIMARY KEY)"))

    migrations = [*MIGRATIONS, add_column, add_table]
    with Project.open(tmp_path / "p", migrations=migrations) as project:
        assert project.schema_version() == len(MIGRATIONS) + 2
    assert applied == ["v2", "v3"]
    with Project.open(tmp_path / "p", migrations=migrations):
        pass
    assert applied == ["v2", "v3"]  # nothing applied twice
    with pytest.raises(SchemaVersionError):
        Project.open(tmp_path / "p")  # this longtail knows only len(MIGRATIONS) versions


def test_failed_migration_changes_nothing(tmp_path: Path):
    Project.create(tmp_path / "p").close()

    def broken(conn):
        conn.execute(text("ALTER TABLE images ADD COLUMN note TEXT"))
        raise RuntimeError("migration bug")

    with pytest.raises(RuntimeError):
        Project.open(tmp_path / "p", migrations=[*MIGRATIONS, broken])
    with Project.open(tmp_path / "p") as project:
        assert project.schema_version() == len(MIGRATIONS)
        with project.read() as conn:
            columns = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(images)")]
        assert "note" not in columns


def test_settings_round_trip_and_checks(empty_project: Project):
    assert empty_project.settings() == ProjectSettings()
    new = empty_project.update_settings(spot_done_after=3, verifiers_per_segment="5")
    assert new.spot_done_after == 3 and new.verifiers_per_segment == 5
    assert empty_project.settings() == new
    with pytest.raises(LongtailError, match="unknown setting"):
        empty_project.update_settings(spot_done_afterr=3)
    with pytest.raises(LongtailError, match="must be a int"):
        empty_project.update_settings(spot_done_after="many")
    with pytest.raises(LongtailError, match="cannot exceed"):
        empty_project.update_settings(reject_votes_to_redo=9)
    assert empty_project.settings() == new  # a refused change leaves nothing behind


def test_annotator_is_created_once(empty_project: Project):
    a = empty_project.annotator("ada")
    b = empty_project.annotator(" ada ")
    assert a == b
    assert empty_project.counts()["annotators"] == 1
    with pytest.raises(LongtailError):
        empty_project.annotator("  ")


def _one_image(project: Project) -> tuple[int, int]:
    with project.write() as conn:
        image_id = conn.execute(
            s.images.insert().values(
                path="a.jpg", file_name="a.jpg", width=40, height=30, split="train", created_at=0.0
            )
        ).inserted_primary_key[0]
        category_id = conn.execute(
            s.categories.insert().values(name="cat", synonyms=[], definition="", created_at=0.0)
        ).inserted_primary_key[0]
    return image_id, category_id


def _confirmed(project: Project, image_id: int, category_id: int) -> None:
    with project.write() as conn:
        conn.execute(
            s.image_categories.insert().values(
                image_id=image_id, category_id=category_id, state=s.CONFIRMED, updated_at=0.0
            )
        )


def test_segments_are_versioned_and_annotations_load(empty_project: Project):
    image_id, category_id = _one_image(empty_project)
    _confirmed(empty_project, image_id, category_id)
    instance = add_instance(empty_project, image_id, category_id, point=(5, 5), box=(1, 1, 10, 10))
    first = correct_mask(empty_project, instance, Mask.from_box((1, 1, 10, 10), 30, 40), "a")
    second = correct_mask(empty_project, instance, Mask.from_box((1, 1, 8, 8), 30, 40), "a")
    (annotation,) = image_annotations(empty_project, image_id)
    assert annotation.instance.box == (1, 1, 10, 10)
    assert (first.version, second.version) == (1, 2) and second.replaced == (first.segment_id,)
    assert annotation.segment.id == second.segment_id and annotation.segment.version == 2
    assert annotation.segment.mask.area == 64
    with empty_project.read() as conn:
        status = conn.execute(
            select(s.segments.c.status).where(s.segments.c.id == first.segment_id)
        ).scalar()
    assert status == s.SUPERSEDED


def test_two_processes_share_a_project(tmp_path: Path):
    """WAL: a second process opens and writes while this one holds the project open."""
    with Project.create(tmp_path / "p") as project:
        with project.read() as conn:  # an open read transaction does not block the writer
            conn.execute(select(s.meta)).all()
            code = (
                "import sys; from pipeline.store.database import Project;"
                "p = Project.open(sys.argv[1]); p.annotator('from-child'); p.close()"
            )
            subprocess.run(
                [sys.executable, "-c", code, str(tmp_path / "p")], check=True, timeout=120
            )
        assert project.counts()["annotators"] == 1


@contextmanager
def older_project(folder: Path, version: int) -> Iterator[sqlite3.Connection]:
    """A new project (one annotator, "ann") whose database the body turns back into
    what ``version`` had; it is marked as that version and closed afterwards."""
    with Project.create(folder) as project:
        project.annotator("ann")
    db = sqlite3.connect(folder / DB_NAME)
    yield db
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    db.commit()
    db.close()


def test_a_version_1_project_gains_the_drafts_table_and_annotator_roles(tmp_path: Path):
    # Turn it back into a version 1 project: no drafts table, no role column.
    with older_project(tmp_path / "p", 1) as db:
        db.execute("DROP TABLE drafts")
        db.execute("ALTER TABLE annotators DROP COLUMN role")
        db.execute("DROP INDEX ix_events_effort")
        db.execute("ALTER TABLE events DROP COLUMN tool")
    with Project.open(tmp_path / "p") as project:
        assert project.schema_version() == len(MIGRATIONS) == 7
        with project.read() as conn:
            roles = conn.exec_driver_sql("SELECT name, role FROM annotators").all()
            tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
    assert roles == [("ann", "annotator")]
    assert "drafts" in tables
    assert "ix_events_effort" in tables


def test_an_analyzed_version_3_project_gains_the_effort_index_with_its_statistics(
    tmp_path: Path,
):
    with older_project(tmp_path / "p", 3) as db:
        db.execute("DROP INDEX ix_events_effort")
        db.execute("ALTER TABLE events DROP COLUMN tool")
        db.executemany(
            "INSERT INTO events (at, annotator_id, stage, action, duration_s, clicks) "
            "VALUES (?, 1, ?, 'answer', 2.5, 3)",
            [(float(k), 1 + k % 6) for k in range(60)],
        )
        db.execute("ANALYZE")  # figures for every other index, none for the new one
    with Project.open(tmp_path / "p") as project:
        assert project.schema_version() == len(MIGRATIONS)
        with project.read() as conn:
            analyzed = {r[0] for r in conn.exec_driver_sql("SELECT idx FROM sqlite_stat1").all()}
            # the effort sums of a stage walk the index: no sort, no table read
            plan = " ".join(
                str(r[-1])
                for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT annotator_id, action, count(*), "
                    "sum(duration_s), sum(clicks) FROM events WHERE stage = 2 "
                    "GROUP BY annotator_id, action"
                ).all()
            )
    assert "ix_events_effort" in analyzed
    assert "COVERING INDEX ix_events_effort" in plan
    assert "TEMP B-TREE" not in plan


def test_a_version_4_project_gains_the_event_tool_column_and_the_wider_indexes(
    tmp_path: Path,
):
    with older_project(tmp_path / "p", 4) as db:
        # Back to version 4: no tool column, the effort index without it.
        db.execute("DROP INDEX ix_events_effort")
        db.execute("ALTER TABLE events DROP COLUMN tool")
        db.execute(
            "CREATE INDEX ix_events_effort ON events (stage, annotator_id, action, duration_s, clicks)"
        )
        db.execute("DROP INDEX ix_instances_image")
        db.execute("CREATE INDEX ix_instances_image ON instances (image_id, category_id)")
        db.execute("DROP INDEX ix_work_items_claim")
        db.execute("CREATE INDEX ix_work_items_claim ON work_items (stage, status, priority, id)")
        db.execute("DROP INDEX ix_work_items_done_by")
        db.execute("DROP INDEX ix_segments_rejected")
        answers = [("polygon", 10.0), ("brush", 20.0), ("proposal", 4.0), ("polygon", 12.0)]
        db.executemany(
            "INSERT INTO events (at, annotator_id, stage, action, duration_s, clicks, payload) "
            "VALUES (?, 1, 3, 'answer', ?, 2, ?)",
            [
                (float(k), d, json.dumps({"answer": {"tool": t}}))
                for k, (t, d) in enumerate(answers)
            ],
        )
        db.execute(
            "INSERT INTO events (at, annotator_id, stage, action, duration_s, payload) "
            "VALUES (9.0, 1, 3, 'correct', 7.0, ?)",
            (json.dumps({"correction": {"tool": "brush"}}),),
        )
        db.execute(  # another stage's answer keeps no tool
            "INSERT INTO events (at, annotator_id, stage, action, payload) "
            "VALUES (10.0, 1, 2, 'answer', ?)",
            (json.dumps({"answer": {"category_fits": True}}),),
        )
        db.execute("ANALYZE")
    with Project.open(tmp_path / "p") as project:
        assert project.schema_version() == len(MIGRATIONS) == 7
        with project.read() as conn:
            tools = conn.exec_driver_sql("SELECT action, stage, tool FROM events ORDER BY id").all()
            index = conn.exec_driver_sql("PRAGMA index_info(ix_events_effort)").all()
            pairs = conn.exec_driver_sql("PRAGMA index_info(ix_instances_image)").all()
            claim = conn.exec_driver_sql("PRAGMA index_info(ix_work_items_claim)").all()
            partial = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_segments_rejected'"
            ).scalar_one()
            done_by = conn.exec_driver_sql("PRAGMA index_info(ix_work_items_done_by)").all()
            analyzed = {r[0] for r in conn.exec_driver_sql("SELECT idx FROM sqlite_stat1").all()}
            plan = " ".join(
                str(r[-1])
                for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT annotator_id, action, tool, count(*), "
                    "sum(duration_s) FROM events WHERE stage = 3 GROUP BY annotator_id, action, tool"
                ).all()
            )
            groups = {(g.action, g.tool): g.total_s for g in answer_groups(conn, stage=3)}
    assert tools == [
        ("answer", 3, "polygon"),
        ("answer", 3, "brush"),
        ("answer", 3, "proposal"),
        ("answer", 3, "polygon"),
        ("correct", 3, "brush"),
        ("answer", 2, None),
    ]
    assert [r[2] for r in index] == [
        "stage", "annotator_id", "action", "tool", "duration_s", "clicks"
    ]  # fmt: skip
    assert [r[2] for r in pairs] == ["image_id", "category_id", "status", "is_crowd"]
    assert [r[2] for r in claim] == ["stage", "status", "priority", "id", "image_id"]
    assert [r[2] for r in done_by] == ["done_by", "image_id"]
    assert "WHERE status = 'rejected'" in partial
    assert "ix_events_effort" in analyzed  # (ANALYZE records nothing for an empty table)
    assert "COVERING INDEX ix_events_effort" in plan and "TEMP B-TREE" not in plan
    assert groups == {
        ("answer", "polygon"): 22.0,
        ("answer", "brush"): 20.0,
        ("answer", "proposal"): 4.0,
        ("correct", "brush"): 7.0,
    }

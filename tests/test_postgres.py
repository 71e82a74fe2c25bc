"""The same store code on PostgreSQL (runs when LONGTAIL_TEST_POSTGRES_URL names a server).

`.ci/run` starts a local PostgreSQL and sets the variable where the machine has one.
"""

from __future__ import annotations

import os
import threading
import uuid

import pytest
import skips
from sqlalchemy import create_engine, text
from team_support import drop_database

from pipeline.annotations import add_instance, image_annotations
from pipeline.corrections import correct_mask
from pipeline.masks.geometry import Mask
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.migrations import MIGRATIONS
from pipeline.store.workqueue import add_items, claim_next, complete_in
from pipeline.vocabulary import add_categories, project_categories, shipped_vocabulary

BASE_URL = os.environ.get("LONGTAIL_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not BASE_URL, reason=skips.POSTGRES)


@pytest.fixture
def pg_url():
    """A fresh database on the server, dropped afterwards."""
    pytest.importorskip("psycopg")
    name = f"longtail_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        BASE_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield BASE_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        drop_database(conn, name)  # and the project's group roles
    admin.dispose()


def test_project_on_postgresql(pg_url: str):
    with Project.create(pg_url) as project:
        add_categories(project, shipped_vocabulary("coco"))
        assert project.update_settings(spot_done_after=3).spot_done_after == 3
        with project.write() as conn:
            image_id = conn.execute(
                s.images.insert().values(
                    path="/data/a.jpg",
                    file_name="a.jpg",
                    width=40,
                    height=30,
                    split="train",
                    created_at=0.0,
                )
            ).inserted_primary_key[0]
        category = project_categories(project)[0]
        with project.write() as conn:
            conn.execute(
                s.image_categories.insert().values(
                    image_id=image_id, category_id=category.id, state=s.CONFIRMED, updated_at=0.0
                )
            )
        instance = add_instance(project, image_id, category.id, point=(3, 3), box=(1, 1, 5, 5))
        correct_mask(project, instance, Mask.from_box((1, 1, 5, 5), 30, 40), "a")
        (annotation,) = image_annotations(project, image_id)
        assert annotation.segment.mask.area == 25
    with Project.open(pg_url) as project:
        assert project.settings().spot_done_after == 3
        assert project.schema_version() == len(MIGRATIONS)


def test_concurrent_claims_skip_locked_rows(pg_url: str):
    with Project.create(pg_url) as project:
        with project.write() as conn:
            image_id = conn.execute(
                s.images.insert().values(
                    path="/data/a.jpg",
                    file_name="a.jpg",
                    width=4,
                    height=3,
                    split="train",
                    created_at=0.0,
                )
            ).inserted_primary_key[0]
            add_items(conn, [{"stage": s.SPOTTING, "image_id": image_id} for _ in range(40)])
        workers = [project.annotator(f"w{i}") for i in range(4)]
        claimed: list[int] = []
        lock = threading.Lock()

        def work(annotator_id: int) -> None:
            while (
                item := claim_next(project, s.SPOTTING, annotator_id, lease_seconds=60)
            ) is not None:
                with project.write() as conn:
                    complete_in(conn, item.id, annotator_id)
                with lock:
                    claimed.append(item.id)

        threads = [threading.Thread(target=work, args=(w.id,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 40


def test_image_folder_on_postgresql(pg_url: str, tmp_path):
    """File stamps are 64-bit (nanoseconds since 1970 overflow a 32-bit integer)."""
    from conftest import make_image

    from pipeline.images import add_image_folder, check_image_files

    make_image(tmp_path / "images" / "a.png")
    with Project.create(pg_url) as project:
        assert add_image_folder(project, tmp_path / "images").added == ["a.png"]
        assert check_image_files(project).missing == []


def test_coco_import_export_on_postgresql(pg_url: str, tiny_coco):
    """COCO crowd annotation ids exceed 32 bits; the import keeps them."""
    from pipeline.formats import export_coco, import_coco

    truth_path = tiny_coco / "annotations" / "instances_val2017.json"
    with Project.create(pg_url) as project:
        import_coco(project, truth_path, images_root=tiny_coco / "val2017")
        exported = export_coco(project)
    import json

    truth = json.loads(truth_path.read_text())
    assert len(exported["annotations"]) == len(truth["annotations"])
    assert {a["id"] for a in exported["annotations"]} == {a["id"] for a in truth["annotations"]}


def test_a_version_4_project_on_postgresql_gains_the_event_tool_column(pg_url: str):
    with Project.create(pg_url) as project:
        who = project.annotator("ann")
        with project.write() as conn:
            conn.execute(text("DROP INDEX ix_events_effort"))
            conn.execute(text("ALTER TABLE events DROP COLUMN tool"))
            conn.execute(
                text(
                    "CREATE INDEX ix_events_effort "
                    "ON events (stage, annotator_id, action, duration_s, clicks)"
                )
            )
            for k, (action, stage, payload) in enumerate(
                [
                    ("answer", 3, '{"answer": {"tool": "brush"}}'),
                    ("correct", 3, '{"correction": {"tool": "polygon"}}'),
                    ("answer", 2, '{"answer": {"category_fits": true}}'),
                ]
            ):
                conn.execute(
                    text(
                        "INSERT INTO events (at, annotator_id, stage, action, payload) "
                        "VALUES (:at, :who, :stage, :action, CAST(:payload AS JSON))"
                    ),
                    {"at": float(k), "who": who.id, "stage": stage, "action": action,
                     "payload": payload},
                )  # fmt: skip
            conn.execute(text("UPDATE meta SET value = '4' WHERE key = 'schema_version'"))
    with Project.open(pg_url) as project:
        assert project.schema_version() == len(MIGRATIONS) == 7
        with project.read() as conn:
            tools = conn.execute(text("SELECT action, tool FROM events ORDER BY id")).all()
            indexed = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_effort'")
            ).scalar_one()
    assert [tuple(r) for r in tools] == [
        ("answer", "brush"),
        ("correct", "polygon"),
        ("answer", None),
    ]
    assert "tool" in indexed

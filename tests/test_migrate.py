"""`longtail migrate` (pipeline/store/transfer.py): SQLite <-> PostgreSQL, all or nothing, verified."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from team_support import fresh_database, needs_postgres

from app.cli import main
from pipeline.errors import NotAllowedError
from pipeline.formats import export_coco, export_lvis, import_coco
from pipeline.images import check_image_files
from pipeline.stages import EXHAUSTIVE, SPOTTING, ExhaustiveAnswer, Pipeline, SpotAnswer
from pipeline.store import schema as s
from pipeline.store import transfer as migration
from pipeline.store.credentials import server_engine
from pipeline.store.database import Project
from pipeline.store.transfer import MigrationError, migrate, table_checks
from pipeline.team import roles


@pytest.fixture(autouse=True)
def nobody_acting(monkeypatch):
    monkeypatch.delenv(roles.ACTOR_VARIABLE, raising=False)
    roles.set_actor(None)
    yield
    roles.set_actor(None)


def worked_project(folder: Path, tiny_coco: Path) -> Path:
    """tiny_coco's val split imported, then some pipeline work: spotting answers,
    exhaustiveness answers both ways, an answer taken back (events, work items, visits,
    checks and labels all hold rows)."""
    with Project.create(folder) as project:
        import_coco(
            project,
            tiny_coco / "annotations" / "instances_val2017.json",
            images_root=tiny_coco / "val2017",
            federated=True,  # exhaustiveness stays to be asked (stage 5 has work)
        )
        service = Pipeline(project)
        service.seed()
        for who in ("ann", "bob", "ann", "bob"):
            service.answer(service.next_item(SPOTTING, who), SpotAnswer(nothing_new=True))
        for k in range(6):
            item = service.next_item(EXHAUSTIVE, "ver")
            service.answer(item, ExhaustiveAnswer(all_segmented=k % 3 != 0))
        service.undo_last("ver")
    return folder


def exports(target: str | Path, out: Path) -> tuple[bytes, bytes]:
    out.mkdir(parents=True, exist_ok=True)
    with Project.open(target) as project:
        export_coco(project, out / "coco.json")
        export_lvis(project, out / "lvis.json")
    return (out / "coco.json").read_bytes(), (out / "lvis.json").read_bytes()


@needs_postgres
def test_round_trip_through_postgresql_gives_byte_identical_exports(tmp_path, tiny_coco):
    source = worked_project(tmp_path / "source", tiny_coco)
    before = exports(source, tmp_path / "before")
    seen: list[tuple[int, int]] = []
    with fresh_database() as url:
        there = migrate(source, url, progress=lambda done, total: seen.append((done, total)))
        assert there.tables["segments"].rows == 382 and there.tables["events"].rows > 10
        assert seen[-1][0] == seen[-1][1] == 2 * there.rows
        assert exports(url, tmp_path / "postgres") == before
        back = migrate(url, tmp_path / "back")
        with Project.open(url) as server:
            # the foreign keys and indexes dropped for the copy are all back
            shape = inspect(server.engine)
            for table in s.metadata.sorted_tables:
                keys = {tuple(k["constrained_columns"]) for k in shape.get_foreign_keys(table.name)}
                assert keys == {(k.parent.name,) for k in table.foreign_keys}, table.name
                indexes = {i["name"] for i in shape.get_indexes(table.name)}
                assert indexes >= {i.name for i in table.indexes}, table.name
            # the id sequences were moved past the copied ids
            assert server.annotator("newcomer").id > max(
                m.id for m in roles.team(server) if m.name != "newcomer"
            )
    assert exports(tmp_path / "back", tmp_path / "after") == before
    # every row came back as it was (both folders sit side by side, so even the
    # relative image paths are spelled the same)
    assert back.tables == table_checks(Project.open(source))
    with Project.open(tmp_path / "back") as project:
        assert check_image_files(project).missing == []


def test_a_copy_between_folders_keeps_content_and_finds_the_images(tmp_path, tiny_coco):
    source = worked_project(tmp_path / "source", tiny_coco)
    report = migrate(source, tmp_path / "elsewhere" / "copy")
    original = table_checks(Project.open(source))
    assert report.tables["images"] != original["images"]  # paths relative to the new folder
    assert {k: v for k, v in report.tables.items() if k != "images"} == {
        k: v for k, v in original.items() if k != "images"
    }
    with Project.open(tmp_path / "elsewhere" / "copy") as copy:
        assert check_image_files(copy).missing == []
        with copy.read() as conn:
            path = conn.execute(select(s.images.c.path).limit(1)).scalar()
        assert not Path(path).is_absolute()  # relative to the new folder, as the store keeps them
    assert exports(source, tmp_path / "a") == exports(
        tmp_path / "elsewhere" / "copy", tmp_path / "b"
    )


def tamper_with_category_names(monkeypatch) -> None:
    """Make the migration's destination store category names in capitals: a copy that
    differs from its source, which the migration's check must find."""
    honest = migration._writer

    def tampering(conn, table):
        write = honest(conn, table)
        if table.name != "categories":
            return write
        return lambda rows: write([(r[0], r[1].upper(), *r[2:]) for r in rows])

    monkeypatch.setattr(migration, "_writer", tampering)


def test_a_copy_that_does_not_match_is_rolled_back_and_its_folder_removed(
    tmp_path, tiny_coco, monkeypatch
):
    source = worked_project(tmp_path / "source", tiny_coco)
    tamper_with_category_names(monkeypatch)
    with pytest.raises(MigrationError, match=r"nothing was kept: categories \(content differs\)"):
        migrate(source, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_cancelling_half_way_leaves_no_destination(tmp_path, tiny_coco):
    source = worked_project(tmp_path / "source", tiny_coco)

    def cancel(done: int, total: int) -> None:
        if done > total // 4:
            raise KeyboardInterrupt

    (tmp_path / "existing-folder").mkdir()
    with pytest.raises(KeyboardInterrupt):
        migrate(source, tmp_path / "existing-folder", progress=cancel)
    assert list((tmp_path / "existing-folder").iterdir()) == []  # the folder was the user's


@needs_postgres
def test_a_failed_copy_into_postgresql_leaves_the_database_empty(tmp_path, tiny_coco):
    source = worked_project(tmp_path / "source", tiny_coco)

    def cancel(done: int, total: int) -> None:
        if done > total // 4:
            raise KeyboardInterrupt

    with fresh_database() as url:
        with pytest.raises(KeyboardInterrupt):
            migrate(source, url, progress=cancel)
        engine = server_engine(url)
        assert inspect(engine).get_table_names() == []
        engine.dispose()


def test_an_existing_project_is_never_overwritten(tmp_path, empty_project):
    other = Project.create(tmp_path / "other")
    other.close()
    before = table_checks(Project.open(tmp_path / "other"))
    with pytest.raises(MigrationError, match="already holds a longtail project"):
        migrate(empty_project.folder, tmp_path / "other")
    assert table_checks(Project.open(tmp_path / "other")) == before
    with pytest.raises(MigrationError, match="the same project"):
        migrate(empty_project.folder, empty_project.folder)


@needs_postgres
def test_a_database_with_tables_is_refused(tmp_path, empty_project):
    from sqlalchemy import text

    with fresh_database() as url:
        with Project.create(url) as server, server.write() as conn:
            conn.execute(text("DROP TABLE meta"))  # not a project, but not empty either
        with pytest.raises(MigrationError, match="is not empty .* migrate into a new, empty"):
            migrate(empty_project.folder, url)


def test_migrating_is_for_admins_once_roles_apply(tmp_path, empty_project):
    roles.set_role(empty_project, empty_project.annotator("boss").name, roles.ADMIN)
    empty_project.annotator("ann")
    with pytest.raises(NotAllowedError, match="copying the whole project"):
        migrate(empty_project.folder, tmp_path / "copy", by="ann")
    assert not (tmp_path / "copy").exists()
    migrate(empty_project.folder, tmp_path / "copy", by="boss")


def test_the_cli_copies_and_prints_one_line(capsys, tmp_path, empty_project):
    code = main(["migrate", str(empty_project.folder), str(tmp_path / "copy")])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("copied ") and "checksums verified" in out
    code = main(["migrate", str(empty_project.folder), str(tmp_path / "copy")])
    out, err = capsys.readouterr()
    assert code == 1 and err.strip().endswith("already holds a longtail project")

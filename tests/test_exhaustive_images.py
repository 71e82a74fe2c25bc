"""A COCO import's verified negatives stored once per image (schema version 7, decision
0080): one category set per import and one ``exhaustive_images`` row per image, read
through the ``pair_labels`` view. Every reader must see what the explicit negative rows
of the earlier schema gave: the reference project below is the same file imported with
``--federated`` plus those rows, as the import wrote them before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from team_support import POSTGRES, needs_postgres
from test_formats_util import small_coco, write_json

from model.training.snapshot import take_snapshot
from pipeline.errors import LongtailError
from pipeline.federated import (
    PairState,
    check_invariants,
    federated_labels,
    label_counts,
    negative_counts,
    pair_state_counts,
    pair_states,
)
from pipeline.formats import export_project, import_coco
from pipeline.stages import NEGATIVES, SPOTTING, Pipeline, Spot, SpotAnswer
from pipeline.stages.common import set_pair
from pipeline.stages.journal import Journal, revert
from pipeline.store import schema as s
from pipeline.store.database import DB_NAME, Project
from pipeline.store.migrations import MIGRATIONS
from pipeline.store.settings import ProjectSettings
from pipeline.vocabulary import add_categories, shipped_vocabulary

SETTINGS = ProjectSettings(negatives_per_category=2, negative_candidates_per_image=3)


def _coco_file(tmp_path: Path) -> Path:
    """small_coco (person, dog and car; car annotated nowhere, image 13 empty) with a
    crowd-only category added on image 11: a crowd region is no negative."""
    doc = small_coco(tmp_path)
    doc["categories"].append({"id": 5, "name": "airplane", "supercategory": "vehicle"})
    crowd = next(a for a in doc["annotations"] if a["iscrowd"])
    doc["annotations"].append({**crowd, "id": 999, "category_id": 5})
    return write_json(tmp_path / "set.json", doc)


def _project(folder: Path) -> Project:
    project = Project.create(folder, settings=SETTINGS)
    add_categories(project, shipped_vocabulary("coco"))
    return project


def _explicit_reference(folder: Path, path: Path, images_root: Path) -> Project:
    """The same file imported --federated, then the absent pairs written as rows, as the
    schema-6 import did (INSERT ... SELECT of every absent, instance-less pair)."""
    project = _project(folder)
    report = import_coco(project, path, images_root=images_root, federated=True)
    assert report.ok
    with project.write() as conn:
        file_categories = [
            conn.execute(select(s.categories.c.id).where(s.categories.c.name == name)).scalar_one()
            for name in ("person", "dog", "car", "airplane")
        ]
        conn.execute(
            s.image_categories.update()
            .where(s.image_categories.c.state == s.CONFIRMED)
            .values(exhaustive=True)
        )
        for image_id in conn.execute(select(s.images.c.id)).scalars().all():
            for category_id in file_categories:
                taken = conn.execute(
                    select(func.count()).where(
                        (
                            select(s.image_categories.c.image_id)
                            .where(
                                s.image_categories.c.image_id == image_id,
                                s.image_categories.c.category_id == category_id,
                            )
                            .exists()
                        )
                        | (
                            select(s.instances.c.id)
                            .where(
                                s.instances.c.image_id == image_id,
                                s.instances.c.category_id == category_id,
                            )
                            .exists()
                        )
                    )
                ).scalar_one()
                if not taken:
                    conn.execute(
                        s.image_categories.insert().values(
                            image_id=image_id,
                            category_id=category_id,
                            state=s.NEGATIVE,
                            source=s.SOURCE_IMPORTED,
                            updated_at=0.0,
                        )
                    )
    return project


@pytest.fixture
def projects(tmp_path: Path):
    """(the project the import made, the reference with explicit negative rows)."""
    path = _coco_file(tmp_path)
    new = _project(tmp_path / "new")
    report = import_coco(new, path, images_root=tmp_path)
    assert report.ok and report.negative_pairs == 8
    reference = _explicit_reference(tmp_path / "reference", path, tmp_path)
    try:
        yield new, reference
    finally:
        new.close()
        reference.close()


def _count(project: Project, table, *where) -> int:
    with project.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _ids(project: Project, *names: str) -> list[int]:
    """The project's category ids of these names (the vocabulary's, not the file's)."""
    with project.read() as conn:
        found = dict(conn.execute(select(s.categories.c.name, s.categories.c.id)).all())
    return [found[name] for name in names]


def _labels(project: Project) -> dict:
    with project.read() as conn:
        return {k: v.as_dict() for k, v in federated_labels(conn).items()}


def test_an_exhaustive_import_stores_one_row_per_image_not_one_per_absent_pair(projects):
    new, reference = projects
    negative = s.image_categories.c.state == s.NEGATIVE
    assert _count(reference, s.image_categories, negative) == 8
    assert _count(new, s.image_categories, negative) == 0
    assert _count(new, s.exhaustive_images) == 3  # one per image
    assert _count(new, s.category_sets) == 1
    assert _count(new, s.category_set_members) == 4  # person, dog, car, airplane
    # the view reads the same negatives as the reference's rows
    assert _count(new, s.pair_labels, s.pair_labels.c.state == s.NEGATIVE) == 8


def test_every_reader_sees_the_pairs_the_explicit_rows_gave(projects, tmp_path: Path):
    new, reference = projects
    labels = _labels(new)
    assert labels == _labels(reference)
    person, car, airplane, dog = _ids(new, "person", "car", "airplane", "dog")
    # image 11 has a crowd airplane: a crowd region is not a negative; image 13 is empty
    assert labels[1]["neg_category_ids"] == [car]
    assert labels[3]["neg_category_ids"] == sorted([person, car, airplane, dog])
    with new.read() as a, reference.read() as b:
        assert label_counts(a) == label_counts(b)
        assert check_invariants(a) == [] and check_invariants(b) == []
    docs = [export_project(p, "lvis", tmp_path / f"{i}.json")[0] for i, p in enumerate(projects)]
    assert docs[0]["images"] == docs[1]["images"]  # neg_category_ids, not_exhaustive...
    assert any(image["neg_category_ids"] for image in docs[0]["images"])
    snapshots = [take_snapshot(p) for p in projects]
    assert [(i.id, i.negative, i.unverified) for i in snapshots[0].images] == [
        (i.id, i.negative, i.unverified) for i in snapshots[1].images
    ]
    # stage 6 asks about the same pairs: never about a category the import settled
    queues = []
    for project in projects:
        Pipeline(project).seed(spot_imported=False)  # declared spotted: stage 6 opens
        with project.read() as conn:
            wi = s.work_items
            queues.append(
                conn.execute(
                    select(wi.c.image_id, wi.c.category_id)
                    .where(wi.c.stage == NEGATIVES)
                    .order_by(wi.c.id)
                ).all()
            )
    assert queues[0] == queues[1] and queues[0]
    assert not {c for _, c in queues[0]} & {person, dog, car, airplane}


def _listed(conn) -> tuple[dict[int, int], dict[str, int]]:
    """The view's pairs, listed and counted: negatives by category, pairs by state."""
    pl = s.pair_labels
    negatives = conn.execute(
        select(pl.c.category_id, func.count())
        .where(pl.c.state == s.NEGATIVE)
        .group_by(pl.c.category_id)
    ).all()
    states = conn.execute(select(pl.c.state, func.count()).group_by(pl.c.state)).all()
    return dict(negatives), dict(states)


def test_the_labels_of_some_images_are_theirs_alone(projects):
    # federated_labels / pair_states of a few images (stage views, a split) read the
    # implicit negatives of those images only, as the whole project's labels give them
    new, _ = projects
    every = _labels(new)
    with new.read() as conn:
        for chosen in ([1], [2, 3], [3]):
            some = {k: v.as_dict() for k, v in federated_labels(conn, chosen).items()}
            assert some == {i: every[i] for i in chosen}
            states = pair_states(conn, chosen)
            assert {image for image, _ in states} == set(chosen)
            negatives = {key for key, state in states.items() if state is PairState.NEGATIVE}
            assert negatives == {(i, c) for i in chosen for c in every[i]["neg_category_ids"]}


def test_negative_counts_are_the_views_without_listing_its_pairs(projects):
    new, reference = projects
    person, car, airplane = _ids(new, "person", "car", "airplane")
    with new.read() as a, reference.read() as b:
        assert (negative_counts(a), pair_state_counts(a)) == _listed(a) == _listed(b)
        assert negative_counts(b) == negative_counts(a)
        # the crowd airplane of image 11 is no negative there; image 13 is empty
        assert negative_counts(a)[airplane] == 2 and negative_counts(a)[car] == 3
    with new.write() as conn:
        set_pair(Journal(conn), 2, car, state=s.SPOTTED)  # a row over an implicit negative
        set_pair(Journal(conn), 3, person, state=s.NEGATIVE)  # and one that repeats it
        assert (negative_counts(conn), pair_state_counts(conn)) == _listed(conn)
        assert negative_counts(conn)[car] == 2


def test_spotting_an_implicit_negative_is_refused_as_an_explicit_one_is(projects):
    messages = []
    for project in projects:
        service = Pipeline(project)
        service.seed(spot_imported=True)
        item = service.next_item(SPOTTING, "ann")
        assert item is not None
        (car,) = _ids(project, "car")
        assert car in item.excluded_category_ids
        with pytest.raises(LongtailError) as caught:
            service.answer(item, SpotAnswer((Spot(car, 1.0, 1.0),)))
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "already known" in messages[0]


def test_an_explicit_row_wins_over_the_implicit_negative_and_its_undo_brings_it_back(projects):
    new, _ = projects
    (car,), image = _ids(new, "car"), 2
    with new.write() as conn:
        journal = Journal(conn)
        set_pair(journal, image, car, state=s.SPOTTED)  # inserts: there was no row
        ops = journal.ops
        assert [op[0] for op in ops] == ["insert"]
        rows = conn.execute(
            select(s.pair_labels.c.state).where(
                s.pair_labels.c.image_id == image, s.pair_labels.c.category_id == car
            )
        ).all()
        assert [r.state for r in rows] == [s.SPOTTED]  # the row alone, no negative beside it
        assert car not in federated_labels(conn, [image])[image].negative_category_ids
        revert(conn, ops)
        assert car in federated_labels(conn, [image])[image].negative_category_ids


def test_a_second_import_onto_an_exhaustive_image_keeps_its_negatives_and_refuses_a_clash(
    tmp_path: Path,
):
    path = _coco_file(tmp_path)
    with _project(tmp_path / "p") as project:
        assert import_coco(project, path, images_root=tmp_path).ok
        before = _labels(project)
        # the same file again: nothing new, the negatives the same, no explicit rows
        again = import_coco(project, path, images_root=tmp_path, lenient=True)
        assert again.negative_pairs == 0
        assert _labels(project) == before
        assert _count(project, s.image_categories, s.image_categories.c.state == s.NEGATIVE) == 0
        # a file saying car is on image 12: the project holds it as a verified negative
        doc = small_coco(tmp_path)
        dog = next(a for a in doc["annotations"] if a["image_id"] == 12)
        doc["annotations"] = [{**dog, "id": 500, "category_id": 3}]
        clash = import_coco(project, write_json(tmp_path / "car.json", doc), images_root=tmp_path,
                            lenient=True)  # fmt: skip
        assert any("as negative" in p.message for p in clash.problems)
        assert _ids(project, "car")[0] in _labels(project)[2]["neg_category_ids"]
        # a file with one more category over the same images: its absent pairs are
        # explicit rows (each image keeps its set), the others stay as they were
        doc = small_coco(tmp_path)
        doc["categories"].append({"id": 16, "name": "bird", "supercategory": "animal"})
        doc["annotations"] = []
        more = import_coco(project, write_json(tmp_path / "bird.json", doc), images_root=tmp_path)
        assert more.ok and more.negative_pairs == 3
        (bird,) = _ids(project, "bird")
        stored = s.image_categories.c.state == s.NEGATIVE
        assert _count(project, s.image_categories, stored) == 3
        after = _labels(project)
        for image_id, labels in before.items():
            assert after[image_id]["neg_category_ids"] == sorted(
                [*labels["neg_category_ids"], bird]
            )


def test_a_version_6_project_gains_version_7_and_keeps_its_explicit_negatives(tmp_path: Path):
    path = _coco_file(tmp_path)
    reference = _explicit_reference(tmp_path / "p", path, tmp_path)
    expected = _labels(reference)
    reference.close()
    db = sqlite3.connect(tmp_path / "p" / DB_NAME)
    db.execute("DROP VIEW pair_labels")
    db.execute("DROP VIEW implicit_negatives")
    for table in ("exhaustive_images", "category_set_members", "category_sets"):
        db.execute(f"DROP TABLE {table}")
    db.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with Project.open(tmp_path / "p") as project:
        assert project.schema_version() == len(MIGRATIONS) == 7
        assert _labels(project) == expected  # the explicit rows, read through the view
        assert _count(project, s.exhaustive_images) == 0
        # and a new import into it stores its negatives the new way
        other = small_coco(tmp_path / "more")
        report = import_coco(project, write_json(tmp_path / "more" / "set.json", other),
                             images_root=tmp_path / "more")  # fmt: skip
        assert report.ok and report.negative_pairs == 6
        assert _count(project, s.exhaustive_images) == 3


# ---------------------------------------------------------------- PostgreSQL


@needs_postgres
def test_postgresql_stores_and_reads_them_alike_and_members_cannot_write_them(tmp_path: Path):
    import psycopg
    from team_logins import add_logins, team_server

    path = _coco_file(tmp_path)
    sqlite_labels = None
    with _project(tmp_path / "solo") as solo:
        import_coco(solo, path, images_root=tmp_path)
        sqlite_labels = _labels(solo)
        with solo.read() as conn:
            sqlite_counts = negative_counts(conn), label_counts(conn)
    with team_server({"ann": "annotator"}) as srv:
        with Project.create(srv.owner_url, settings=SETTINGS) as project:
            add_categories(project, shipped_vocabulary("coco"))
            add_logins(srv, project)
            report = import_coco(project, path, images_root=tmp_path, lenient=True)
            assert report.negative_pairs == 8
            assert (
                _count(project, s.image_categories, s.image_categories.c.state == s.NEGATIVE) == 0
            )
            assert _labels(project) == sqlite_labels
            with project.read() as conn:
                invoker = conn.execute(
                    text("SELECT reloptions FROM pg_class WHERE relname = 'pair_labels'")
                ).scalar_one()
            assert "security_invoker=true" in invoker
        with Project.open(srv.url("ann")) as member:  # a member reads them
            assert _labels(member) == sqlite_labels
            with member.read() as conn:  # and counts them (names as the vocabulary's ids)
                assert (negative_counts(conn), label_counts(conn)) == sqlite_counts
        with srv.connect("ann") as conn:
            for sql in (
                "INSERT INTO category_sets (source, created_at) VALUES ('imported', 0)",
                "INSERT INTO exhaustive_images SELECT id, 1, 0 FROM images",
                "DELETE FROM exhaustive_images",
                "INSERT INTO category_set_members VALUES (1, 7)",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql)
                conn.rollback()


@needs_postgres
def test_a_version_6_postgresql_project_gains_version_7_from_its_owner_only():
    from team_logins import add_logins, team_server

    assert POSTGRES
    with team_server({"ann": "annotator"}) as srv:
        with Project.create(srv.owner_url) as project:
            add_logins(srv, project)
        with srv.connect() as owner:  # back to version 6
            owner.execute("DROP VIEW pair_labels")
            owner.execute("DROP VIEW implicit_negatives")
            for table in ("exhaustive_images", "category_set_members", "category_sets"):
                owner.execute(f"DROP TABLE {table}")
            owner.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
            owner.commit()
        with pytest.raises(LongtailError, match="needs version 7.*owner"):
            Project.open(srv.url("ann"))
        with Project.open(srv.owner_url) as project:
            assert project.schema_version() == 7
        with Project.open(srv.url("ann")) as member:
            assert _labels(member) == {}
            assert member.schema_version() == 7

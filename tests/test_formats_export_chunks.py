"""The export's chunked path (pipeline/formats/exporting.py ``Chunks``) writes what the
one-row-at-a-time readers give: the stored polygons of a whole chunk decoded at once
equal ``flat_parts_without_holes`` mask by mask, the boxes rounded with numpy equal
Python's ``round(v, 6)``, and a streamed export of every kind of row (holes, RLE, empty
masks, crowd, clashing ids, box-only) has the bytes of a kept one, in every mask form."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import func, select
from stages_support import store_accepted_segment
from team_support import fresh_database, needs_postgres
from test_formats_coco import _holed_project, holed_square

from pipeline.annotations import insert_instance
from pipeline.formats import export_project, exporting
from pipeline.formats.exporting import _flat_polygons, _image_paths, _last_two_parts, _round6
from pipeline.formats.jsonio import dump_json
from pipeline.masks.geometry import Mask
from pipeline.masks.polygon_bytes import flat_parts_without_holes, pack
from pipeline.store import schema as s
from pipeline.store.database import Project


def _stored_polygons(seed: int, count: int, holes: float = 0.2) -> list[bytes]:
    """Stored polygon masks of 0-3 parts, a share of them with holes, the last one of none."""
    rng = np.random.default_rng(seed)
    blobs = []
    for _ in range(count):
        parts = []
        for _ in range(int(rng.integers(0, 4))):
            rings = [rng.uniform(0, 640, (int(rng.integers(3, 12)), 2)).round(2)]
            if rng.random() < holes:
                rings.append(rng.uniform(0, 640, (int(rng.integers(3, 6)), 2)))
            parts.append(rings)
        blobs.append(pack(parts) if parts else NO_PARTS)
    return [*blobs, NO_PARTS]  # a mask of no parts last: nothing read past the end


NO_PARTS = np.asarray([2, 0], dtype="<u4").tobytes()


@pytest.mark.parametrize("seed, holes", [(0, 0.2), (1, 0.02), (2, 0.0)])
def test_a_chunk_of_stored_polygons_decodes_as_each_mask_alone(seed: int, holes: float) -> None:
    blobs = _stored_polygons(seed, 300, holes)
    chunk = _flat_polygons(blobs)
    assert len(chunk) == len(blobs)
    holed = 0
    for blob, parts in zip(blobs, chunk, strict=True):
        alone = flat_parts_without_holes(blob)
        if alone is None:
            holed += 1
            assert parts is None
        else:
            assert parts is not None
            assert [part.tolist() for part in parts] == alone
            assert dump_json(parts) == dump_json(alone)  # orjson writes arrays as lists
    assert (0 < holed < len(blobs)) if holes else holed == 0
    assert _flat_polygons([]) == []


def test_numpy_rounding_of_boxes_equals_pythons_round() -> None:
    rng = np.random.default_rng(5)
    halves = (np.arange(-2000, 2000) + 0.5) / 1e6  # the decimal halves round() breaks
    values = np.concatenate(
        [
            rng.uniform(0, 640, 20000),
            rng.uniform(0, 640, 20000).round(2),
            halves,
            halves + 123.0,
            np.nextafter(halves, 1.0),
            np.nextafter(halves, -1.0),
            np.exp(rng.uniform(-40, 80, 5000)),
            [
                0.0,
                -0.0,
                -1e-7,
                4.5e-6,
                2.5e-6,
                1e300,
                -1e300,
                2.0**52,
                1e15 + 0.5,
                0.5,
                1.5,
                7.0000005,
            ],
        ]
    ).reshape(-1, 4)
    rounded = _round6(values).tolist()
    expected = [[round(float(v), 6) for v in row] for row in values]
    assert dump_json(rounded) == dump_json(expected)
    assert np.isnan(_round6(np.array([[np.nan, 1.0, np.inf, -np.inf]]))[0, 0])


def _every_kind_of_row(project: Project, tmp_path: Path) -> None:
    """small_coco (two-part polygon, triangle, crowd RLE, uncompressed RLE) plus a holed
    polygon, a brush mask, an empty mask, an instance whose file id clashes with an
    imported one, and two box-only instances (one of them with a clashing id)."""
    image_id, category = _holed_project(project, tmp_path)  # a holed and a brush mask
    with project.write() as conn:
        empty = Mask.from_bitmap(np.zeros((30, 40), dtype=np.uint8))
        for mask, source_id in ((empty, None), (holed_square(), 101)):
            instance = insert_instance(
                conn, image_id, category, status=s.ACCEPTED, source_id=source_id
            )
            store_accepted_segment(conn, instance, mask, tool="brush", source=s.SOURCE_PIPELINE)
        for source_id in (None, 102):
            box = (1.5, 2.25, 3.0, 4.1234567)
            insert_instance(
                conn, image_id, category, status=s.ACCEPTED, box=box, source_id=source_id
            )


def _arrays_in(value: object) -> int:
    if isinstance(value, np.ndarray):
        return 1
    if isinstance(value, dict):
        return sum(_arrays_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(_arrays_in(v) for v in value)
    return 0


@pytest.mark.parametrize("masks", ["auto", "polygon", "rle"])
@pytest.mark.parametrize("fmt", ["coco", "lvis"])
def test_a_streamed_export_of_every_kind_of_row_has_the_bytes_of_a_kept_one(
    fmt: str, masks: str, empty_project: Project, tmp_path: Path, monkeypatch
) -> None:
    _every_kind_of_row(empty_project, tmp_path / "source")
    monkeypatch.setattr(exporting, "STREAM_CHUNK", 2)  # rows of every kind in one chunk
    kept, summary = export_project(
        empty_project, fmt, tmp_path / "kept.json", masks=masks, include_unsegmented=True
    )
    streamed, streamed_summary = export_project(
        empty_project,
        fmt,
        tmp_path / "streamed.json",
        masks=masks,
        include_unsegmented=True,
        keep_document=False,
    )
    assert (tmp_path / "kept.json").read_bytes() == (tmp_path / "streamed.json").read_bytes()
    assert streamed_summary.summary() == summary.summary().replace("kept.json", "streamed.json")
    assert _arrays_in(kept) == 0  # the document kept holds plain lists
    ids = [a["id"] for a in kept["annotations"]]
    assert len(ids) == len(set(ids)) == summary.annotations
    assert summary.unsegmented == 2 and summary.unsegmented_written
    by_form = [isinstance(a["segmentation"], dict) for a in kept["annotations"]]
    if masks == "rle":
        assert all(by_form[:-2])  # all but the box-only ones
    elif masks == "polygon":
        assert summary.kept_as_rle and summary.lossy
    boxes = [a["bbox"] for a in kept["annotations"]]
    assert [1.5, 2.25, 3.0, 4.123457] in boxes


@pytest.mark.parametrize(
    "path",
    ["/a/b.png", "a/b.png", "b.png", "/b.png", "//a/b.png", "/x/y/z/b.png", "//b.png", ".", "/"],
)
def test_the_last_two_parts_of_an_image_path_are_paths(path: str) -> None:
    normalised = os.path.normpath(path)
    assert _last_two_parts(normalised) == "/".join(Path(normalised).parts[-2:])


def test_image_paths_are_the_projects_resolved_paths(empty_project: Project) -> None:
    rows = [
        SimpleNamespace(path=p)
        for p in ("images/a.png", "./x/../b.png", "/abs/c.png", "//two/d.png", "", "e/")
    ]
    expected = [os.path.normpath(empty_project.resolve(r.path)) for r in rows]
    assert _image_paths(empty_project, rows) == expected


@needs_postgres
def test_a_streamed_export_from_postgresql_has_the_bytes_of_one_from_sqlite(
    tmp_path: Path, monkeypatch
) -> None:
    """PostgreSQL streams the rows through SQLAlchemy (a server-side cursor), SQLite
    through its driver's tuples: the same bytes, chunk boundaries anywhere."""
    from pipeline.store.transfer import migrate

    with Project.create(tmp_path / "project") as project:
        _every_kind_of_row(project, tmp_path / "source")
        _more_kinds_of_instances(project)
    monkeypatch.setattr(exporting, "STREAM_CHUNK", 3)
    with fresh_database() as url:
        migrate(tmp_path / "project", url)
        for fmt, split, box_only in (("coco", None, True), ("lvis", None, True),
                                     ("coco", "train", False), ("lvis", "val", False)):  # fmt: skip
            files, summaries = [], []
            for where, name in ((tmp_path / "project", "sqlite"), (url, "postgres")):
                with Project.open(where) as project:
                    _, summary = export_project(
                        project, fmt, tmp_path / f"{name}.json", split=split,
                        include_unsegmented=box_only, keep_document=False,
                    )  # fmt: skip
                files.append((tmp_path / f"{name}.json").read_bytes())
                summaries.append(summary.summary().replace(name, "out"))
            assert files[0] == files[1]
            assert summaries[0] == summaries[1]


def test_exported_ids_from_rows_read_already_equal_those_read_afresh(
    empty_project: Project, tmp_path: Path
) -> None:
    from pipeline.formats import exported_ids

    _every_kind_of_row(empty_project, tmp_path / "source")
    with empty_project.read() as conn:
        rows = conn.execute(select(s.images).order_by(s.images.c.id)).all()
        given = exported_ids(conn, image_rows=rows)
        afresh = exported_ids(conn)
    assert given == afresh and set(given.images.values()) == {11, 12, 13}


def _more_kinds_of_instances(project: Project) -> None:
    """Beside every kind of row: a boxed instance whose only mask is pending, one waiting
    for stage 3 again (redo) with an accepted mask, a crowd box without a mask (box-only:
    the first only), an accepted crowd region, each with a file id larger than any other
    (only the crowd region's goes out, in COCO), and another image with instances moved
    to split 'val'."""
    with project.write() as conn:
        image_id, category = conn.execute(
            select(s.instances.c.image_id, s.instances.c.category_id)
            .order_by(s.instances.c.id)
            .limit(1)
        ).one()
        box = (2.0, 3.0, 4.0, 5.0)
        pending = insert_instance(
            conn, image_id, category, status=s.ACCEPTED, box=box, source_id=400
        )
        segment = store_accepted_segment(conn, pending, holed_square())
        conn.execute(s.segments.update().where(s.segments.c.id == segment).values(status=s.PENDING))
        redo = insert_instance(conn, image_id, category, status=s.REDO, box=box, source_id=300)
        store_accepted_segment(conn, redo, holed_square())
        insert_instance(conn, image_id, category, status=s.ACCEPTED, box=box, is_crowd=True)
        crowd = insert_instance(
            conn, image_id, category, status=s.ACCEPTED, is_crowd=True, source_id=200
        )
        store_accepted_segment(conn, crowd, holed_square())
        other = conn.execute(
            select(func.max(s.instances.c.image_id)).where(s.instances.c.image_id != image_id)
        ).scalar()
        conn.execute(s.images.update().where(s.images.c.id == other).values(split="val"))


def _expected(project: Project, fmt: str, split: str | None) -> tuple[list[int], int]:
    """The annotation ids an export writes (in order) and its box-only count, worked out
    in Python from every instance, segment and image row."""
    with project.read() as conn:
        segmented = set(
            conn.execute(
                select(s.segments.c.instance_id).where(s.segments.c.status == s.SEGMENT_ACCEPTED)
            ).scalars()
        )
        splits = dict(conn.execute(select(s.images.c.id, s.images.c.split)).all())
        rows = conn.execute(select(s.instances).order_by(s.instances.c.id)).all()
    rows = [r for r in rows if split in (None, splits[r.image_id])]
    box_only = [
        r for r in rows
        if r.box_w is not None and r.box_h is not None and not r.is_crowd
        and r.id not in segmented
    ]  # fmt: skip
    out = [
        r.source_id for r in rows
        if r.status == s.ACCEPTED and r.id in segmented and not (fmt == "lvis" and r.is_crowd)
    ]  # fmt: skip
    fresh = max((i for i in out if i is not None and i > 0), default=0)
    ids: list[int] = []
    for source_id in out:
        if source_id is None or source_id <= 0 or source_id in ids:
            fresh += 1
            source_id = fresh
        ids.append(source_id)
    return ids, len(box_only)


@pytest.mark.parametrize("split", [None, "train", "val"])
@pytest.mark.parametrize("fmt", ["coco", "lvis"])
def test_the_counts_of_one_pass_over_the_instances_are_what_the_export_writes(
    fmt: str, split: str | None, empty_project: Project, tmp_path: Path
) -> None:
    """The progress total, the first fresh annotation id and the box-only count come from
    one query over the instances; they must agree with the rows the export writes."""
    _every_kind_of_row(empty_project, tmp_path / "source")
    _more_kinds_of_instances(empty_project)
    ids, box_only = _expected(empty_project, fmt, split)
    seen: list[tuple[int, int]] = []
    without, summary = export_project(
        empty_project, fmt, split=split, progress=lambda d, t: seen.append((d, t))
    )
    assert [a["id"] for a in without["annotations"]] == ids
    assert seen[-1] == (len(ids), len(ids)) == (summary.annotations,) * 2
    assert summary.unsegmented == box_only and not summary.unsegmented_written
    with_box_only, box_summary = export_project(
        empty_project, fmt, split=split, include_unsegmented=True
    )
    assert box_summary.unsegmented == box_only and box_summary.unsegmented_written
    assert len(with_box_only["annotations"]) == len(ids) + box_only

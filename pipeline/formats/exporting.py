"""Exporting a project as COCO or LVIS v1 JSON: what goes out, under which ids.

What goes out: the images (of one split, or all), every category of the project, and
every accepted instance with its latest accepted segment (COCO also writes crowd
regions, as ``iscrowd: 1``; LVIS never does). Image and category ids are
:func:`.ids.exported_ids`' (the file's own ids, 0 included, where free). An annotation
keeps its file's id when that id is free and not 0 (COCOeval takes a matched gt id 0
for unmatched); the others are numbered after the largest kept id, in project order.
The same project always gives the same bytes.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
from sqlalchemy import Text, and_, case, exists, false, func, not_, select, type_coerce
from sqlalchemy.engine import Connection

from .. import __version__
from ..errors import GeometryError, LongtailError
from ..masks.geometry import POLYGON, RLE, Mask
from ..masks.polygon_bytes import COORD, WORD, flat_parts_without_holes
from ..outputs import atomic_output, output_target, write_output
from ..stats.frequency import frequency_groups
from ..store import schema as s
from ..store.database import Project, read_meta_json
from ..team.roles import EXPORT, require
from .ids import ExportedIds, exported_ids
from .jsonio import dump_json, no_cycle_collection
from .writer import META_LICENSES, META_SUPERCATEGORIES

Progress = Callable[[int, int], None]

COCO = "coco"
LVIS = "lvis"
MASK_FORMS = ("auto", POLYGON, RLE)


@dataclass
class ExportSummary:
    """What an export wrote, and what the chosen mask form lost."""

    format: str
    path: Path | None = None
    split: str | None = None
    images: int = 0
    annotations: int = 0
    crowd: int = 0
    categories: int = 0
    # (annotation id, pixels): masks the polygon form changed (holes filled, RLE traced);
    # their `area` is that of the polygons as written
    lossy: list[tuple[int, int]] = field(default_factory=list)
    kept_as_rle: list[int] = field(default_factory=list)  # empty masks a polygon cannot hold
    # Instances with a box and no accepted mask: written (--include-unsegmented) or left out.
    unsegmented: int = 0
    unsegmented_written: bool = False
    # Folder formats: annotations the format cannot hold (YOLO: crowd regions; VOC:
    # crowd regions are void pixels, and objects past 254 on an image).
    left_out: int = 0
    # Set when the images came from several import roots: file names are relative to it.
    images_root: Path | None = None

    def summary(self) -> str:
        what = f"{self.images} images, {self.annotations} annotations"
        if self.crowd:
            what += f" ({self.crowd} crowd)"
        line = f"{self.format.upper()}: {what}, {self.categories} categories"
        if self.split:
            line += f", split {self.split}"
        if self.path is not None:
            line = f"wrote {self.path}: {line}"
        if self.lossy:
            pixels = sum(p for _, p in self.lossy)
            line += (
                f"; the polygon form changed {pixels} pixels (holes filled, RLE traced) in "
                f"{len(self.lossy)} masks (first: annotation {self.lossy[0][0]}); their area "
                "is the written polygons'"
            )
        if self.kept_as_rle:
            line += f"; {len(self.kept_as_rle)} empty masks stay RLE"
        if self.images_root is not None:
            line += f"; file names are relative to {self.images_root} (images of several roots)"
        if self.left_out:
            line += f"; {self.left_out} annotations the {self.format.upper()} format cannot hold left out"
        if self.unsegmented and self.unsegmented_written:
            line += (
                f"; {self.unsegmented} box-only instances written with an empty segmentation "
                "(--include-unsegmented)"
            )
        elif self.unsegmented:
            line += (
                f"; {self.unsegmented} instances with a box and no accepted mask left out "
                "(--include-unsegmented writes them box-only)"
            )
        return line


def export_project(
    project: Project,
    fmt: str,
    out_path: str | os.PathLike[str] | None = None,
    *,
    split: str | None = None,
    masks: str = "auto",
    progress: Progress | None = None,
    include_unsegmented: bool = False,
    keep_document: bool = True,
) -> tuple[dict[str, Any], ExportSummary]:
    """The export document and its summary; written atomically to ``out_path`` if given.

    ``include_unsegmented`` also writes the instances that have a box and no accepted
    mask yet (box-only imports, marks with a box) with an empty ``segmentation``.
    ``keep_document=False`` (with ``out_path``) streams the annotations into the file
    20,000 at a time instead of holding them (the CLI's way: an LVIS-sized export then
    needs a fraction of the memory); the document returned then has no annotations.
    The bytes are the same either way."""
    require(project, EXPORT)  # an admin's action
    if fmt not in (COCO, LVIS):
        raise LongtailError(f"unknown export format {fmt!r}; use coco or lvis")
    if masks not in MASK_FORMS:
        raise LongtailError(f"unknown mask form {masks!r}; use {', '.join(MASK_FORMS)}")
    summary = ExportSummary(format=fmt, split=split)
    with no_cycle_collection(), project.read() as conn:
        if (
            split is not None
            and not conn.execute(select(exists().where(s.images.c.split == split))).scalar()
        ):
            known = sorted(conn.execute(select(s.images.c.split).distinct()).scalars())
            raise LongtailError(
                f"the project has no images in split {split!r} (splits: {', '.join(known) or 'none'})"
            )
        build = Build(conn, project, fmt, split, masks, summary, progress, include_unsegmented)
        if out_path is not None and not keep_document:
            # Never over the project's database or internals, a folder or a device
            # (decision 0023); streamed into a temporary file renamed at the end.
            summary.path = output_target(out_path, project=project, stdout_ok=True)
            with atomic_output(out_path, project=project, stdout_ok=True) as sink:
                return build.run(sink), summary
        doc = build.run(None)
    if out_path is not None:
        summary.path = write_output(out_path, dump_json(doc), project=project, stdout_ok=True)
    return doc, summary


# ---------------------------------------------------------------- the document


# Annotations written to a streamed export at a time.
STREAM_CHUNK = 20_000


class Build:
    """One export document: images first, then the annotations (kept, or streamed into
    a file ``STREAM_CHUNK`` at a time), then the categories, which count them."""

    def __init__(
        self,
        conn: Connection,
        project: Project,
        fmt: str,
        split: str | None,
        masks: str,
        summary: ExportSummary,
        progress: Progress | None,
        include_unsegmented: bool,
    ) -> None:
        self.conn, self.project, self.fmt, self.split = conn, project, fmt, split
        self.masks, self.summary, self.progress = masks, summary, progress
        self.include_unsegmented = include_unsegmented

    def run(self, sink: IO[bytes] | None) -> dict[str, Any]:
        conn, fmt, split, summary = self.conn, self.fmt, self.split, self.summary
        image_rows = _image_rows(conn, split)
        # The same ids as every results file (predict --out), over the whole project.
        ids = exported_ids(conn, image_rows=image_rows if split is None else None)
        category_rows = conn.execute(select(s.categories).order_by(s.categories.c.id)).all()
        paths = _image_paths(self.project, image_rows)
        images = [
            _image(r, ids.images[r.id], fmt, path)
            for r, path in zip(image_rows, paths, strict=True)
        ]
        _one_root(images, image_rows, paths, summary)
        if fmt == LVIS:
            _federated_lists(conn, images, image_rows, ids.categories, split)
        info = {
            "description": f"exported by longtail {__version__} as "
            f"{'LVIS v1' if fmt == LVIS else 'COCO'}",
            "version": __version__,
        }
        licenses = read_meta_json(conn, META_LICENSES, [])
        if sink is not None:
            sink.write(
                b'{"info":' + dump_json(info) + b',"licenses":' + dump_json(licenses)
                + b',"images":' + dump_json(images) + b',"annotations":['
            )  # fmt: skip
        annotations, image_count, instance_count = self._annotations(image_rows, ids, sink)
        summary.images = len(images)
        if fmt == LVIS:
            categories = _lvis_categories(
                conn, category_rows, ids.categories, image_count, instance_count
            )
        else:
            supercategories = read_meta_json(conn, META_SUPERCATEGORIES, {})
            categories = _coco_categories(category_rows, ids.categories, supercategories)
        summary.categories = len(categories)
        if sink is not None:
            sink.write(b'],"categories":' + dump_json(categories) + b"}")
        return {
            "info": info,
            "licenses": licenses,
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }

    def _annotations(
        self, image_rows: Sequence[Any], ids: ExportedIds, sink: IO[bytes] | None
    ) -> tuple[list[dict[str, Any]], Counter[int], Counter[int]]:
        """The annotations (kept, or streamed into ``sink``), and per exported category
        the images and the instances that have it (crowd regions left out)."""
        conn, fmt, summary, progress = self.conn, self.fmt, self.summary, self.progress
        exported = _exported_instances(self.split, lvis=fmt == LVIS)
        total, annotation_ids, unsegmented = _annotation_ids(conn, self.split, lvis=fmt == LVIS)
        chunks = Chunks(
            {r.id: (r.height, r.width) for r in image_rows},
            ids,
            annotation_ids,
            self.masks,
            coco=fmt == COCO,
            as_lists=sink is None,
            summary=summary,
        )
        annotations: list[dict[str, Any]] = []
        written = done = 0
        used: set[int] | None = set() if self.include_unsegmented else None
        query = select(
            exported.c.image_id,
            exported.c.category_id,
            exported.c.is_crowd,
            exported.c.source_id,
            exported.c.mask_kind,
            exported.c.mask,
            exported.c.area,
            exported.c.bbox_x,
            exported.c.bbox_y,
            exported.c.bbox_w,
            exported.c.bbox_h,
        ).order_by(exported.c.id)
        for partition in _chunks_of_rows(conn, query):
            chunk = chunks.annotations(partition)
            if used is not None:
                used.update(a["id"] for a in chunk)
            if sink is not None:
                written = _write_chunk(sink, chunk, written)
            else:
                annotations += chunk
            done += len(partition)
            if progress is not None:
                progress(done, total)
        summary.unsegmented = unsegmented
        extra = _unsegmented(conn, fmt, self.split, summary, ids, used)
        annotations += extra
        if sink is not None:
            written = _write_chunk(sink, annotations, written)
        summary.annotations = written + len(annotations)
        image_count = Counter(category for category, _ in chunks.pairs)
        return annotations, image_count, chunks.instance_count


class Chunks:
    """The annotations of the exported rows, a chunk at a time.

    The common row (a stored polygon without holes, written as polygons) costs no call
    of its own: a chunk's polygons are read from one buffer (:func:`_flat_polygons`),
    its boxes rounded at once (:func:`_round6`), and each annotation is one dict. Its
    parts are float64 arrays, which orjson writes as it writes the lists (the same
    bytes); ``as_lists`` turns them into lists for a document that is kept. Every other
    row (holes, RLE, another mask form) goes through :func:`_segmentation`."""

    def __init__(
        self,
        sizes: dict[int, tuple[int, int]],
        ids: ExportedIds,
        annotation_ids: AnnotationIds,
        masks: str,
        *,
        coco: bool,
        as_lists: bool,
        summary: ExportSummary,
    ) -> None:
        self.sizes, self.ids, self.annotation_ids, self.masks = sizes, ids, annotation_ids, masks
        self.coco, self.as_lists, self.summary = coco, as_lists, summary
        # LVIS: (exported category, image) of each instance, and instances per category.
        self.pairs: set[tuple[int, int]] = set()
        self.instance_count: Counter[int] = Counter()

    def annotations(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """The annotations of ``rows`` (the export query's, in its order)."""
        (image_ids, category_ids, crowd, source_ids, kinds, data, stored_areas,
         xs, ys, ws, hs) = zip(*rows, strict=True)  # fmt: skip
        count = len(rows)
        segmentations: list[Any] = [None] * count
        if self.masks != RLE:
            if kinds.count(POLYGON) == count:
                segmentations = _flat_polygons(data)
            elif polygons := [k for k, kind in enumerate(kinds) if kind == POLYGON]:
                for k, parts in zip(
                    polygons, _flat_polygons([data[k] for k in polygons]), strict=True
                ):
                    segmentations[k] = parts
            if self.as_lists:
                segmentations = [
                    None if parts is None else [part.tolist() for part in parts]
                    for parts in segmentations
                ]
        aids = self.annotation_ids.next(source_ids)
        areas = list(map(int, stored_areas))
        stored_boxes = np.fromiter(chain(xs, ys, ws, hs), dtype=np.float64, count=4 * count)
        boxes = _round6(stored_boxes.reshape(4, count).T).tolist()
        summary = self.summary
        for k in [k for k, parts in enumerate(segmentations) if parts is None]:
            height, width = self.sizes[image_ids[k]]
            segmentations[k], areas[k], box = _segmentation(
                kinds[k], data[k], stored_areas[k], (xs[k], ys[k], ws[k], hs[k]),
                height, width, self.masks, aids[k], summary,
            )  # fmt: skip
            boxes[k] = [round(v, 6) for v in box]
        categories = list(map(self.ids.categories.__getitem__, category_ids))
        crowd_flags = list(map(int, map(bool, crowd)))
        summary.crowd += sum(crowd_flags)
        if not self.coco:  # LVIS categories count their images and instances
            self._count(categories, image_ids, crowd_flags)
        exported_images = map(self.ids.images.__getitem__, image_ids)
        columns = zip(
            aids, exported_images, categories, segmentations, areas, boxes, crowd_flags, strict=True
        )
        if self.coco:
            return [
                {"id": a, "image_id": i, "category_id": c, "segmentation": g, "area": r,
                 "bbox": b, "iscrowd": z}
                for a, i, c, g, r, b, z in columns
            ]  # fmt: skip
        return [
            {"id": a, "image_id": i, "category_id": c, "segmentation": g, "area": r, "bbox": b}
            for a, i, c, g, r, b, _ in columns
        ]

    def _count(
        self, categories: list[int], image_ids: Sequence[int], crowd_flags: list[int]
    ) -> None:
        """Count a chunk's (category, image) pairs and instances, crowd regions left out."""
        if any(crowd_flags):
            kept = [k for k, flag in enumerate(crowd_flags) if not flag]
            self.pairs.update((categories[k], image_ids[k]) for k in kept)
            self.instance_count.update(categories[k] for k in kept)
        else:
            self.pairs.update(zip(categories, image_ids, strict=True))
            self.instance_count.update(categories)


def _flat_polygons(data: Sequence[bytes]) -> list[list[np.ndarray] | None]:
    """:func:`..masks.polygon_bytes.flat_parts_without_holes` of many stored polygon
    masks at once, each part a float64 array (a view of one joined buffer): None for a
    mask with a hole. The headers are read with numpy, not one call per mask."""
    count = len(data)
    if not count:
        return []
    lengths = np.fromiter(map(len, data), dtype=np.int64, count=count)
    if (lengths < 8).any() or sys.byteorder != "little":
        # Not as stored, or a machine whose floats orjson would not take as stored.
        return [_flat_parts(blob) for blob in data]
    starts = np.zeros(count, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    joined = b"".join(data)
    # The first two words of each mask (its header's size and its number of parts).
    head = np.frombuffer(joined, dtype=np.uint8)[starts[:, None] + np.arange(8)]
    n_words, n_parts = head.view(WORD).astype(np.int64).T
    simple = n_words == 2 * n_parts + 2  # every part a single ring
    if not simple.all():
        out: list[list[np.ndarray] | None] = [None] * count
        keep = np.flatnonzero(simple).tolist()
        for k, parts in zip(keep, _flat_polygons([data[k] for k in keep]), strict=True):
            out[k] = parts
        return out
    if (lengths % 8).any():  # not as stored
        return [_flat_parts(blob) for blob in data]
    words = np.frombuffer(joined, dtype=WORD)
    # Each stored mask is 8-byte aligned here (its header has an even number of words),
    # so the joined buffer reads as float64 and each mask's points are one slice of it.
    coords = np.frombuffer(joined, dtype=COORD)
    first = ((starts + 4 * n_words) // 8).tolist()
    last = ((starts + lengths) // 8).tolist()
    polygons: list[list[np.ndarray] | None] = [
        [coords[a:b]] for a, b in zip(first, last, strict=True)
    ]
    multi = np.flatnonzero(n_parts != 1)
    if multi.size:
        # Every part of the masks of several parts (or none): its point count, in the
        # header (words 3, 5, ... of its mask), gives where it ends among the points.
        counts = n_parts[multi]
        part_start = np.cumsum(counts) - counts  # each mask's first part, among the parts
        within = np.arange(int(counts.sum())) - np.repeat(part_start, counts)
        sizes = 2 * words[np.repeat(starts[multi] // 4 + 3, counts) + 2 * within].astype(np.int64)
        before = np.concatenate([[0], np.cumsum(sizes)])  # coordinates before each part
        mask_first = (starts[multi] + 4 * n_words[multi]) // 8  # in the float64 view
        begin = np.repeat(mask_first - before[part_start], counts) + before[:-1]
        begins, stops = begin.tolist(), (begin + sizes).tolist()
        for k, a, n in zip(multi.tolist(), part_start.tolist(), counts.tolist(), strict=True):
            polygons[k] = [
                coords[x:y] for x, y in zip(begins[a : a + n], stops[a : a + n], strict=True)
            ]
    return polygons


def _flat_parts(blob: bytes) -> list[np.ndarray] | None:
    parts = flat_parts_without_holes(blob)
    return None if parts is None else [np.asarray(part, dtype=np.float64) for part in parts]


def _round6(values: np.ndarray) -> np.ndarray:
    """``round(v, 6)`` of every value, equal to Python's (which rounds the exact decimal
    value half to even), at numpy's speed: ``rint(v * 1e6) / 1e6`` gives the same double
    unless ``v * 1e6`` lies within its rounding error of a half (or is huge, or not
    finite); those few take Python's ``round``."""
    scaled = values * 1e6
    out: np.ndarray = np.rint(scaled) / 1e6
    with np.errstate(invalid="ignore"):
        near_half = np.abs(scaled - np.floor(scaled) - 0.5) <= np.abs(scaled) * 2.0**-50
        doubt = near_half | ~(np.abs(scaled) < 2.0**50)
    for index in zip(*np.nonzero(doubt), strict=True):
        out[index] = round(float(values[index]), 6)
    return out


def _chunks_of_rows(conn: Connection, query: Any) -> Iterator[Sequence[Any]]:
    """The rows of ``query``, ``STREAM_CHUNK`` at a time, streamed (PostgreSQL: a
    server-side cursor). On SQLite, where SQLAlchemy does not stream, the driver's plain
    tuples, which cost less than SQLAlchemy's rows; nothing here needs their types."""
    if conn.dialect.name != "sqlite":
        yield from conn.execution_options(yield_per=STREAM_CHUNK).execute(query).partitions()
        return
    result = conn.execute(query)
    try:
        while rows := result.cursor.fetchmany(STREAM_CHUNK):
            yield rows
    finally:
        result.close()


def _write_chunk(sink: IO[bytes], annotations: list[dict[str, Any]], written: int) -> int:
    """Write the buffered annotations as the next items of the streamed list, empty the
    buffer; the count written so far."""
    if annotations:
        if written:
            sink.write(b",")
        sink.write(memoryview(dump_json(annotations))[1:-1])  # no copy of the chunk's text
        written += len(annotations)
        annotations.clear()
    return written


def _unsegmented(
    conn: Connection,
    fmt: str,
    split: str | None,
    summary: ExportSummary,
    ids: ExportedIds,
    used: set[int] | None,
) -> list[dict[str, Any]]:
    """With ``used`` (the annotation ids written, --include-unsegmented), the box-only
    annotations to write: the instances that have a box and no accepted mask (which
    :func:`_annotation_ids` counts). Their ids: the file's where free and not 0, else
    numbers after every id."""
    summary.unsegmented_written = used is not None
    if used is None:
        return []
    i = s.instances
    accepted = exists().where(
        s.segments.c.instance_id == i.c.id, s.segments.c.status == s.SEGMENT_ACCEPTED
    )
    query = (
        select(i.c.id, i.c.image_id, i.c.category_id, i.c.source_id, i.c.box_x, i.c.box_y,
               i.c.box_w, i.c.box_h)
        .where(i.c.is_crowd == false(), i.c.box_w.is_not(None), i.c.box_h.is_not(None),
               not_(accepted))
        .where(*_instance_conditions(split, lvis=False))
        .order_by(i.c.id)
    )  # fmt: skip
    rows = conn.execute(query).all()  # summary.unsegmented counted them already
    if not rows:
        return []
    wanted = {r.source_id for r in rows if r.source_id is not None}
    fresh = max(used | wanted, default=0) + 1
    out = []
    for row in rows:
        aid = row.source_id
        if aid is None or aid <= 0 or aid in used:
            aid = fresh
            fresh += 1
        used.add(aid)
        box = [round(float(v), 6) for v in (row.box_x, row.box_y, row.box_w, row.box_h)]
        annotation: dict[str, Any] = {
            "id": aid,
            "image_id": ids.image(row.image_id),
            "category_id": ids.category(row.category_id),
            "segmentation": [],
            "area": round(box[2] * box[3], 6),
            "bbox": box,
        }
        if fmt == COCO:
            annotation["iscrowd"] = 0
        out.append(annotation)
    return out


def _exported_instances(split: str | None, *, lvis: bool) -> Any:
    """Accepted instances (of the split; no crowd for LVIS) with their latest accepted
    segment's mask and box. The segment's columns are the subquery's own: joining the
    segments again by id makes SQLite scan the segments and sort every mask by instance."""
    i, g = s.instances, s.segments
    later = s.segments.alias("later")
    conditions = [
        i.c.status == s.ACCEPTED,
        g.c.status == s.SEGMENT_ACCEPTED,
        not_(
            exists().where(
                later.c.instance_id == g.c.instance_id,
                later.c.status == s.SEGMENT_ACCEPTED,
                later.c.version > g.c.version,
            )
        ),
    ]
    conditions += _instance_conditions(split, lvis=lvis)
    return (
        select(
            i.c.id,
            i.c.image_id,
            i.c.category_id,
            i.c.is_crowd,
            i.c.source_id,
            g.c.mask_kind,
            g.c.mask,
            g.c.area,
            g.c.bbox_x,
            g.c.bbox_y,
            g.c.bbox_w,
            g.c.bbox_h,
        )
        .join(g, g.c.instance_id == i.c.id)
        .where(and_(*conditions))
        .subquery("exported")
    )


def _instance_conditions(split: str | None, *, lvis: bool) -> list[Any]:
    """The exported instances' own conditions: of the split; LVIS writes no crowd."""
    i = s.instances
    conditions = []
    if lvis:
        conditions.append(i.c.is_crowd == false())
    if split is not None:
        # EXISTS, not IN: with IN, SQLite finds the instances through the image index and
        # then sorts every mask of the split by instance in a temporary B-tree.
        images = s.images
        conditions.append(exists().where(images.c.id == i.c.image_id, images.c.split == split))
    return conditions


def _annotation_ids(
    conn: Connection, split: str | None, *, lvis: bool
) -> tuple[int, AnnotationIds, int]:
    """How many annotations go out, the ids they get (see the module docstring), and how
    many instances of the split have a box and no accepted mask (:func:`_unsegmented`).

    One pass over the instances, not over :func:`_exported_instances`' rows: an accepted
    instance goes out once (with its latest accepted segment) exactly when it has an
    accepted segment, which the segments' (instance, status) index answers without
    reading a segment. 500k instances: 0.52 s for the two counts before, 0.2 s now."""
    i, g = s.instances, s.segments
    # EXISTS (SELECT id ...), not SELECT *: answered from the index alone.
    segmented = (
        select(g.c.id).where(g.c.instance_id == i.c.id, g.c.status == s.SEGMENT_ACCEPTED).exists()
    )
    goes_out = and_(i.c.status == s.ACCEPTED, *([i.c.is_crowd == false()] if lvis else []))
    box_only = and_(i.c.is_crowd == false(), i.c.box_w.is_not(None), i.c.box_h.is_not(None))
    kinds = (
        select(
            i.c.source_id,
            case((segmented, case((goes_out, 1), else_=0)), (box_only, 2), else_=0).label("kind"),
        )
        .where(*_instance_conditions(split, lvis=False))
        # OFFSET 0 keeps SQLite from flattening the subquery into the counts below,
        # which would probe the segments once per count instead of once per instance.
        .offset(0)
        .subquery()
    )
    out = kinds.c.kind == 1
    total, largest, unsegmented = conn.execute(
        select(
            func.count().filter(out),
            func.max(kinds.c.source_id).filter(out, kinds.c.source_id > 0),
            func.count().filter(kinds.c.kind == 2),
        )
    ).one()
    return int(total), AnnotationIds(int(largest or 0)), int(unsegmented)


class AnnotationIds:
    """The id of each exported annotation, given in export order (by instance id): the
    file's id when it is above 0 and no earlier instance took it (so, of instances that
    share a file id, the first keeps it), else the next number after the largest file id."""

    def __init__(self, largest: int) -> None:
        self.fresh = largest
        self.taken: set[int] = set()

    def next(self, source_ids: Sequence[Any]) -> list[int]:
        """The ids of the next annotations, whose file ids are ``source_ids``."""
        taken = self.taken
        fresh = set(source_ids)
        if (
            len(fresh) == len(source_ids)
            and None not in fresh
            and min(fresh, default=1) > 0
            and fresh.isdisjoint(taken)
        ):  # the common case (file ids, each new): kept as they are
            taken |= fresh
            return list(source_ids)
        out = []
        for source_id in source_ids:
            if source_id is not None and source_id > 0 and source_id not in taken:
                taken.add(source_id)
                out.append(int(source_id))
            else:
                self.fresh += 1
                out.append(self.fresh)
        return out


def _segmentation(
    kind: str,
    data: bytes,
    area: int,
    box: tuple[float, float, float, float],
    height: int,
    width: int,
    form: str,
    aid: int,
    summary: ExportSummary,
) -> tuple[Any, int, tuple[float, float, float, float]]:
    """The COCO segmentation of a stored mask in ``form``, its area as written (the
    stored area unless the polygon form changed the pixels; the summary lists those),
    and its bbox: the extent of the mask as written (of the polygons' points, or of an
    RLE's pixels), which is what an import measures. ``box`` is the stored extent."""
    if kind == POLYGON and form != RLE:
        parts = flat_parts_without_holes(data)
        if parts is not None:
            return parts, int(area), box
    if kind == RLE and form != POLYGON:
        rle = {"size": [height, width], "counts": bytes(data).decode("ascii")}
        return rle, int(area), box
    mask = Mask.from_bytes(kind, data, height, width)
    try:
        written = mask.to_coco(form)
    except GeometryError:
        # An empty mask has no polygon: it stays an (empty) RLE.
        summary.kept_as_rle.append(aid)
        return mask.coco_rle(), int(area), (0.0, 0.0, 0.0, 0.0)
    if written.changed:
        summary.lossy.append((aid, written.changed))
    return written.segmentation, int(written.area), _extent(written.segmentation, mask)


def _extent(segmentation: Any, mask: Mask) -> tuple[float, float, float, float]:
    """The bbox an import measures of a written segmentation: its polygons' points, or
    the RLE's pixels (pycocotools' toBbox)."""
    if isinstance(segmentation, dict):
        return mask.to_rle_mask().bbox
    points = np.concatenate([np.asarray(part, dtype=np.float64) for part in segmentation])
    x, y = points[0::2], points[1::2]
    x0, y0 = float(x.min()), float(y.min())
    return (x0, y0, float(x.max()) - x0, float(y.max()) - y0)


class ImageRow(NamedTuple):
    """The columns of an image that an export reads."""

    id: int
    path: str
    file_name: str
    width: int
    height: int
    coco_url: str | None
    extra: Any


def _image_rows(conn: Connection, split: str | None) -> Sequence[Any]:
    """The exported images' rows (:class:`ImageRow`'s columns), in id order. On SQLite,
    ``extra`` is read as its stored text and parsed here with ``json.loads``, as
    SQLAlchemy's JSON type would (it costs twice as much: 50,000 images, 0.24 s for
    every column through SQLAlchemy, 0.14 s this way)."""
    i = s.images.c
    sqlite = conn.dialect.name == "sqlite"
    query = select(
        i.id, i.path, i.file_name, i.width, i.height, i.coco_url,
        type_coerce(i.extra, Text) if sqlite else i.extra,
    ).order_by(i.id)  # fmt: skip
    if split is not None:
        query = query.where(i.split == split)
    if not sqlite:
        return conn.execute(query).all()
    result = conn.execute(query)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    loads = json.loads
    return [
        ImageRow(iid, path, name, width, height, url, None if extra is None else loads(extra))
        for iid, path, name, width, height, url, extra in rows
    ]


def _image_paths(project: Project, rows: Sequence[Any]) -> list[str]:
    """Each image's file, normalised: ``os.path.normpath(project.resolve(row.path))``
    as text, without a Path per image (an LVIS-sized export has 100,000 of them)."""
    folder = "" if project.folder is None else str(project.folder)
    join, isabs, normpath = os.path.join, os.path.isabs, os.path.normpath
    return [
        normpath(row.path if not folder or isabs(row.path) else join(folder, row.path))
        for row in rows
    ]


def _image(row: Any, image_id: int, fmt: str, path: str) -> dict[str, Any]:
    """An image's entry; ``path`` is its file (:func:`_image_paths`)."""
    image: dict[str, Any] = {"id": image_id, "file_name": row.file_name}
    image["width"], image["height"] = row.width, row.height
    coco_url = row.coco_url
    if fmt == LVIS and not coco_url:
        # lvis-api and detectron2 take the last two parts of coco_url (folder and file
        # name): give them the image's own folder and name on disk.
        coco_url = _last_two_parts(path)
    if coco_url:
        image["coco_url"] = coco_url
    extra = _extra(row)
    for key in sorted(extra):
        if key != "source_id":
            image.setdefault(key, extra[key])
    return image


def _last_two_parts(path: str) -> str:
    """``"/".join(Path(path).parts[-2:])`` of a normalised path; on POSIX, by splitting."""
    if os.sep == "/":
        head, sep, name = path.rpartition("/")
        folder = head.rpartition("/")[2]
        if folder and name:
            return folder + "/" + name
    return "/".join(Path(path).parts[-2:])


def _one_root(
    images: list[dict[str, Any]], rows: Sequence[Any], paths: list[str], summary: ExportSummary
) -> None:
    """Name every image relative to one folder. Each ``file_name`` is relative to the
    root its image was imported from; when the exported images come from several roots
    (a labelme import's files found in place and its embedded images written into the
    project's ``images/``; COCO's train2017/ and val2017/ in one export), the names become
    relative to the folder that holds them all, which the summary names. ``paths``: the
    images' files (:func:`_image_paths`). No file is read."""
    roots: set[str] = set()
    normpath, dirname = os.path.normpath, os.path.dirname
    for row, path in zip(rows, paths, strict=True):
        tail = os.sep + normpath(row.file_name)
        roots.add(path[: -len(tail)] if path.endswith(tail) else dirname(path))
    if len(roots) < 2:
        return
    try:
        common = os.path.commonpath(sorted(roots))
    except ValueError:  # relative and absolute paths, or two drives: left as they are
        return
    for image, path in zip(images, paths, strict=True):
        image["file_name"] = Path(os.path.relpath(path, common)).as_posix()
    summary.images_root = Path(common)


def _extra(row: Any) -> dict[str, Any]:
    """An image's extra fields (a JSON object; anything else counts as none)."""
    return row.extra if isinstance(row.extra, dict) else {}


def _federated_lists(
    conn: Connection,
    images: list[dict[str, Any]],
    image_rows: Sequence[Any],
    category_ids: Mapping[int, int],
    split: str | None,
) -> None:
    """Each LVIS image's neg_category_ids and not_exhaustive_category_ids (sorted ids),
    as :func:`pipeline.federated.pair_state` reads each pair (the training snapshot and
    the held-out evaluation read the same): not exhaustive are pairs answered so in
    stage 5 (or imported so), and pending pairs, with an instance that has no accepted
    mask yet: the file would otherwise claim that the missing instance is not there.
    """
    from ..federated import federated_labels  # the one rule for a pair's state

    labels = federated_labels(conn, split=split)
    for image, row in zip(images, image_rows, strict=True):
        label = labels[row.id]
        image["neg_category_ids"] = sorted(category_ids[c] for c in label.negative_category_ids)
        image["not_exhaustive_category_ids"] = sorted(
            category_ids[c] for c in label.not_exhaustive_category_ids
        )


def _lvis_categories(
    conn: Connection,
    rows: Sequence[Any],
    category_ids: Mapping[int, int],
    image_count: Counter[int],
    instance_count: Counter[int],
) -> list[dict[str, Any]]:
    # The LVIS r/c/f rule (and its fallback to the vocabulary's groups) is pipeline.stats'.
    groups = frequency_groups(conn)
    out = []
    for row in rows:
        cid = category_ids[row.id]
        frequency = groups[row.id]
        out.append(
            {
                "id": cid,
                "name": row.name,
                "synonyms": list(row.synonyms or [row.name]),
                "def": row.definition or "",
                "synset": row.synset or "",
                "frequency": frequency,
                "image_count": image_count.get(cid, 0),
                "instance_count": int(instance_count.get(cid, 0)),
            }
        )
    out.sort(key=lambda c: c["id"])
    return out


def _coco_categories(
    rows: Sequence[Any], category_ids: Mapping[int, int], supercategories: dict[str, str]
) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        category: dict[str, Any] = {"id": category_ids[row.id], "name": row.name}
        if str(row.id) in supercategories:
            category["supercategory"] = supercategories[str(row.id)]
        out.append(category)
    out.sort(key=lambda c: c["id"])
    return out


__all__ = ["COCO", "LVIS", "MASK_FORMS", "ExportSummary", "export_project"]

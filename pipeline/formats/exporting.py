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

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, exists, false, func, not_, select
from sqlalchemy.engine import Connection

from .. import __version__
from .. import schema as s
from ..errors import GeometryError, LongtailError
from ..geometry import POLYGON, RLE, Mask
from ..outputs import write_output
from ..polygon_bytes import flat_parts_without_holes
from ..roles import EXPORT, require
from ..stats.frequency import frequency_groups
from ..store import Project, read_meta_json
from .ids import exported_ids
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
) -> tuple[dict[str, Any], ExportSummary]:
    """The export document and its summary; written atomically to ``out_path`` if given.

    ``include_unsegmented`` also writes the instances that have a box and no accepted
    mask yet (box-only imports, marks with a box) with an empty ``segmentation``."""
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
        doc = _build(conn, project, fmt, split, masks, summary, progress)
        _unsegmented(conn, doc, fmt, split, summary, include=include_unsegmented)
    if out_path is not None:
        # Never over the project's database or internals, a folder or a device (decision 0023).
        summary.path = write_output(out_path, dump_json(doc), project=project, stdout_ok=True)
    return doc, summary


# ---------------------------------------------------------------- the document


def _build(
    conn: Connection,
    project: Project,
    fmt: str,
    split: str | None,
    masks: str,
    summary: ExportSummary,
    progress: Progress | None,
) -> dict[str, Any]:
    image_query = select(s.images).order_by(s.images.c.id)
    if split is not None:
        image_query = image_query.where(s.images.c.split == split)
    image_rows = conn.execute(image_query).all()
    ids = exported_ids(conn)  # the same ids as every results file (predict --out)
    image_ids = ids.images
    category_rows = conn.execute(select(s.categories).order_by(s.categories.c.id)).all()
    category_ids = ids.categories
    sizes = {r.id: (r.height, r.width) for r in image_rows}

    exported = _exported_instances(split, lvis=fmt == LVIS)
    total, annotation_id = _annotation_ids(conn, exported)
    annotations = []
    image_count: dict[int, set[int]] = {}
    instance_count: Counter[int] = Counter()
    rows = conn.execution_options(yield_per=20_000).execute(
        select(
            exported.c.id,
            exported.c.image_id,
            exported.c.category_id,
            exported.c.is_crowd,
            exported.c.source_id,
            s.segments.c.mask_kind,
            s.segments.c.mask,
            s.segments.c.area,
            s.segments.c.bbox_x,
            s.segments.c.bbox_y,
            s.segments.c.bbox_w,
            s.segments.c.bbox_h,
        )
        .join(s.segments, s.segments.c.id == exported.c.segment_id)
        .order_by(exported.c.id)
    )
    for done, row in enumerate(rows, 1):
        aid = annotation_id(row.id, row.source_id)
        height, width = sizes[row.image_id]
        stored_box = (row.bbox_x, row.bbox_y, row.bbox_w, row.bbox_h)
        segmentation, area, box = _segmentation(
            row.mask_kind, row.mask, row.area, stored_box, height, width, masks, aid, summary
        )
        category = category_ids[row.category_id]
        annotation = {
            "id": aid,
            "image_id": image_ids[row.image_id],
            "category_id": category,
            "segmentation": segmentation,
            "area": area,
            "bbox": [round(v, 6) for v in box],
        }
        if fmt == COCO:
            annotation["iscrowd"] = 1 if row.is_crowd else 0
        if row.is_crowd:
            summary.crowd += 1
        else:
            image_count.setdefault(category, set()).add(row.image_id)
            instance_count[category] += 1
        annotations.append(annotation)
        if progress is not None and (done % 20_000 == 0 or done == total):
            progress(done, total)
    summary.annotations = len(annotations)

    images = [_image(project, r, image_ids[r.id], fmt) for r in image_rows]
    if fmt == LVIS:
        _federated_lists(conn, images, image_rows, category_ids, split)
        categories = _lvis_categories(
            conn, category_rows, category_ids, image_count, instance_count
        )
    else:
        supercategories = read_meta_json(conn, META_SUPERCATEGORIES, {})
        categories = _coco_categories(category_rows, category_ids, supercategories)
    summary.images = len(images)
    summary.categories = len(categories)
    info = {
        "description": f"exported by longtail {__version__} as {'LVIS v1' if fmt == LVIS else 'COCO'}",
        "version": __version__,
    }
    return {
        "info": info,
        "licenses": read_meta_json(conn, META_LICENSES, []),
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def _unsegmented(
    conn: Connection,
    doc: dict[str, Any],
    fmt: str,
    split: str | None,
    summary: ExportSummary,
    *,
    include: bool,
) -> None:
    """Count (and with ``include``, append as box-only annotations) the instances that
    have a box and no accepted mask. Their annotation ids: the file's where free and not
    0, else numbers after every id written."""
    i = s.instances
    accepted = exists().where(
        s.segments.c.instance_id == i.c.id, s.segments.c.status == s.SEGMENT_ACCEPTED
    )
    query = (
        select(i.c.id, i.c.image_id, i.c.category_id, i.c.source_id, i.c.box_x, i.c.box_y,
               i.c.box_w, i.c.box_h)
        .where(i.c.is_crowd == false(), i.c.box_w.is_not(None), i.c.box_h.is_not(None),
               not_(accepted))
        .order_by(i.c.id)
    )  # fmt: skip
    if split is not None:
        query = query.where(
            i.c.image_id.in_(select(s.images.c.id).where(s.images.c.split == split))
        )
    rows = conn.execute(query).all()
    summary.unsegmented = len(rows)
    summary.unsegmented_written = include
    if not include or not rows:
        return
    ids = exported_ids(conn)
    used = {a["id"] for a in doc["annotations"]}
    wanted = {r.source_id for r in rows if r.source_id is not None}
    fresh = max(used | wanted, default=0) + 1
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
        doc["annotations"].append(annotation)
    summary.annotations = len(doc["annotations"])


def _exported_instances(split: str | None, *, lvis: bool) -> Any:
    """Accepted instances (of the split; no crowd for LVIS) with their latest accepted segment."""
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
    if lvis:
        conditions.append(i.c.is_crowd == false())
    if split is not None:
        conditions.append(i.c.image_id.in_(select(s.images.c.id).where(s.images.c.split == split)))
    return (
        select(
            i.c.id,
            i.c.image_id,
            i.c.category_id,
            i.c.is_crowd,
            i.c.source_id,
            g.c.id.label("segment_id"),
        )
        .join(g, g.c.instance_id == i.c.id)
        .where(and_(*conditions))
        .subquery("exported")
    )


def _annotation_ids(conn: Connection, exported: Any) -> tuple[int, Callable[[int, Any], int]]:
    """How many annotations go out, and the id each gets (see the module docstring)."""
    total, largest = conn.execute(
        select(
            func.count(),
            func.max(exported.c.source_id).filter(exported.c.source_id > 0),
        )
    ).one()
    holders = dict(
        conn.execute(
            select(exported.c.source_id, func.min(exported.c.id))
            .where(exported.c.source_id > 0)
            .group_by(exported.c.source_id)
            .having(func.count() > 1)
        ).all()
    )
    fresh = [int(largest or 0)]

    def annotation_id(instance_id: int, source_id: Any) -> int:
        if source_id is not None and source_id > 0:
            holder = holders.get(source_id)
            if holder is None or holder == instance_id:
                return int(source_id)
        fresh[0] += 1
        return fresh[0]

    return int(total), annotation_id


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


def _image(project: Project, row: Any, image_id: int, fmt: str) -> dict[str, Any]:
    extra = {k: v for k, v in _extra(row).items() if k != "source_id"}
    image: dict[str, Any] = {"id": image_id, "file_name": row.file_name}
    image["width"], image["height"] = row.width, row.height
    coco_url = row.coco_url
    if fmt == LVIS and not coco_url:
        # lvis-api and detectron2 take the last two parts of coco_url (folder and file
        # name): give them the image's own folder and name on disk.
        coco_url = "/".join(Path(os.path.normpath(project.resolve(row.path))).parts[-2:])
    if coco_url:
        image["coco_url"] = coco_url
    for key in sorted(extra):
        image.setdefault(key, extra[key])
    return image


def _extra(row: Any) -> dict[str, Any]:
    """An image's extra fields (a JSON object; anything else counts as none)."""
    return row.extra if isinstance(row.extra, dict) else {}


def _federated_lists(
    conn: Connection,
    images: list[dict[str, Any]],
    image_rows: list[Any],
    category_ids: dict[int, int],
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
    rows: list[Any],
    category_ids: dict[int, int],
    image_count: dict[int, set[int]],
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
                "image_count": len(image_count.get(cid, ())),
                "instance_count": int(instance_count.get(cid, 0)),
            }
        )
    out.sort(key=lambda c: c["id"])
    return out


def _coco_categories(
    rows: list[Any], category_ids: dict[int, int], supercategories: dict[str, str]
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

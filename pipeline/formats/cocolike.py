"""Reading COCO and LVIS documents: their shape checked record by record.

COCO and LVIS share one layout (``images``, ``annotations``, ``categories``); LVIS
adds per-image ``neg_category_ids`` and ``not_exhaustive_category_ids`` and richer
categories. Every check adds a located problem to the report and drops the record,
so that one pass lists everything that is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from ..errors import GeometryError, VocabularyError
from ..masks.geometry import Mask, polygon_problems
from ..vocabulary import category_from_entry, normalize
from .locate import ImageSearch, find_file, image_search, keep_readable, relative_names
from .masks import EncodedMasks, PolygonBatches, encode_mask, encode_polygons
from .report import FormatError, ImportReport, display_path
from .source import BOX_ONLY, Encoded, SourceCategory, SourceFile, SourceImage

if TYPE_CHECKING:  # the options' module calls the importers: a type here, not an import
    from .api import ImportOptions

# Image fields with a column of their own; any other field is kept in images.extra.
IMAGE_FIELDS = frozenset(
    {"id", "file_name", "width", "height", "coco_url", "neg_category_ids",
     "not_exhaustive_category_ids"}
)  # fmt: skip
# A file's bbox is kept as the file gives it (as pycocotools does). One that differs from
# its mask's extent by more than this on some side (pixels) is reported, never refused:
# COCO's own boxes are within 1 pixel of their polygons, and float32 writers add noise
# (supervision: 1.0000048 px; float32 rounding at 8192 px is 0.001 px).
# docs/decisions/0027-one-box-rule.md
BOX_TOLERANCE = 1.0 + 1e-3

Progress = Callable[[int, int], None]


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int


# Ids are stored as signed 64-bit integers (SQLite, PostgreSQL BIGINT).
_ID_RANGE = "the id is out of range: ids must lie between -2^63 and 2^63 - 1"


def _fits_id(value: int) -> bool:
    return -(2**63) <= value < 2**63


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def read_document(
    path: Path,
    doc: Any,
    options: ImportOptions,
    report: ImportReport,
    progress: Progress | None = None,
    *,
    splits: dict[Any, str] | None = None,
) -> SourceFile:
    """Check a COCO-shaped document read from ``path`` (a COCO or LVIS file, or what an
    adapter built) record by record, find its images, and give it as one value; the
    document is emptied (its images hold their annotations now). ``progress``: the
    reading of the image files. ``splits``: image id -> split, for inputs that hold
    several. Problems go to ``report``; a document without its three lists is refused
    at once (:class:`FormatError`)."""
    file = display_path(path)
    lvis = options.kind == "lvis"
    check_top(doc, report, file, lvis=lvis)
    categories = read_categories(doc, report, file, lvis=lvis)
    category_keys: set[Any] = {c.key for c in categories}
    listed_categories = {
        c.get("id") for c in doc["categories"] if isinstance(c, dict) and type(c.get("id")) is int
    }
    search = image_search(path, options.images_root, follow_symlinks=options.follow_symlinks)
    images, listed_images = read_images(
        doc,
        report,
        file,
        lvis=lvis,
        search=search,
        category_keys=category_keys,
        reference_only=options.reference_only,
        progress=progress,
    )
    attach_annotations(doc, images, listed_images, category_keys, listed_categories, report, file)
    if splits:
        for image in images:
            image.split = splits.get(image.key)
    categories = without_placeholders(categories, images, report, file)
    if lvis:
        for image in images:
            check_negatives(image, report)
    licenses = doc.get("licenses")
    kept = [item for item in licenses if isinstance(item, dict)] if type(licenses) is list else []
    doc.clear()  # the images now hold their annotations; let the rest go
    return SourceFile(tuple(categories), tuple(images), tuple(kept), search.root)


# Polygons encoded together (PolygonBatches): enough to spread numpy's and pycocotools'
# cost per call, few enough that a batch's masks take little memory.
BATCH_ANNOTATIONS = 4_000


class Encoder:
    """Encodes the images of one file in their order, a batch of polygons at a time:
    ``encoder(image)`` gives what :func:`encode_annotations` gives for it alone."""

    def __init__(
        self, images: Sequence[SourceImage], report: ImportReport, *, repair_boxes: bool
    ) -> None:
        self.images = images
        self.report = report
        self.repair_boxes = repair_boxes
        self.batches = PolygonBatches()
        self.position = {id(image): i for i, image in enumerate(images)}
        self.prepared = 0  # images[:prepared] have their polygons in a batch (or are done)

    def __call__(self, image: SourceImage) -> list[Encoded]:
        at = self.position.get(id(image))
        if at is not None and at >= self.prepared:
            self.prepared = prepare_batch(self.batches, self.images, at)
        rows = self._plain(image)
        if rows is not None:
            return rows
        return encode_annotations(
            image, self.report, repair_boxes=self.repair_boxes, polygons=self.batches.encode
        )

    def _plain(self, image: SourceImage) -> list[Encoded] | None:
        """The rows of an image whose annotations are all plain: polygons that encoded
        without a problem, a sound bbox that agrees with its polygon, iscrowd 0 or 1. What
        :func:`encode_annotations` gives for them, in plain Python (no numpy call per
        image, no note to write); None when any annotation needs its full checks."""
        done = self.batches.done
        height, width = image.height, image.width
        rows = []
        for ann in image.annotations:
            if type(ann) is not dict:
                return None
            seg, bbox, crowd = ann.get("segmentation"), ann.get("bbox"), ann.get("iscrowd", 0)
            if type(seg) is not list or not seg or type(bbox) is not list or len(bbox) != 4:
                return None
            if type(crowd) not in (int, bool) or crowd not in (0, 1):
                return None
            found = done.get((id(seg), height, width))
            if found is None or found[0] is not None:
                return None
            problems, kind, data, area, (mx, my, mw, mh) = found
            x, y, w, h = bbox
            if not (type(x) in _NUMBER and type(y) in _NUMBER and type(w) in _NUMBER
                    and type(h) in _NUMBER):  # fmt: skip
                return None
            x, y, w, h = float(x), float(y), float(w), float(h)
            if not (math.isfinite(x + y + w + h) and w >= 0 and h >= 0):
                return None
            if (
                abs(x - mx) > BOX_TOLERANCE
                or abs(y - my) > BOX_TOLERANCE
                or abs(x + w - (mx + mw)) > BOX_TOLERANCE
                or abs(y + h - (my + mh)) > BOX_TOLERANCE
            ):
                return None  # a note to write: the full path says it
            rows.append(
                Encoded(
                    ann["id"], ann["category_id"], bool(crowd), (x, y, w, h),
                    kind, data, area, (mx, my, mw, mh),
                )  # fmt: skip
            )
        return rows


_NUMBER = (int, float)


def prepare_batch(batches: PolygonBatches, images: Sequence[SourceImage], start: int) -> int:
    """Encode the polygons of ``images[start:]`` up to BATCH_ANNOTATIONS annotations;
    the index after the last image of the batch."""
    groups = []
    count = 0
    stop = start
    while stop < len(images) and (count < BATCH_ANNOTATIONS or stop == start):
        image = images[stop]
        segs = [
            seg
            for ann in image.annotations
            if type(ann) is dict and type(seg := ann.get("segmentation")) is list and seg
        ]
        groups.append((segs, image.height, image.width))
        count += len(segs)
        stop += 1
    batches.prepare(groups)
    return stop


def check_top(doc: Any, report: ImportReport, file: str, *, lvis: bool) -> None:
    """The document is an object with lists of images, annotations and categories."""
    if not isinstance(doc, dict):
        report.problem(f"the file holds a {type(doc).__name__}, not a JSON object", file=file)
        raise FormatError(report)
    before = len(report.problems)  # an adapter may have found some already
    for key in ("images", "annotations", "categories"):
        if key not in doc:
            report.problem(f"missing key '{key}'", file=file)
        elif not isinstance(doc[key], list):
            report.problem(f"'{key}' must be a list, not {type(doc[key]).__name__}", file=file)
    if len(report.problems) > before:
        raise FormatError(report)
    if not lvis and any(isinstance(i, dict) and "neg_category_ids" in i for i in doc["images"]):
        report.note(
            "the images carry LVIS neg_category_ids; import with --format lvis to keep "
            "the negative and not-exhaustive labels",
            file=file,
        )


def read_categories(
    doc: dict, report: ImportReport, file: str, *, lvis: bool
) -> list[SourceCategory]:
    """The categories, each with an integer id and a name, both unique."""
    found: list[SourceCategory] = []
    ids: set[int] = set()
    names: dict[str, int] = {}
    for index, item in enumerate(doc["categories"]):
        if not isinstance(item, dict):
            report.problem(f"categories[{index}] is not an object", file=file)
            continue
        cid = item.get("id")
        where = {"file": file, "category_id": cid if _is_int(cid) else f"[{index}]"}
        if "id" not in item:
            report.problem("missing key 'id'", **where)
            continue
        if not _is_int(cid):
            report.problem(f"the id {cid!r} is not an integer", **where)
            continue
        if cid in ids:
            report.problem("the id appears twice", **where)
            continue
        ids.add(cid)
        if not _fits_id(cid):
            report.problem(_ID_RANGE, **where)
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            report.problem("missing key 'name'" if name is None else "the name is empty", **where)
            continue
        key = normalize(name)
        if key in names:
            report.problem(f"the name {name!r} is also category {names[key]}'s", **where)
            continue
        names[key] = cid
        try:
            category = category_from_entry(item, name, cid)
        except VocabularyError as exc:
            report.problem(str(exc), **where)
            continue
        supercategory = item.get("supercategory")
        found.append(
            SourceCategory(cid, category, supercategory if isinstance(supercategory, str) else None)
        )
    return found


def read_images(
    doc: dict,
    report: ImportReport,
    file: str,
    *,
    lvis: bool,
    search: ImageSearch,
    category_keys: set[int],
    reference_only: bool,
    progress: Progress | None,
) -> tuple[list[SourceImage], set[int]]:
    """The images whose records are sound and whose files are found (and read, unless
    by reference). Also returns the ids of every image record with an integer id, so
    that annotations of a refused image are told from annotations of no image."""
    listed: set[int] = set()
    candidates: list[SourceImage] = []
    for index, item in enumerate(doc["images"]):
        if not isinstance(item, dict):
            report.problem(f"images[{index}] is not an object", file=file)
            continue
        iid = item.get("id")
        where = {"file": file, "image_id": iid if _is_int(iid) else f"[{index}]"}
        if not _is_int(iid):
            report.problem(
                "missing key 'id'" if iid is None else f"the id {iid!r} is not an integer", **where
            )
            continue
        if iid in listed:
            report.problem("the id appears twice", **where)
            continue
        listed.add(iid)
        if not _fits_id(iid):
            report.problem(_ID_RANGE, **where)
            report.images_skipped += 1
            continue
        image = _image_record(item, iid, where, report, lvis=lvis, category_keys=category_keys)
        if image is None:
            report.images_skipped += 1
            continue
        candidates.append(image)

    # Find each file under the root; read those found (unless by reference).
    located: list[SourceImage] = []
    for image in candidates:
        names = relative_names(image.file_name or None, image.coco_url)
        found = find_file(search, names)
        if found.refused is not None:
            report.problem(
                f"{found.refused}; the file was not opened", file=file, image_id=image.key
            )
            report.images_skipped += 1
            continue
        if found.path is None:
            if not reference_only or found.first is None:
                tried = ", ".join(str(f / n) for f in search.folders for _, n in names)
                report.problem(
                    f"image file not found (looked for {tried})", file=file, image_id=image.key
                )
                report.images_skipped += 1
                continue
            image.path, name = found.first
        else:
            image.path, name = found.path, found.name or ""
        image.file_name = image.file_name or name
        located.append(image)
    if reference_only:
        return located, listed
    good = keep_readable(
        located, report, progress, lambda image: {"file": file, "image_id": image.key}
    )
    return good, listed


def _image_record(
    item: dict, iid: int, where: dict, report: ImportReport, *, lvis: bool, category_keys: set[int]
) -> SourceImage | None:
    before = len(report.problems)
    for key in ("width", "height"):
        value = item.get(key)
        if value is None:
            report.problem(f"missing key '{key}'", **where)
        elif not _is_int(value) or value <= 0:
            report.problem(f"'{key}' must be a positive integer, got {value!r}", **where)
    file_name = item.get("file_name")
    coco_url = item.get("coco_url")
    if file_name is not None and (not isinstance(file_name, str) or not file_name.strip()):
        report.problem(f"'file_name' must be a file name, got {file_name!r}", **where)
    if coco_url is not None and not isinstance(coco_url, str):
        report.problem(f"'coco_url' must be a string, got {coco_url!r}", **where)
    if lvis:
        if not file_name and not coco_url:
            report.problem(
                "missing key 'coco_url' (or 'file_name'): the image cannot be found", **where
            )
    elif file_name is None:
        report.problem("missing key 'file_name'", **where)
    lists = {}
    if lvis:
        for key in ("neg_category_ids", "not_exhaustive_category_ids"):
            value = item.get(key)
            if value is None:
                report.problem(f"missing key '{key}'", **where)
            elif not isinstance(value, list) or not all(_is_int(v) for v in value):
                report.problem(f"'{key}' must be a list of category ids", **where)
            else:
                unknown = sorted({v for v in value if v not in category_keys})
                if unknown:
                    report.problem(f"'{key}' names unknown categories {unknown}", **where)
                lists[key] = [v for v in dict.fromkeys(value) if v in category_keys]
        both = set(lists.get("neg_category_ids", ())) & set(
            lists.get("not_exhaustive_category_ids", ())
        )
        if both:
            report.problem(
                f"categories {sorted(both)} are both negative and not exhaustive", **where
            )
    if len(report.problems) > before:
        return None
    extra = {"source_id": iid}
    extra.update((k, v) for k, v in item.items() if k not in IMAGE_FIELDS)
    return SourceImage(
        key=iid,
        file=where["file"],
        file_name=file_name or "",
        path=Path(),
        width=item["width"],
        height=item["height"],
        coco_url=coco_url or None,
        extra=extra,
        negative_keys=lists.get("neg_category_ids", []),
        not_exhaustive_keys=lists.get("not_exhaustive_category_ids", []),
    )


def attach_annotations(
    doc: dict,
    images: list[SourceImage],
    listed_images: set[int],
    category_keys: set[int],
    listed_categories: set[Any],
    report: ImportReport,
    file: str,
) -> None:
    """Give each image its annotation records; refuse those that name no known image or
    category, or repeat an id. Annotations of a refused image or category are counted
    as skipped (the image's or category's own problem says why)."""
    by_id = {image.key: image for image in images}
    seen: set[int] = set()
    for index, ann in enumerate(doc["annotations"]):
        if type(ann) is not dict:
            report.problem(f"annotations[{index}] is not an object", file=file)
            continue
        aid = ann.get("id")
        iid: Any = ann.get("image_id")
        cid: Any = ann.get("category_id")
        if type(aid) is not int:
            where_id = f"[{index}]"
            message = "missing key 'id'" if aid is None else f"the id {aid!r} is not an integer"
            report.problem(message, file=file, image_id=iid, annotation_id=where_id)
            continue
        if aid in seen:
            report.problem("the id appears twice", file=file, image_id=iid, annotation_id=aid)
            continue
        seen.add(aid)
        if not _fits_id(aid):
            report.problem(_ID_RANGE, file=file, image_id=iid, annotation_id=aid)
            continue
        image = by_id.get(iid)
        if image is None:
            if type(iid) is int and iid in listed_images:
                report.annotations_skipped += 1
            else:
                message = (
                    "missing key 'image_id'"
                    if iid is None
                    else f"names image {iid!r}, which is not in the file"
                )
                report.problem(message, file=file, annotation_id=aid)
            continue
        if type(cid) is not int or cid not in category_keys:
            if type(cid) is int and cid in listed_categories:
                report.annotations_skipped += 1
            else:
                message = (
                    "missing key 'category_id'"
                    if cid is None
                    else f"names category {cid!r}, which is not in the file"
                )
                report.problem(message, file=file, image_id=iid, annotation_id=aid)
            continue
        image.annotations.append(ann)


def without_placeholders(
    categories: list[SourceCategory], images: list[SourceImage], report: ImportReport, file: str
) -> list[SourceCategory]:
    """The categories less empty placeholders: a category no annotation uses whose
    name is the supercategory of another (Roboflow writes its dataset's name so, as
    category 0 with supercategory 'none'). A note says each was not created."""
    supers = {
        normalize(c.supercategory)
        for c in categories
        if c.supercategory and normalize(c.supercategory) != c.category.key
    }  # ("person" is its own supercategory in COCO: that makes no placeholder)
    candidates = {c.key for c in categories if c.category.key in supers}
    if not candidates:
        return categories
    used = {a.get("category_id") for image in images for a in image.annotations}
    used.update(k for image in images for k in (*image.negative_keys, *image.not_exhaustive_keys))
    out = []
    for c in categories:
        if c.key in candidates and c.key not in used:
            report.placeholders.append(c.category.name)
            report.note(
                f"{c.category.name!r} has no annotations and is the supercategory of other "
                "categories (an empty placeholder): it is not created",
                file=file,
                category_id=c.key,
            )
            continue
        out.append(c)
    return out


def check_negatives(image: SourceImage, report: ImportReport) -> None:
    """A negative category of an image has no annotation on it (crowd regions aside)."""
    if not image.negative_keys:
        return
    present = {a["category_id"] for a in image.annotations if not a.get("iscrowd")}
    wrong = sorted(present.intersection(image.negative_keys))
    if wrong:
        report.problem(
            f"categories {wrong} are in neg_category_ids but have annotations on the image",
            file=image.file,
            image_id=image.key,
        )
        image.negative_keys = [k for k in image.negative_keys if k not in present]


def encode_annotations(
    image: SourceImage,
    report: ImportReport,
    *,
    repair_boxes: bool = False,
    polygons: Callable[[list[Any], int, int], EncodedMasks] = encode_polygons,
) -> list[Encoded]:
    """Check and encode an image's COCO annotations: polygons in bulk, RLEs one by one.
    ``polygons``: :func:`encode_polygons`, or what gives its values (PolygonBatches)."""
    height, width, file, iid = image.height, image.width, image.file, image.key
    out: list[Encoded] = []
    poly_anns: list[dict] = []
    poly_boxes: list[Any] = []
    checked: list[dict] = []  # annotations whose fields need a check one by one
    for ann in image.annotations:
        # The common case, cheaply: a polygon list, a 4-item bbox list, iscrowd 0 or 1.
        seg, bbox, crowd = ann.get("segmentation"), ann.get("bbox"), ann.get("iscrowd", 0)
        if type(seg) is list and not seg:
            # A box and no mask (detection files, Label Studio rectangles): a marked
            # instance whose box is the prompt of stage 3.
            row = _box_only(ann, image, report)
            if row is None:
                report.annotations_skipped += 1
            else:
                out.append(row)
            continue
        if (
            type(seg) is list
            and type(bbox) is list
            and len(bbox) == 4
            and type(crowd) in (int, bool)
            and crowd in (0, 1)
        ):
            poly_anns.append(ann)
            poly_boxes.append(bbox)
        else:
            checked.append(ann)
    boxes = np.zeros((0, 4))
    if poly_anns:
        boxes = np.array(poly_boxes)
        if boxes.dtype.kind in "biuf" and boxes.shape == (len(poly_anns), 4):
            boxes = boxes.astype(np.float64)
            sound = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] >= 0) & (boxes[:, 3] >= 0)
            if not sound.all():
                checked += [a for a, ok in zip(poly_anns, sound.tolist(), strict=True) if not ok]
                poly_anns = [a for a, ok in zip(poly_anns, sound.tolist(), strict=True) if ok]
                boxes = boxes[sound]
        else:  # some bbox holds something that is not a number: sort them one by one
            checked += poly_anns
            poly_anns, boxes = [], np.zeros((0, 4))

    for ann in checked:
        aid = ann["id"]
        where = {"file": file, "image_id": iid, "annotation_id": aid}
        problems = _field_problems(ann)
        for message in problems:
            report.problem(message, **where)
        seg = ann.get("segmentation")
        if type(seg) is list:
            if not problems:
                poly_anns.append(ann)
                boxes = np.vstack([boxes, np.asarray(ann["bbox"], dtype=np.float64)])
                continue
            # Still report what is wrong with the polygon itself.
            for message in encode_polygons([seg], height, width).problems.get(0, []):
                report.problem(message, **where)
        elif type(seg) is dict:
            try:
                kind, data, area, mask_box = encode_mask(Mask.from_rle(seg, height, width))
            except GeometryError as exc:
                report.problem(str(exc), **where)
                problems.append(str(exc))
            if not problems and area == 0 and ann["bbox"][2] * ann["bbox"][3] > 0:
                problems.append(f"the RLE mask is empty but its bbox {ann['bbox']} is not")
                report.problem(problems[-1], **where)
            if not problems:
                box = _box(ann["bbox"], mask_box, "RLE", report, file, iid, aid, repair_boxes)
                crowd = bool(ann.get("iscrowd", 0))
                out.append(Encoded(aid, ann["category_id"], crowd, box, kind, data, area, mask_box))
                continue
        else:
            message = (
                "missing key 'segmentation'"
                if seg is None
                else "'segmentation' must be a list of polygons or an RLE object, "
                f"got {type(seg).__name__}"
            )
            report.problem(message, **where)
        report.annotations_skipped += 1

    if not poly_anns:
        return out
    encoded = polygons([a["segmentation"] for a in poly_anns], height, width)
    given = boxes.copy()
    given[:, 2:] += given[:, :2]
    extent = encoded.boxes.copy()
    extent[:, 2:] += extent[:, :2]
    agree = np.all(np.abs(given - extent) <= BOX_TOLERANCE, axis=1).tolist()
    given_boxes = boxes.tolist()
    extents = encoded.boxes.tolist()
    for i, ann in enumerate(poly_anns):
        aid = ann["id"]
        if encoded.ok(i):
            # An encoded polygon has its kind and bytes (None marks one with problems).
            kind, data, area = encoded.kinds[i] or "", encoded.data[i] or b"", encoded.areas[i]
            mx, my, mw, mh = extents[i]
            mask_box = (mx, my, mw, mh)
        else:
            kept = _without_degenerate_parts(
                ann["segmentation"], height, width, report, file, iid, aid
            )
            if kept is None:
                for message in encoded.problems[i]:
                    report.problem(message, file=file, image_id=iid, annotation_id=aid)
                report.annotations_skipped += 1
                continue
            kind, data, area, mask_box = kept
            agree[i] = False  # the box is checked against the parts that are left
        if agree[i]:
            x, y, w, h = given_boxes[i]
            box = (x, y, w, h)
        else:
            box = _box(given_boxes[i], mask_box, "polygon", report, file, iid, aid, repair_boxes)
        out.append(
            Encoded(
                aid,
                ann["category_id"],
                bool(ann.get("iscrowd", 0)),
                box,
                kind,
                data,
                area,
                mask_box,
            )
        )
    return out


# What polygon_problems says of a part that has no area: such a part of a multi-part
# polygon is dropped (pycocotools rasterises the rest), not the whole annotation.
_DEGENERATE = ("coordinates; it needs at least 6", "has zero area")


def _without_degenerate_parts(
    seg: Any, height: int, width: int, report: ImportReport, file: str, iid: Any, aid: Any
) -> tuple[str, bytes, int, tuple[float, float, float, float]] | None:
    """A multi-part polygon without its degenerate parts (a note says which), encoded;
    None when another problem spoils it or no part is left."""
    if type(seg) is not list or len(seg) < 2:
        return None
    kept, dropped = [], []
    for index, part in enumerate(seg):
        problems = polygon_problems(part, width, height)
        if not problems:
            kept.append(part)
        elif all(any(d in p for d in _DEGENERATE) for p in problems):
            dropped.append(index)
        else:
            return None
    if not kept or not dropped:
        return None
    encoded = encode_polygons([kept], height, width)
    if not encoded.ok(0):
        return None
    report.note(
        f"polygon part{'s' if len(dropped) > 1 else ''} {', '.join(map(str, dropped))} "
        f"of {len(seg)} {'have' if len(dropped) > 1 else 'has'} no area and "
        f"{'were' if len(dropped) > 1 else 'was'} dropped; the other {len(kept)} kept",
        file=file,
        image_id=iid,
        annotation_id=aid,
    )
    x, y, w, h = encoded.boxes[0].tolist()
    return encoded.kinds[0], encoded.data[0], encoded.areas[0], (x, y, w, h)  # type: ignore[return-value]


def _box_only(ann: dict, image: SourceImage, report: ImportReport) -> Encoded | None:
    """A box-only annotation as a marked instance with its box, or None (a problem)."""
    where = {"file": image.file, "image_id": image.key, "annotation_id": ann["id"]}
    problems = _field_problems(ann)
    if not problems:
        x, y, w, h = (float(v) for v in ann["bbox"])
        if w <= 0 or h <= 0:
            problems.append(f"the bbox {ann['bbox']} has no area and there is no mask")
        elif (
            x < -BOX_TOLERANCE
            or y < -BOX_TOLERANCE
            or (x + w > image.width + BOX_TOLERANCE or y + h > image.height + BOX_TOLERANCE)
        ):
            problems.append(
                f"the bbox {ann['bbox']} lies outside the {image.width}x{image.height} image"
            )
        elif ann.get("iscrowd"):
            problems.append("a crowd region needs a mask; its segmentation is empty")
    for message in problems:
        report.problem(message, **where)
    if problems:
        return None
    report.box_only += 1
    box = (x, y, w, h)
    return Encoded(ann["id"], ann["category_id"], False, box, BOX_ONLY, b"", 0, box)


def _field_problems(ann: dict) -> list[str]:
    """What is wrong with an annotation's iscrowd and bbox."""
    problems = []
    crowd = ann.get("iscrowd", 0)
    if type(crowd) not in (int, bool) or crowd not in (0, 1):
        problems.append(f"'iscrowd' must be 0 or 1, got {crowd!r}")
    bbox = ann.get("bbox")
    if bbox is None:
        problems.append("missing key 'bbox'")
    elif not (type(bbox) is list and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        problems.append(f"'bbox' must be 4 numbers [x, y, width, height], got {bbox!r}")
    elif bbox[2] < 0 or bbox[3] < 0:
        problems.append(f"the bbox {bbox} has a negative width or height")
    return problems


def _box(
    bbox: list,
    mask_box: tuple,
    what: str,
    report: ImportReport,
    file: str,
    iid: Any,
    aid: Any,
    repair: bool,
) -> tuple[float, float, float, float]:
    """The instance's box: the file's, with a note when it disagrees with the mask's
    extent; with ``repair``, the mask's extent instead (and a note)."""
    x, y, w, h = (float(v) for v in bbox)
    mx, my, mw, mh = mask_box
    gap = max(abs(x - mx), abs(y - my), abs(x + w - mx - mw), abs(y + h - my - mh))
    if gap <= BOX_TOLERANCE:
        return (x, y, w, h)
    report.box_disagrees(gap)
    message = (
        f"the bbox [{x:g}, {y:g}, {w:g}, {h:g}] disagrees with its {what}, which spans "
        f"[{mx:g}, {my:g}, {mw:g}, {mh:g}] (by {gap:.3g} px)"
    )
    where = {"file": file, "image_id": iid, "annotation_id": aid}
    if repair:
        report.note(message + "; the mask's extent is kept (--repair-boxes)", **where)
        return (mx, my, mw, mh)
    report.note(message + "; the file's bbox is kept", **where)
    return (x, y, w, h)

"""Reading COCO and LVIS documents: their shape checked record by record.

COCO and LVIS share one layout (``images``, ``annotations``, ``categories``); LVIS
adds per-image ``neg_category_ids`` and ``not_exhaustive_category_ids`` and richer
categories. Every check adds a located problem to the report and drops the record,
so that one pass lists everything that is wrong. :func:`read_document` gives the
checked file as one value; :mod:`.masks` encodes its annotations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from ..errors import VocabularyError
from ..vocabulary import category_from_entry, normalize
from .locate import ImageSearch, find_file, image_search, keep_readable, relative_names
from .report import FormatError, ImportReport, display_path
from .source import SourceCategory, SourceFile, SourceImage

if TYPE_CHECKING:  # the options' module calls the importers: a type here, not an import
    from .api import ImportOptions

# Image fields with a column of their own; any other field is kept in images.extra.
IMAGE_FIELDS = frozenset(
    {"id", "file_name", "width", "height", "coco_url", "neg_category_ids",
     "not_exhaustive_category_ids"}
)  # fmt: skip

Progress = Callable[[int, int], None]


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int


# Ids are stored as signed 64-bit integers (SQLite, PostgreSQL BIGINT).
_ID_RANGE = "the id is out of range: ids must lie between -2^63 and 2^63 - 1"


def _fits_id(value: int) -> bool:
    return -(2**63) <= value < 2**63


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

"""labelme files: polygons, rectangles, circles and masks as instances.

One labelme JSON describes one image: its ``shapes`` (``label``, ``points``,
``shape_type``, ``group_id``), the image's path (``imagePath``, relative to the JSON
file) and often the image itself, base64-encoded in ``imageData``. Shapes that share
a ``group_id`` and a label are the parts of one instance. Polygons, rectangles,
circles, masks and labelme 5/6's oriented rectangles (4 corners) are regions. Points,
lines and line strips are not: they are skipped with a note, and a label used only by
them makes no category.

The image file is used where it exists inside the image root (the imported folder,
or ``images_root``; see :class:`pipeline.images.ImageRoot`); otherwise the embedded
copy is written into the project's ``images/`` folder, at the path its export
``file_name`` gives (the JSON's folder inside the imported one, and a sanitised base
name of ``imagePath``), so that ``images/`` is the one root of those images.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import GeometryError, LongtailError
from ..images import SUPPORTED_SUFFIXES, ImageRoot, OutsideRootError, scan_root
from ..masks.geometry import Mask, polygon_problems
from ..store.database import Project
from ..team.roles import IMPORT, require
from ..vocabulary import Category, normalize
from .importing import Steps, run_import
from .jsonio import JSONReadError, atomic_write_bytes, load_json, no_cycle_collection
from .locate import keep_readable
from .masks import encode_mask, encode_polygons
from .report import FormatError, ImportReport, display_path
from .source import Encoded, SourceCategory, SourceImage

if TYPE_CHECKING:  # the options' module calls the importers: a type here, not an import
    from .api import ImportOptions

Progress = Callable[[int, int], None]

REGION_TYPES = ("polygon", "rectangle", "circle", "mask", "oriented_rectangle")
NOT_REGIONS = ("point", "points", "line", "linestrip")
CIRCLE_POINTS = 64  # vertices of the polygon that stands for a circle
IMAGES_FOLDER = "images"  # in the project folder: where embedded images are written

_ORIENTATION_TAG = 0x0112
_TRANSPOSED = frozenset({5, 6, 7, 8})  # EXIF orientations that turn the image by 90 degrees
_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}


@dataclass
class _Embedded:
    """An image that exists only inside its labelme file, to be written on import."""

    data: bytes
    target: Path
    created: bool = False


@dataclass
class _Parsed:
    source: ImageRoot  # the imported folder (a file's folder): where the JSON files are
    images_root: ImageRoot  # where the image files must be
    images: list[SourceImage] = field(default_factory=list)
    embedded: dict[int, _Embedded] = field(default_factory=dict)  # by index in images
    labels: dict[str, str] = field(default_factory=dict)  # normalised -> first spelling
    targets: dict[Path, bytes] = field(default_factory=dict)  # embedded images planned


def import_labelme(
    project: Project,
    path_or_folder: str | os.PathLike[str],
    *,
    split: str | None = None,
    lenient: bool = False,
    progress: Progress | None = None,
    images_root: str | os.PathLike[str] | None = None,
    follow_symlinks: bool = False,
    options: ImportOptions | None = None,
) -> ImportReport:
    """Import one labelme JSON file, or every ``*.json`` under a folder, in one transaction.

    Labels become categories (matched with the vocabulary by name, synonym or
    synset). Strict by default: any problem refuses everything (FormatError with the
    report); ``lenient`` imports the good part and writes the report next to the
    project. Images must lie inside ``images_root`` (default: the imported folder, or
    the file's folder); paths that leave it, and links leading out unless
    ``follow_symlinks``, are refused unopened. ``options`` (from
    :func:`pipeline.formats.import_annotations`) gives all four instead.
    """
    if options is not None:
        split, lenient = options.split, options.lenient
        images_root, follow_symlinks = options.images_root, options.follow_symlinks
    require(project, IMPORT)  # an admin's action, refused before any file is read
    with no_cycle_collection():
        return _import_labelme(
            project,
            Path(path_or_folder).expanduser(),
            split,
            lenient,
            progress,
            images_root,
            follow_symlinks,
        )


def _import_labelme(
    project: Project,
    source: Path,
    split: str | None,
    lenient: bool,
    progress: Progress | None,
    images_root: str | os.PathLike[str] | None,
    follow_symlinks: bool,
) -> ImportReport:
    split = split or project.settings().default_split
    report = ImportReport(source=str(source), format="labelme", split=split, lenient=lenient)
    if images_root is not None and not Path(images_root).expanduser().is_dir():
        raise LongtailError(f"image folder {images_root} does not exist or is not a folder")
    if source.is_dir():
        root = ImageRoot.at(source, follow_symlinks=follow_symlinks)
        refused: list[tuple[str, str]] = []
        files = sorted(p for p in scan_root(root, refused) if p.suffix == ".json")
        for rel, reason in refused:
            where = {"file": display_path(root.folder / rel)}
            if rel.endswith(".json"):
                report.problem(f"{reason}; the file was not read", **where)
            elif rel.endswith("/"):
                report.note(f"the folder {reason}; it was not searched", **where)
        if not files and not report.problems:
            report.problem("the folder holds no labelme .json files", file=display_path(source))
        if not files:
            raise FormatError(report)
    elif source.exists():
        root = ImageRoot.at(source.parent, follow_symlinks=follow_symlinks)
        files = [root.folder / source.name]  # named by the user: read even if a link
    else:
        report.problem("file not found", file=display_path(source))
        raise FormatError(report)
    parsed = _Parsed(
        source=root,
        images_root=ImageRoot.at(images_root, follow_symlinks=follow_symlinks)
        if images_root is not None
        else root,
    )

    steps = Steps(progress, 3 * len(files))
    _parse_files(project, files, parsed, report, steps.phase(len(files)))
    categories = [
        SourceCategory(key, Category(name=name)) for key, name in sorted(parsed.labels.items())
    ]

    def encode(image: SourceImage) -> list[Encoded]:
        return _encode_shapes(image, report)

    embedded = [image for i, image in enumerate(parsed.images) if i in parsed.embedded]
    on_disk = [image for i, image in enumerate(parsed.images) if i not in parsed.embedded]
    readable = {
        id(image) for image in keep_readable(on_disk, report, steps.phase(len(files)), _where_file)
    }
    if report.problems and not lenient:
        for image in parsed.images:
            encode(image)  # every problem in one report
        raise FormatError(report)
    roots = [parsed.images_root]
    if parsed.embedded and project.folder is not None:
        roots.append(ImageRoot.at(project.folder / IMAGES_FOLDER))
    written: list[Any] = []
    created_folders: list[Path] = []
    try:
        written = _write_embedded(parsed, report, created_folders)
        readable |= {id(image) for image in keep_readable(embedded, report, None, _where_file)}
        run_import(
            project,
            report,
            categories=categories,
            images=[image for image in parsed.images if id(image) in readable],
            encode=encode,
            exhaustive=None,
            progress=steps.phase(len(files)),
            roots=roots,
        )
    except BaseException as exc:
        # Nothing was imported: take back every file and folder this import wrote,
        # and the notes that said it wrote them.
        for item in parsed.embedded.values():
            if item.created:
                item.target.unlink(missing_ok=True)
        for folder in reversed(created_folders):
            with contextlib.suppress(OSError):
                folder.rmdir()
        report.notes = [n for n in report.notes if all(n is not w for w in written)]
        if isinstance(exc, FormatError):
            raise FormatError(report) from None
        raise
    steps.finish()
    return report


# ---------------------------------------------------------------- reading the files


def _parse_files(
    project: Project,
    files: list[Path],
    parsed: _Parsed,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    for done, path in enumerate(files, 1):
        _parse_file(project, path, report, parsed)
        if progress is not None:
            progress(done, len(files))


def _parse_file(project: Project, path: Path, report: ImportReport, parsed: _Parsed) -> None:
    file = display_path(path)
    try:
        doc = load_json(path)
    except JSONReadError as exc:
        report.problem(str(exc), file=file)
        return
    if not isinstance(doc, dict):
        report.problem(f"the file holds a {type(doc).__name__}, not a labelme object", file=file)
        return
    before = len(report.problems)
    shapes: Any = doc.get("shapes")
    if not isinstance(shapes, list):
        report.problem(
            "missing key 'shapes'" if shapes is None else "'shapes' must be a list", file=file
        )
    size: list[int] = []
    for key in ("imageWidth", "imageHeight"):
        value: Any = doc.get(key)
        if type(value) is not int or value <= 0:
            report.problem(
                f"missing key '{key}'" if value is None else f"'{key}' must be a positive integer",
                file=file,
            )
        size.append(value)
    image_path = doc.get("imagePath")
    image_data = doc.get("imageData")
    if image_path is not None and not isinstance(image_path, str):
        report.problem("'imagePath' must be a string", file=file)
        image_path = None
    name = (image_path or "").replace("\\", "/")
    found = refused = None
    looked = ""
    if name:
        try:
            candidate = parsed.images_root.place(os.path.join(path.parent, name))
        except OutsideRootError as exc:
            refused = f"'imagePath' {name!r} {exc.reason}"
        else:
            found = candidate if candidate.is_file() else None
            looked = f" (looked for {candidate})"
    embedded = None
    if found is None:
        if isinstance(image_data, str) and image_data:
            if refused is not None:
                report.note(f"{refused}; the embedded imageData is used instead", file=file)
            try:
                data = base64.b64decode(image_data, validate=True)
            except (binascii.Error, ValueError):
                report.problem("'imageData' is not valid base64", file=file)
                data = b""
            if data:
                embedded = _embedded_target(project, path, name, data, tuple(size), parsed, report)
        elif refused is not None:
            report.problem(f"{refused}; the file was not opened", file=file)
        else:
            report.problem(f"image file not found{looked} and no embedded imageData", file=file)
    if len(report.problems) > before:
        report.images_skipped += 1
        return
    for shape in shapes:
        # Only regions become instances: a label used only by points or lines is no category.
        if not isinstance(shape, dict) or (shape.get("shape_type") or "polygon") in NOT_REGIONS:
            continue
        label = shape.get("label")
        if isinstance(label, str) and label.strip():
            parsed.labels.setdefault(normalize(label), label.strip())
    if embedded is not None:
        file_name = embedded.target.relative_to(project.folder / IMAGES_FOLDER).as_posix()  # type: ignore[operator]
    else:
        file_name = found.relative_to(parsed.images_root.folder).as_posix()  # type: ignore[union-attr]
    image = SourceImage(
        key=file,
        file=file,
        file_name=file_name,
        path=embedded.target if embedded else found,  # type: ignore[arg-type]
        width=size[0],
        height=size[1],
        annotations=list(enumerate(shapes)),
    )
    if embedded is not None:
        parsed.embedded[len(parsed.images)] = embedded
    parsed.images.append(image)


def _embedded_target(
    project: Project,
    path: Path,
    name: str,
    data: bytes,
    expected: tuple[Any, ...],
    parsed: _Parsed,
    report: ImportReport,
) -> _Embedded | None:
    """Where an embedded image goes: ``<project>/images/<folder>/<base name>``, the
    folder being the JSON's inside the imported one, the base name a sanitised one of
    ``imagePath`` (renamed on a clash with other content)."""
    file = display_path(path)
    if project.folder is None:
        report.problem(
            "the image exists only as embedded imageData, and a database-server project "
            "has no folder to write it to",
            file=file,
        )
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            kind = img.format
            size = img.size
            if img.getexif().get(_ORIENTATION_TAG, 1) in _TRANSPOSED:
                size = size[::-1]  # shown turned by 90 degrees, as images.probe_image sees it
    except Image.DecompressionBombError as exc:
        report.problem(f"'imageData' is refused: {exc}", file=file)
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        report.problem(f"'imageData' is not an image ({exc})", file=file)
        return None
    if all(type(v) is int for v in expected) and size != expected:
        report.problem(
            f"the file says the image is {expected[0]}x{expected[1]}, but its imageData is "
            f"{size[0]}x{size[1]}",
            file=file,
        )
        return None
    base = safe_image_name(name, path.stem, _SUFFIXES.get(kind or "", ".img"))
    folder = Path(os.path.relpath(path.parent, parsed.source.folder)).as_posix()
    relative = base if folder == "." or folder.startswith("..") else f"{folder}/{base}"
    images = ImageRoot.at(project.folder / IMAGES_FOLDER)
    target = images.place(relative)  # inside by construction; checked all the same
    if _taken(target, data, parsed):
        stem, suffix = os.path.splitext(target.name)
        target = target.with_name(f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}{suffix}")
    parsed.targets[target] = data
    return _Embedded(data, target)


def _taken(target: Path, data: bytes, parsed: _Parsed) -> bool:
    """Whether ``target`` holds, or will hold, other content than ``data``."""
    planned = parsed.targets.get(target)
    if planned is not None:
        return planned != data
    return target.exists() and target.read_bytes() != data


_UNSAFE = frozenset('/\\:*?"<>|')


def safe_image_name(image_path: str, fallback_stem: str, suffix: str) -> str:
    """A file name for an embedded image: the base name of ``image_path`` without
    control or separator characters, or ``fallback_stem`` + ``suffix`` where that leaves
    nothing usable (``.``, ``..``, empty, hidden). Never a path."""

    def clean(text: str) -> str:
        return "".join(ch for ch in text if ch.isprintable() and ch not in _UNSAFE).strip()

    base = clean(PurePosixPath(image_path.replace("\\", "/")).name) if image_path else ""
    stem, ext = os.path.splitext(base)
    if not stem.strip(". ") or base.startswith("."):
        stem, ext = clean(fallback_stem).lstrip(".") or "image", ""
    if ext.lower() not in SUPPORTED_SUFFIXES:
        stem, ext = stem + ext, suffix
    return f"{stem[:200]}{ext}"


def _write_embedded(
    parsed: _Parsed, report: ImportReport, created_folders: list[Path]
) -> list[Any]:
    """Write the embedded images (each folder made is listed in ``created_folders``);
    the notes that say so are returned, to be taken back if the import fails."""
    notes = []
    for embedded in parsed.embedded.values():
        if embedded.target.exists():
            continue  # the same image, written by an earlier import
        missing = []
        folder = embedded.target.parent
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        created_folders.extend(reversed(missing))
        atomic_write_bytes(embedded.target, embedded.data)
        embedded.created = True
        report.note(f"wrote the embedded image to {embedded.target}")
        notes.append(report.notes[-1])
    return notes


def _where_file(image: SourceImage) -> dict:
    return {"file": image.file}


# ---------------------------------------------------------------- shapes to masks


def _encode_shapes(image: SourceImage, report: ImportReport) -> list[Encoded]:
    """Group the shapes into instances and encode them (polygons in bulk)."""
    file, height, width = image.file, image.height, image.width
    groups: dict[Any, list[tuple[int, str, list[Any] | np.ndarray]]] = {}
    labels: dict[Any, str] = {}
    for index, shape in image.annotations:
        part = _shape_part(index, shape, width, height, report, file)
        if part is None:
            continue
        label = normalize(shape["label"])
        group = shape.get("group_id")
        key = (label, group) if group is not None else ("shape", index)
        groups.setdefault(key, []).append((index, *part))
        labels[key] = label
    keys = list(groups)
    polygon_keys = [k for k in keys if all(kind == "polygon" for _, kind, _ in groups[k])]
    encoded = encode_polygons(
        [[coords for _, _, coords in groups[k]] for k in polygon_keys], height, width
    )
    out: list[Encoded] = []
    by_key = {k: i for i, k in enumerate(polygon_keys)}
    for key in keys:
        first = groups[key][0][0]
        where = {"file": file, "shape": first}
        if key in by_key:
            i = by_key[key]
            if not encoded.ok(i):
                for message in encoded.problems[i]:
                    report.problem(_shape_message(message, groups[key]), **where)
                report.annotations_skipped += 1
                continue
            kind, data, area = encoded.kinds[i], encoded.data[i], encoded.areas[i]
            bbox = tuple(encoded.boxes[i].tolist())
        else:
            problems = [
                f"shape {i}: {p}"
                for i, kind, value in groups[key]
                if kind == "polygon"
                for p in polygon_problems(value, width, height)
            ]
            for message in problems:
                report.problem(message, **where)
            if problems:
                report.annotations_skipped += 1
                continue
            try:
                kind, data, area, bbox = encode_mask(_union(groups[key], height, width))
            except GeometryError as exc:
                report.problem(str(exc), **where)
                report.annotations_skipped += 1
                continue
        out.append(Encoded(first, labels[key], False, bbox, kind, data, area, bbox))  # type: ignore[arg-type]
    return out


def _shape_message(message: str, parts: list[tuple[int, str, Any]]) -> str:
    """geometry's 'part N: ...' said as the labelme shape it is."""
    if message.startswith("part "):
        head, _, rest = message.partition(": ")
        n = int(head.split()[1])
        if len(parts) > 1 and n < len(parts):
            return f"shape {parts[n][0]} of the group: {rest}"
        return rest
    return message


def _shape_part(
    index: int, shape: Any, width: int, height: int, report: ImportReport, file: str
) -> tuple[str, list[float] | np.ndarray] | None:
    """('polygon', flat coordinates) or ('bitmap', full-size array) for a region shape."""
    where = {"file": file, "shape": index}
    if not isinstance(shape, dict):
        report.problem("the shape is not an object", **where)
        return None
    label = shape.get("label")
    if not isinstance(label, str) or not label.strip():
        report.problem("missing key 'label'" if label is None else "the label is empty", **where)
        return None
    kind = shape.get("shape_type") or "polygon"
    if kind in NOT_REGIONS:
        report.note(f"skipped: a {kind} shape ({label}) is not a region", **where)
        return None
    if kind not in REGION_TYPES:
        report.problem(f"unknown shape_type {kind!r}", **where)
        return None
    points = shape.get("points")
    try:
        ring = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        ring = np.zeros((0, 0))
    if ring.ndim != 2 or ring.shape[1:] != (2,):
        report.problem("'points' must be a list of [x, y] pairs", **where)
        return None
    if kind == "polygon":
        return "polygon", ring.reshape(-1).tolist()
    if kind == "oriented_rectangle":  # labelme 5/6: its 4 corners, drawn as a polygon
        if len(ring) != 4:
            report.problem(f"an oriented_rectangle needs 4 points, got {len(ring)}", **where)
            return None
        return "polygon", ring.reshape(-1).tolist()
    if len(ring) != 2:
        report.problem(f"a {kind} needs 2 points, got {len(ring)}", **where)
        return None
    if kind == "rectangle":
        (x0, y0), (x1, y1) = ring.min(axis=0), ring.max(axis=0)
        return "polygon", [x0, y0, x1, y0, x1, y1, x0, y1]
    if kind == "circle":
        (cx, cy), edge = ring
        radius = math.dist((cx, cy), edge)
        angles = np.linspace(0, 2 * np.pi, CIRCLE_POINTS, endpoint=False)
        circle = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
        # The polygon stands for a circle that may run off the image: keep what is inside.
        return "polygon", np.clip(circle, 0, [width, height]).reshape(-1).tolist()
    return _mask_part(shape, ring, width, height, report, where)


def _mask_part(
    shape: dict, ring: np.ndarray, width: int, height: int, report: ImportReport, where: dict
) -> tuple[str, np.ndarray] | None:
    """labelme's mask shape: a PNG of the box between its two points."""
    try:
        data = base64.b64decode(shape.get("mask") or "", validate=True)
        with Image.open(io.BytesIO(data)) as img:
            patch = np.asarray(img.convert("L")) > 0
    except Image.DecompressionBombError as exc:
        report.problem(f"'mask' is refused: {exc}", **where)
        return None
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        report.problem("'mask' is not a base64 PNG", **where)
        return None
    x0, y0 = (int(round(v)) for v in ring.min(axis=0))
    h, w = patch.shape
    if x0 < 0 or y0 < 0 or x0 + w > width or y0 + h > height:
        report.problem(
            f"the {w}x{h} mask at ({x0}, {y0}) runs outside the {width}x{height} image", **where
        )
        return None
    bitmap = np.zeros((height, width), dtype=np.uint8)
    bitmap[y0 : y0 + h, x0 : x0 + w] = patch
    return "bitmap", bitmap


def _union(parts: list[tuple[int, str, Any]], height: int, width: int) -> Mask:
    """One RLE mask from the parts of a group holding a bitmap."""
    bitmap = np.zeros((height, width), dtype=np.uint8)
    for _, kind, value in parts:
        if kind == "bitmap":
            bitmap |= value
        else:
            bitmap |= Mask.from_polygons([value], height, width).to_bitmap()
    return Mask.from_bitmap(bitmap)


__all__ = ["import_labelme"]

"""YOLO datasets (ultralytics' layout): segmentation polygons and detection boxes.

A dataset is a folder with ``data.yaml`` (``names``; ``train`` / ``val`` / ``test``
image folders) and, for each image ``.../images/<...>/NAME.jpg``, a label file
``.../labels/<...>/NAME.txt``: one object a line, ``CLASS x1 y1 x2 y2 ...`` (a polygon,
coordinates divided by the image's width and height) or ``CLASS cx cy w h`` (a box).

Import: polygons become instances, boxes box-only (marked) instances; class ``k`` is
category id ``k`` named ``names[k]``. Export: each instance one polygon line (a
multi-part mask's parts joined by zero-width bridges, as ultralytics' own COCO
converter joins them; holes filled, RLE masks traced); crowd regions are left out.
No library: the format is lines of numbers, and ultralytics (the reference reader)
is AGPL (docs/decisions/0029-more-formats.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml  # PyYAML (MIT): data.yaml

from ..errors import LongtailError
from ..images import SUPPORTED_SUFFIXES
from .adapting import Adapted, ExportedImage, dataset_name, image_size, place_image
from .report import ImportReport, display_path

SPLIT_KEYS = ("train", "val", "test")
_NOISE = 1e-3  # normalised coordinates this far outside [0, 1] are float noise: clipped


# ---------------------------------------------------------------- import


def read_yolo(folder: Path, report: ImportReport) -> Adapted:
    """A YOLO dataset folder as a COCO-shaped document (see the module)."""
    if folder.is_file():
        folder = folder.parent
    config = _config(folder)
    names = _names(config, folder)
    categories = [{"id": k, "name": name} for k, name in sorted(names.items())]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    splits: dict[int, str] = {}
    for split, image_path in _image_files(folder, config):
        image_id = len(images) + 1
        relative = image_path.relative_to(folder).as_posix()
        size = image_size(image_path, report, relative)
        if size is None:
            continue
        width, height = size
        images.append({"id": image_id, "file_name": relative, "width": width, "height": height})
        if split is not None:
            splits[image_id] = split
        label = _label_path(image_path)
        if not label.is_file():
            continue  # an image with no label file has no objects (ultralytics' reading)
        where = display_path(label)
        for number, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
            ann = _annotation(line, width, height, names, report, where, number)
            if ann is not None:
                ann.update(id=len(annotations) + 1, image_id=image_id)
                annotations.append(ann)
    doc = {"images": images, "annotations": annotations, "categories": categories}
    return Adapted(doc=doc, root=folder, source=folder / "data.yaml", splits=splits)


def _config(folder: Path) -> dict[str, Any]:
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        path = folder / name
        if path.is_file():
            try:
                config = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise LongtailError(f"{display_path(path)}: not YAML ({exc})") from None
            if not isinstance(config, dict):
                raise LongtailError(f"{display_path(path)}: must hold a mapping (names, train)")
            return config
    return {}


def _names(config: dict[str, Any], folder: Path) -> dict[int, str]:
    names = config.get("names")
    if names is None and (folder / "classes.txt").is_file():
        names = [n for n in (folder / "classes.txt").read_text().splitlines() if n.strip()]
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise LongtailError(
            f"{display_path(folder)}: no class names (data.yaml 'names', or classes.txt)"
        )
    out = {}
    for key, name in names.items():
        if type(key) is not int or not isinstance(name, str) or not name.strip():
            raise LongtailError(
                f"{display_path(folder)}: data.yaml 'names' must map class numbers to names, "
                f"got {key!r}: {name!r}"
            )
        out[key] = name
    return out


def _image_files(folder: Path, config: dict[str, Any]) -> Iterator[tuple[str | None, Path]]:
    """(split, image file) for every image: those of data.yaml's train/val/test folders,
    else every image under ``images/`` (a sub-folder named after a split gives it)."""
    seen: set[Path] = set()
    listed = False
    for split in SPLIT_KEYS:
        entries = config.get(split)
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, str):
                continue
            base = Path(config["path"]) if isinstance(config.get("path"), str) else folder
            where = (base if base.is_absolute() else folder / base) / entry
            if not where.is_dir():
                continue  # a .txt list of images, or a missing folder: look below instead
            listed = True
            for path in _images_under(where):
                if path not in seen:
                    seen.add(path)
                    yield split, path
    if listed:
        return
    for path in _images_under(folder / "images"):
        parts = path.relative_to(folder / "images").parts
        named = parts[0] if len(parts) > 1 and parts[0] in SPLIT_KEYS else None
        yield named, path


def _images_under(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file()
    )


def _label_path(image: Path) -> Path:
    """ultralytics' rule: the last ``images`` folder of the path becomes ``labels``."""
    text = os.fspath(image)
    images, labels = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    head, sep, tail = text.rpartition(images)
    return Path(head + labels + tail if sep else text).with_suffix(".txt")


def _annotation(
    line: str,
    width: int,
    height: int,
    names: dict[int, str],
    report: ImportReport,
    file: str,
    number: int,
) -> dict[str, Any] | None:
    words = line.split()
    if not words:
        return None
    where = {"file": file, "annotation_id": f"line {number}"}
    try:
        cls = int(words[0])
        values = [float(w) for w in words[1:]]
    except ValueError:
        report.problem(f"not a class number and coordinates: {line[:60]!r}", **where)
        return None
    if cls not in names:
        report.problem(f"class {cls} is not in data.yaml's names", **where)
        return None
    if len(values) < 4 or (len(values) > 4 and (len(values) < 6 or len(values) % 2)):
        report.problem(
            f"{len(values)} numbers after the class: a box needs 4, a polygon 6 or more "
            "(an even count)",
            **where,
        )
        return None
    if len(values) == 4:
        cx, cy, w, h = values
        box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
        return {"category_id": cls, "segmentation": [], "bbox": box, "iscrowd": 0}
    xs = [min(max(v, 0.0), 1.0) if -_NOISE <= v <= 1 + _NOISE else v for v in values[0::2]]
    ys = [min(max(v, 0.0), 1.0) if -_NOISE <= v <= 1 + _NOISE else v for v in values[1::2]]
    points = [c for x, y in zip(xs, ys, strict=True) for c in (x * width, y * height)]
    x0, x1 = min(points[0::2]), max(points[0::2])
    y0, y1 = min(points[1::2]), max(points[1::2])
    return {
        "category_id": cls,
        "segmentation": [points],
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "iscrowd": 0,
    }


# ---------------------------------------------------------------- export


def write_yolo(doc: dict[str, Any], images: dict[int, ExportedImage], out: Path) -> tuple[int, int]:
    """Write ``doc`` (a COCO document with polygon masks) as a YOLO segmentation
    dataset in ``out``; returns (objects written, crowd regions left out)."""
    categories = sorted(c["id"] for c in doc["categories"])
    index = {cid: k for k, cid in enumerate(categories)}
    names = {c["id"]: c["name"] for c in doc["categories"]}
    lines: dict[int, list[str]] = {i["id"]: [] for i in doc["images"]}
    sizes = {i["id"]: (i["width"], i["height"]) for i in doc["images"]}
    written = crowd = 0
    for ann in doc["annotations"]:
        if ann.get("iscrowd"):
            crowd += 1
            continue
        width, height = sizes[ann["image_id"]]
        seg = ann["segmentation"]
        if isinstance(seg, list) and seg:
            ring = joined_parts(seg)
            coords = " ".join(
                f"{v / (width if k % 2 == 0 else height):.6f}" for k, v in enumerate(ring)
            )
        else:  # a box-only instance (--include-unsegmented), or an empty mask
            x, y, w, h = ann["bbox"]
            if w <= 0 or h <= 0:
                continue
            coords = (
                f"{(x + w / 2) / width:.6f} {(y + h / 2) / height:.6f} "
                f"{w / width:.6f} {h / height:.6f}"
            )
        lines[ann["image_id"]].append(f"{index[ann['category_id']]} {coords}")
        written += 1
    splits: dict[str, str] = {}
    for image in doc["images"]:
        placed = images[image["id"]]
        split = placed.split
        name = dataset_name(image["file_name"], "images", split)
        place_image(placed.path, out / "images" / split / name)
        splits[split] = f"images/{split}"
        label = (out / "labels" / split / name).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines[image["id"]])
        label.write_text(text + "\n" if text else "", encoding="utf-8")
    config: dict[str, Any] = {"path": os.fspath(out.resolve())}
    config.update(sorted(splits.items()))
    config["names"] = {index[cid]: names[cid] for cid in categories}
    (out / "data.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return written, crowd


def joined_parts(parts: list[list[float]]) -> list[float]:
    """One ring from a polygon's parts: each part closed, then a zero-width bridge back
    through the first points of the parts before it (the union's pixels are the parts')."""
    if len(parts) == 1:
        return list(parts[0])
    ring: list[float] = []
    for part in parts:
        ring += list(part) + list(part[:2])  # closed: back to its first point
    for part in reversed(parts[:-1]):
        ring += list(part[:2])
    return ring


__all__ = ["joined_parts", "read_yolo", "write_yolo"]

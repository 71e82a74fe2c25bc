"""CVAT for images 1.1 XML: polygons, masks and boxes per image.

One ``annotations.xml``: ``<meta>`` with the labels, then an ``<image id name width
height [subset]>`` per image holding ``<polygon label points="x,y;x,y;..."
[group_id]>``, ``<mask label rle left top width height>`` (run lengths over the mask's
box, row by row, starting with a run of 0s) and ``<box label xtl ytl xbr ybr>``.

Import: polygons of one label sharing a ``group_id`` are the parts of one instance; a
mask is an instance; a box a box-only (marked) instance; polylines, points, ellipses
and tags are skipped with a note. ``subset`` gives the split. Export: polygons (one
instance's parts share a ``group_id``), RLE masks (holes, brush) as ``<mask>``,
box-only instances as ``<box>``; crowd regions are left out (CVAT has none).
Read and written with the standard library's ElementTree (decision 0029).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LongtailError
from ..masks.geometry import Mask
from .adapting import Adapted
from .report import ImportReport, display_path

SKIPPED = ("polyline", "points", "ellipse", "cuboid", "skeleton", "tag")


# ---------------------------------------------------------------- import


def read_cvat(path: Path, report: ImportReport) -> Adapted:
    """A CVAT for images 1.1 XML file as a COCO-shaped document (see the module)."""
    if path.is_dir():
        path = path / "annotations.xml"
    file = display_path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise LongtailError(f"{file}: not a CVAT XML file ({exc})") from None
    if root.tag != "annotations":
        raise LongtailError(f"{file}: the root element is <{root.tag}>, not <annotations>")
    names: dict[str, int] = {}
    for listed in root.iter("label"):
        name = (listed.findtext("name") or "").strip()
        if name:
            names.setdefault(name, len(names) + 1)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    splits: dict[int, str] = {}
    for element in root.iter("image"):
        image_id = len(images) + 1
        try:
            width, height = int(element.get("width", "")), int(element.get("height", ""))
        except ValueError:
            report.problem("an <image> needs integer width and height", file=file,
                           image_id=element.get("name"))  # fmt: skip
            continue
        name = element.get("name", "")
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        if element.get("subset"):
            splits[image_id] = element.get("subset", "").lower()
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for index, shape in enumerate(element):
            label = shape.get("label", "")
            where = {"file": file, "image_id": name, "annotation_id": f"{shape.tag} {index}"}
            if shape.tag in SKIPPED:
                report.note(f"a <{shape.tag}> is not a region; skipped", **where)
                continue
            if label not in names:
                names[label] = len(names) + 1  # a label the meta did not list
            ann: dict[str, Any] = {"category_id": names[label], "iscrowd": 0}
            if shape.tag == "polygon":
                points = _points(shape.get("points", ""))
                if points is None:
                    report.problem("the polygon's points are not x,y;x,y;...", **where)
                    continue
                group = shape.get("group_id")
                if group and (label, group) in groups:
                    groups[(label, group)]["segmentation"].append(points)
                    continue
                ann["segmentation"] = [points]
                if group:
                    groups[(label, group)] = ann
            elif shape.tag == "mask":
                mask = _mask(shape, width, height)
                if mask is None:
                    report.problem("the mask's rle, left, top, width, height are not sound",
                                   **where)  # fmt: skip
                    continue
                ann["segmentation"] = mask.coco_rle()
                ann["bbox"] = list(mask.bbox)
            elif shape.tag == "box":
                try:
                    x0, y0, x1, y1 = (
                        float(shape.get(k, "nan")) for k in ("xtl", "ytl", "xbr", "ybr")
                    )
                except ValueError:
                    x0 = math.nan
                if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
                    report.problem("the box's xtl, ytl, xbr, ybr are not numbers", **where)
                    continue
                ann["segmentation"] = []
                ann["bbox"] = [x0, y0, x1 - x0, y1 - y0]
            else:
                report.note(f"<{shape.tag}> is not a CVAT shape longtail reads; skipped", **where)
                continue
            ann.update(id=len(annotations) + 1, image_id=image_id)
            annotations.append(ann)
    for ann in annotations:
        if "bbox" not in ann:  # polygons: the extent of all their parts
            ann["bbox"] = _extent(ann["segmentation"])
    categories = [{"id": k, "name": name} for name, k in names.items()]
    doc = {"images": images, "annotations": annotations, "categories": categories}
    return Adapted(doc=doc, root=path.parent, source=path, splits=splits)


def _points(text: str) -> list[float] | None:
    try:
        out = [float(v) for pair in text.split(";") for v in pair.split(",")]
    except ValueError:
        return None
    return out if len(out) >= 6 and len(out) % 2 == 0 else None


def _extent(parts: list[list[float]]) -> list[float]:
    xs = [v for part in parts for v in part[0::2]]
    ys = [v for part in parts for v in part[1::2]]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def _mask(shape: ET.Element, width: int, height: int) -> Mask | None:
    try:
        runs = [int(v) for v in shape.get("rle", "").split(",") if v.strip()]
        left, top = int(float(shape.get("left", ""))), int(float(shape.get("top", "")))
        w, h = int(float(shape.get("width", ""))), int(float(shape.get("height", "")))
    except ValueError:
        return None
    if w <= 0 or h <= 0 or left < 0 or top < 0 or left + w > width or top + h > height:
        return None
    if any(r < 0 for r in runs) or sum(runs) != w * h:
        return None
    values = np.zeros(len(runs), dtype=np.uint8)
    values[1::2] = 1
    crop = np.repeat(values, runs).reshape(h, w)
    bitmap = np.zeros((height, width), dtype=np.uint8)
    bitmap[top : top + h, left : left + w] = crop
    return Mask.from_bitmap(bitmap)


# ---------------------------------------------------------------- export


def write_cvat(doc: dict[str, Any], splits: dict[int, str]) -> tuple[bytes, int, int]:
    """``doc`` (a COCO document, masks 'auto') as CVAT for images 1.1 XML bytes; also
    the shapes written and the crowd regions left out."""
    names = {c["id"]: c["name"] for c in doc["categories"]}
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(ET.SubElement(root, "meta"), "task")
    labels = ET.SubElement(meta, "labels")
    for category in sorted(doc["categories"], key=lambda c: c["id"]):
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = category["name"]
        ET.SubElement(label, "type").text = "any"
    by_image: dict[int, list[dict[str, Any]]] = {i["id"]: [] for i in doc["images"]}
    for ann in doc["annotations"]:
        by_image[ann["image_id"]].append(ann)
    written = crowd = 0
    group = 0
    for index, image in enumerate(doc["images"]):
        element = ET.SubElement(
            root,
            "image",
            id=str(index),
            name=image["file_name"],
            width=str(image["width"]),
            height=str(image["height"]),
        )
        if image["id"] in splits:
            element.set("subset", splits[image["id"]])
        for ann in by_image[image["id"]]:
            if ann.get("iscrowd"):
                crowd += 1
                continue
            label = names[ann["category_id"]]
            common = {"label": label, "source": "manual", "occluded": "0", "z_order": "0"}
            seg = ann["segmentation"]
            if isinstance(seg, dict):
                _mask_element(element, common, seg, image["height"], image["width"])
            elif seg:
                if len(seg) > 1:
                    group += 1
                for part in seg:
                    points = ";".join(
                        f"{x:.2f},{y:.2f}" for x, y in zip(part[0::2], part[1::2], strict=True)
                    )
                    attrs = {**common, "points": points}
                    if len(seg) > 1:
                        attrs["group_id"] = str(group)
                    ET.SubElement(element, "polygon", attrs)
            else:
                x, y, w, h = ann["bbox"]
                ET.SubElement(element, "box", {**common, "xtl": f"{x:.2f}", "ytl": f"{y:.2f}",
                              "xbr": f"{x + w:.2f}", "ybr": f"{y + h:.2f}"})  # fmt: skip
            written += 1
    ET.indent(root)
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data, written, crowd


def _mask_element(
    element: ET.Element, common: dict[str, str], seg: dict[str, Any], height: int, width: int
) -> None:
    bitmap = Mask.from_coco(seg, height, width).to_bitmap().astype(bool)
    rows, cols = np.nonzero(bitmap)
    if not len(rows):
        return
    top, left = int(rows.min()), int(cols.min())
    crop = bitmap[top : int(rows.max()) + 1, left : int(cols.max()) + 1].reshape(-1)
    change = np.flatnonzero(np.diff(crop.astype(np.int8))) + 1
    bounds = np.concatenate(([0], change, [len(crop)]))
    runs = np.diff(bounds).tolist()
    if crop[0]:
        runs = [0, *runs]  # CVAT's runs start with the 0s
    ET.SubElement(element, "mask", {**common, "rle": ", ".join(map(str, runs)),
                  "left": str(left), "top": str(top),
                  "width": str(crop.size // (int(rows.max()) + 1 - top)),
                  "height": str(int(rows.max()) + 1 - top)})  # fmt: skip


__all__ = ["read_cvat", "write_cvat"]

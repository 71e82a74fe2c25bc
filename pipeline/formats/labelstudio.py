"""Label Studio JSON exports: a list of tasks, each an image and its annotations.

A task is ``{"id", "data": {"image": URL or path}, "annotations": [{"result": [...]}]}``;
each result has a ``type`` and a ``value`` whose coordinates are percentages of the
image's ``original_width`` / ``original_height``:

- ``polygonlabels``: ``points`` [[x%, y%], ...] -> an instance;
- ``rectanglelabels``: ``x, y, width, height`` (%) -> a box-only (marked) instance
  (a rotated rectangle becomes its corners' polygon);
- ``brushlabels``: ``format: "rle"``, ``rle``: Label Studio's brush encoding (the
  rle-pack bit stream of thi.ng/umbrella over the RGBA pixels) -> an instance.

Import: the first annotation of each task is read (Label Studio's export holds one per
annotator; longtail keeps one truth per image); the image is found by the last part of
``data.image`` (``/data/upload/3/abc-a.jpg`` -> ``abc-a.jpg``) under the image root,
else by its name with Label Studio's upload prefix (``abc-``) removed. Export: polygons
for polygon masks (a multi-part mask: one result per part), brush RLE for RLE masks,
rectangles for box-only instances; crowd regions are left out. The encoder and decoder
are written here from the format's definition (label-studio-converter, Apache-2.0, is
too heavy a dependency for it; decision 0029).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LongtailError
from ..masks.geometry import Mask
from .adapting import Adapted
from .jsonio import JSONReadError, load_json
from .report import ImportReport, display_path

FROM_NAME, TO_NAME = "label", "image"
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")  # Label Studio prefixes uploads with 8 hex


# ---------------------------------------------------------------- brush RLE


class _Bits:
    def __init__(self, data: list[int]) -> None:
        self.bits = np.unpackbits(np.asarray(data, dtype=np.uint8))
        self.at = 0

    def read(self, size: int) -> int:
        chunk = self.bits[self.at : self.at + size]
        if len(chunk) < size:
            raise ValueError("the brush RLE ends early")
        self.at += size
        value = 0
        for bit in chunk.tolist():
            value = (value << 1) | bit
        return value


def decode_brush(rle: list[int]) -> np.ndarray:
    """Label Studio's brush RLE -> the flat values it encodes (RGBA pixels)."""
    bits = _Bits(rle)
    count = bits.read(32)
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(count, dtype=np.uint8)
    i = 0
    while i < count:
        repeat = bits.read(1)
        j = min(count, i + 1 + bits.read(sizes[bits.read(2)]))
        if repeat:
            out[i:j] = bits.read(word)
        else:
            for k in range(i, j):
                out[k] = bits.read(word)
        i = j
    return out


def encode_brush(values: np.ndarray) -> list[int]:
    """Flat byte values -> Label Studio's brush RLE (8-bit words, runs of 3/4/8/16 bits)."""
    flat = np.asarray(values, dtype=np.uint8).reshape(-1)
    sizes = (3, 4, 8, 16)
    out = [f"{len(flat):032b}", f"{8 - 1:05b}", "".join(f"{s - 1:04b}" for s in sizes)]
    if len(flat):
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], change))
        lengths = np.diff(np.concatenate((starts, [len(flat)])))
        for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            value = int(flat[start])
            if length == 1:  # a single value: a literal of one word, as Label Studio writes
                out.append(f"000000{value:08b}")
                continue
            while length > 0:
                run = min(length, 2**16)
                index = next(k for k, s in enumerate(sizes) if run - 1 < 2**s)
                out.append(f"1{index:02b}{run - 1:0{sizes[index]}b}{value:08b}")
                length -= run
    bits = "".join(out)
    bits += "0" * (8 - len(bits) % 8)  # 1 to 8 zeros, byte for byte as Label Studio pads
    return [int(bits[k : k + 8], 2) for k in range(0, len(bits), 8)]


# ---------------------------------------------------------------- import


def read_labelstudio(path: Path, report: ImportReport) -> Adapted:
    """A Label Studio JSON export as a COCO-shaped document (see the module)."""
    file = display_path(path)
    try:
        tasks = load_json(path)
    except JSONReadError as exc:
        raise LongtailError(str(exc)) from None
    if not isinstance(tasks, list):
        raise LongtailError(f"{file}: a Label Studio export is a list of tasks")
    names: dict[str, int] = {}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index, task in enumerate(tasks):
        key = task.get("id", f"[{index}]") if isinstance(task, dict) else f"[{index}]"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            report.problem("a task must be an object with 'data'", file=file, image_id=key)
            continue
        url = task["data"].get("image")
        if not isinstance(url, str) or not url:
            report.problem("the task has no data.image", file=file, image_id=key)
            continue
        results = _results(task)
        size = next(
            ((r.get("original_width"), r.get("original_height")) for r in results
             if isinstance(r, dict) and r.get("original_width")),
            None,
        )  # fmt: skip
        image_id = len(images) + 1
        image: dict[str, Any] = {"id": image_id, "file_name": _file_name(url)}
        if size is not None:  # else (a task with no region) from the file, when found
            image["width"], image["height"] = size
        images.append(image)
        for number, result in enumerate(results):
            where = {"file": file, "image_id": key, "annotation_id": f"result {number}"}
            ann = _annotation(result, names, report, where)
            if ann is not None:
                ann.update(id=len(annotations) + 1, image_id=image_id)
                annotations.append(ann)
    categories = [{"id": k, "name": name} for name, k in names.items()]
    doc = {"images": images, "annotations": annotations, "categories": categories}
    return Adapted(doc=doc, root=path.parent, source=path)


def _results(task: dict[str, Any]) -> list[Any]:
    for key in ("annotations", "completions"):  # completions: Label Studio < 1.0
        entries = task.get(key)
        if isinstance(entries, list) and entries and isinstance(entries[0], dict):
            result = entries[0].get("result")
            return result if isinstance(result, list) else []
    return []


def _file_name(url: str) -> str:
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return _UPLOAD_PREFIX.sub("", name)


def _annotation(
    result: Any, names: dict[str, int], report: ImportReport, where: dict[str, Any]
) -> dict[str, Any] | None:
    if not isinstance(result, dict) or not isinstance(result.get("value"), dict):
        report.problem("a result must be an object with a 'value'", **where)
        return None
    kind, value = result.get("type", ""), result["value"]
    width, height = result.get("original_width"), result.get("original_height")
    if kind not in ("polygonlabels", "rectanglelabels", "brushlabels"):
        report.note(f"a {kind!r} result is not a region; skipped", **where)
        return None
    label = (value.get(kind) or [None])[0]
    if not isinstance(label, str) or type(width) is not int or type(height) is not int:
        report.problem("needs a label, original_width and original_height", **where)
        return None
    category = names.setdefault(label, len(names) + 1)
    ann: dict[str, Any] = {"category_id": category, "iscrowd": 0}
    try:
        if kind == "polygonlabels":
            points = [float(c) for p in value["points"] for c in p]
            ring = [v * (width if k % 2 == 0 else height) / 100 for k, v in enumerate(points)]
            ann["segmentation"] = [ring]
            xs, ys = ring[0::2], ring[1::2]
            ann["bbox"] = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        elif kind == "rectanglelabels":
            x, y = float(value["x"]) * width / 100, float(value["y"]) * height / 100
            w, h = float(value["width"]) * width / 100, float(value["height"]) * height / 100
            angle = math.radians(float(value.get("rotation") or 0))
            if angle:
                ring = _rotated(x, y, w, h, angle)
                ann["segmentation"] = [ring]
                xs, ys = ring[0::2], ring[1::2]
                ann["bbox"] = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            else:
                ann["segmentation"], ann["bbox"] = [], [x, y, w, h]
        else:
            if value.get("format", "rle") != "rle":
                raise ValueError(f"brush format {value.get('format')!r}")
            pixels = decode_brush(value["rle"])
            if pixels.size != width * height * 4:
                raise ValueError("the brush RLE does not cover the image")
            mask = Mask.from_bitmap(
                (pixels.reshape(height, width, 4)[:, :, 3] > 0).astype(np.uint8)
            )
            ann["segmentation"], ann["bbox"] = mask.coco_rle(), list(mask.bbox)
    except (KeyError, TypeError, ValueError) as exc:
        report.problem(f"the {kind} value cannot be read ({exc})", **where)
        return None
    return ann


def _rotated(x: float, y: float, w: float, h: float, angle: float) -> list[float]:
    """Label Studio rotates a rectangle about its top-left corner."""
    c, s = math.cos(angle), math.sin(angle)
    corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
    return [v for dx, dy in corners for v in (x + dx * c - dy * s, y + dx * s + dy * c)]


# ---------------------------------------------------------------- export


def write_labelstudio(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
    """``doc`` (a COCO document, masks 'auto') as Label Studio tasks; also the results
    written and the crowd regions left out."""
    names = {c["id"]: c["name"] for c in doc["categories"]}
    by_image: dict[int, list[dict[str, Any]]] = {i["id"]: [] for i in doc["images"]}
    for ann in doc["annotations"]:
        by_image[ann["image_id"]].append(ann)
    tasks = []
    written = crowd = 0
    for image in doc["images"]:
        width, height = image["width"], image["height"]
        results = []
        for ann in by_image[image["id"]]:
            if ann.get("iscrowd"):
                crowd += 1
                continue
            label = names[ann["category_id"]]
            seg = ann["segmentation"]
            base = {"from_name": FROM_NAME, "to_name": TO_NAME, "original_width": width,
                    "original_height": height, "image_rotation": 0}  # fmt: skip
            if isinstance(seg, dict) or len(seg) > 1:
                # RLE masks and several parts: a brush mask (a polygon has one ring)
                bitmap = Mask.from_coco(seg, height, width).to_bitmap().astype(bool)
                rgba = np.repeat((bitmap * 255).astype(np.uint8)[:, :, None], 4, axis=2)
                value: dict[str, Any] = {
                    "format": "rle",
                    "rle": encode_brush(rgba),
                    "brushlabels": [label],
                }
                results.append({**base, "id": f"a{ann['id']}", "type": "brushlabels",
                                "value": value})  # fmt: skip
            elif seg:
                part = seg[0]
                points = [
                    [round(x * 100 / width, 6), round(y * 100 / height, 6)]
                    for x, y in zip(part[0::2], part[1::2], strict=True)
                ]
                value = {"points": points, "closed": True, "polygonlabels": [label]}
                results.append({**base, "id": f"a{ann['id']}", "type": "polygonlabels",
                                "value": value})  # fmt: skip
            else:
                x, y, w, h = ann["bbox"]
                value = {"x": x * 100 / width, "y": y * 100 / height, "width": w * 100 / width,
                         "height": h * 100 / height, "rotation": 0, "rectanglelabels": [label]}  # fmt: skip
                results.append({**base, "id": f"a{ann['id']}", "type": "rectanglelabels",
                                "value": value})  # fmt: skip
            written += 1
        tasks.append(
            {
                "id": image["id"],
                "data": {"image": image["file_name"]},
                "annotations": [{"id": image["id"], "result": results}],
            }
        )
    return tasks, written, crowd


__all__ = ["decode_brush", "encode_brush", "read_labelstudio", "write_labelstudio"]

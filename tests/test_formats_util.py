"""Helpers shared by the formats tests (no tests of its own).

A small synthetic COCO dataset with real image files, a snapshot of a project's
tables (to prove that a refused import changed nothing), placeholder images for
annotation files that come without pixels, and mask comparisons by rasterisation.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
from conftest import make_image
from PIL import Image
from sqlalchemy import select

from pipeline.masks.geometry import Mask
from pipeline.store import schema as s
from pipeline.store.database import Project

SNAPSHOT_TABLES = (
    s.meta,
    s.images,
    s.categories,
    s.instances,
    s.segments,
    s.image_categories,
)


def snapshot(project: Project) -> dict[str, list[tuple]]:
    """Every row of the tables an import writes to, in a comparable form."""
    out = {}
    with project.read() as conn:
        for table in SNAPSHOT_TABLES:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return out


def small_coco(root: Path) -> dict[str, Any]:
    """Three real images under ``root`` and a COCO document about them (write it into
    ``root`` too, so that the import finds the images beside it).

    Image 1 (40x30): a two-part polygon (person), a triangle (dog) and a crowd RLE
    (person). Image 2 (20x20): an uncompressed-RLE dog. Image 3 (16x12): nothing.
    """
    make_image(root / "a.png", 40, 30)
    make_image(root / "b.png", 20, 20, color=(1, 2, 3))
    make_image(root / "sub" / "c.png", 16, 12, color=(9, 9, 9))
    crowd = np.zeros((30, 40), dtype=np.uint8)
    crowd[20:28, 2:12] = 1
    crowd_rle = Mask.from_bitmap(crowd).coco_rle()
    dog = np.zeros((20, 20), dtype=np.uint8)
    dog[3:9, 4:15] = 1
    counts = _uncompressed(dog)
    return {
        "info": {"description": "small test set"},
        "licenses": [{"id": 1, "name": "test licence", "url": "http://example.org"}],
        "images": [
            {"id": 11, "file_name": "a.png", "width": 40, "height": 30, "license": 1},
            {"id": 12, "file_name": "b.png", "width": 20, "height": 20},
            {"id": 13, "file_name": "sub/c.png", "width": 16, "height": 12},
        ],
        "annotations": [
            {
                "id": 101,
                "image_id": 11,
                "category_id": 1,
                "segmentation": [[2, 2, 10, 2, 10, 8, 2, 8], [12, 3, 18, 3, 15, 9]],
                "area": 60.0,
                "bbox": [2, 2, 16, 7],
                "iscrowd": 0,
            },
            {
                "id": 102,
                "image_id": 11,
                "category_id": 18,
                "segmentation": [[20.5, 10.25, 35, 10.25, 28, 25.75]],
                "area": 110.0,
                "bbox": [20.5, 10.25, 14.5, 15.5],
                "iscrowd": 0,
            },
            {
                "id": 103,
                "image_id": 11,
                "category_id": 1,
                "segmentation": crowd_rle,
                "area": 80,
                "bbox": [2, 20, 10, 8],
                "iscrowd": 1,
            },
            {
                "id": 104,
                "image_id": 12,
                "category_id": 18,
                "segmentation": {"size": [20, 20], "counts": counts},
                "area": 66,
                "bbox": [4, 3, 11, 6],
                "iscrowd": 0,
            },
        ],
        "categories": [
            {"id": 1, "name": "person", "supercategory": "person"},
            {"id": 18, "name": "dog", "supercategory": "animal"},
            {"id": 3, "name": "car", "supercategory": "vehicle"},
        ],
    }


def _uncompressed(bitmap: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE counts of a bitmap (column-major runs, zeros first)."""
    flat = np.asarray(bitmap, dtype=np.uint8).reshape(-1, order="F")
    counts, value, run = [], 0, 0
    for pixel in flat.tolist():
        if pixel == value:
            run += 1
        else:
            counts.append(run)
            value, run = pixel, 1
    counts.append(run)
    return counts


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def mutated(doc: dict[str, Any], change) -> dict[str, Any]:
    """A deep copy of ``doc`` with ``change(copy)`` applied."""
    new = copy.deepcopy(doc)
    change(new)
    return new


def placeholder_images(doc: dict[str, Any], root: Path, *, name: str = "file_name") -> Path:
    """Blank images of the document's sizes under ``root`` (for files that come without
    pixels). ``name`` picks the field that says where: 'file_name' or 'coco_url'."""
    for image in doc["images"]:
        if name == "coco_url":
            relative = "/".join(image["coco_url"].split("/")[-2:])
        else:
            relative = image["file_name"]
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (image["width"], image["height"])).save(path, format="PNG")
    return root


def bitmap(segmentation: Any, height: int, width: int) -> np.ndarray:
    return Mask.from_coco(segmentation, height, width).to_bitmap()


def mask_iou(a: Any, b: Any, height: int, width: int) -> float:
    """IoU of two COCO segmentations after rasterisation (1.0 for two empty masks)."""
    x, y = bitmap(a, height, width).astype(bool), bitmap(b, height, width).astype(bool)
    union = np.logical_or(x, y).sum()
    return 1.0 if union == 0 else float(np.logical_and(x, y).sum() / union)


def assert_same_annotations(
    source: dict[str, Any], exported: dict[str, Any], *, min_iou: float = 0.99
) -> None:
    """Every source annotation is in the export (same id, image, category) with a
    mask of IoU >= ``min_iou`` after rasterisation."""
    sizes = {i["id"]: (i["height"], i["width"]) for i in source["images"]}
    out = {a["id"]: a for a in exported["annotations"]}
    assert len(out) == len(exported["annotations"]), "annotation ids repeat"
    for ann in source["annotations"]:
        assert ann["id"] in out, f"annotation {ann['id']} is missing"
        got = out[ann["id"]]
        assert got["image_id"] == ann["image_id"]
        assert got["category_id"] == ann["category_id"]
        h, w = sizes[ann["image_id"]]
        iou = mask_iou(ann["segmentation"], got["segmentation"], h, w)
        assert iou >= min_iou, f"annotation {ann['id']}: IoU {iou:.4f}"

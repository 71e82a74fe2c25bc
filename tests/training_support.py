"""Synthetic coloured shapes for the training tests: images, an LVIS file, a project.

Each image is a noisy grey canvas with one to three filled shapes — red squares, blue
discs, green triangles — whose polygons are exact. The LVIS file says, per image, the
shapes that are absent (``neg_category_ids``), so the project gets real federated
labels through the ordinary LVIS import.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

SHAPES = ("square", "disc", "triangle")
COLOURS = {"square": (220, 40, 40), "disc": (40, 70, 220), "triangle": (40, 190, 60)}


def _polygon(kind: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if kind == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if kind == "disc":
        return [
            (cx + r * math.cos(2 * math.pi * i / 24), cy + r * math.sin(2 * math.pi * i / 24))
            for i in range(24)
        ]
    return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]


def make_shapes(
    folder: Path, count: int, *, size: int = 96, seed: int = 0, prefix: str = "img"
) -> dict:
    """Write ``count`` images into ``folder``; their LVIS v1 document."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for n in range(count):
        pixels = rng.integers(90, 140, (size, size, 3), dtype=np.uint8)
        canvas = Image.fromarray(pixels)
        draw = ImageDraw.Draw(canvas)
        kinds = rng.choice(len(SHAPES), size=int(rng.integers(1, 3)), replace=False)
        placed: list[tuple[float, float, float]] = []
        present = set()
        for k in kinds:
            kind = SHAPES[int(k)]
            for _ in range(30):
                r = float(rng.uniform(size * 0.12, size * 0.22))
                cx, cy = (float(v) for v in rng.uniform(r + 1, size - r - 1, 2))
                if all(math.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in placed):
                    break
            else:
                continue
            placed.append((cx, cy, r))
            polygon = _polygon(kind, cx, cy, r)
            draw.polygon(polygon, fill=COLOURS[kind])
            xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": n + 1,
                    "category_id": int(k) + 1,
                    "segmentation": [[round(v, 2) for p in polygon for v in p]],
                    "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                    "area": 0.0,
                }
            )
            present.add(int(k) + 1)
        name = f"{prefix}{n:04d}.png"
        canvas.save(folder / name)
        images.append(
            {
                "id": n + 1,
                "file_name": name,
                "width": size,
                "height": size,
                "neg_category_ids": sorted({1, 2, 3} - present),
                "not_exhaustive_category_ids": [],
            }
        )
    for a in annotations:  # the polygon's own area, as pycocotools measures it
        from pycocotools import mask as mask_utils

        rle = mask_utils.frPyObjects(a["segmentation"], size, size)
        a["area"] = float(mask_utils.area(mask_utils.merge(rle)))
    return {
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i + 1, "name": s, "synonyms": [s], "def": f"a {s}", "frequency": "f"}
            for i, s in enumerate(SHAPES)
        ],
    }


def shapes_project(folder: Path, *, train: int = 12, val: int = 4, size: int = 96, seed: int = 0):
    """A project of shapes: ``train`` images in the train split, ``val`` in val."""
    from pipeline.formats import import_lvis
    from pipeline.store.database import Project

    project = Project.create(folder / "project")
    for split, count, offset in (("train", train, 0), ("val", val, 1000)):
        if not count:
            continue
        doc = make_shapes(folder / split, count, size=size, seed=seed + offset, prefix=split)
        path = folder / f"{split}.json"
        path.write_text(json.dumps(doc))
        import_lvis(project, path, images_root=folder / split, split=split)
    return project


@pytest.fixture(autouse=True)
def one_thread():
    """Torch on one thread for each test of a module that imports this fixture: two
    threads on two shared, busy cores spin against each other (6x slower here)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

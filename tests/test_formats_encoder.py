"""The import's Encoder (a batch of polygons at a time, plain images without numpy) gives
each image exactly what encode_annotations gives it alone: the same rows in the same
order, and the same problems and notes, whatever the image holds (plain polygons, boxes
off by more than the tolerance, crowd regions, RLEs, box-only records, broken fields)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from pipeline.formats.masks import BOX_TOLERANCE, Encoder, encode_annotations
from pipeline.formats.report import ImportReport
from pipeline.formats.source import SourceImage


def _image(key: int, annotations: list, height: int = 48, width: int = 64) -> SourceImage:
    return SourceImage(key, "x.json", f"{key}.jpg", Path(f"{key}.jpg"), width, height,
                       annotations=annotations)  # fmt: skip


def _polygon(rng: np.random.Generator, aid: int, height: int, width: int) -> dict:
    n = int(rng.integers(3, 9))
    ring = np.stack([rng.uniform(0, width, n), rng.uniform(0, height, n)], axis=1).round(2)
    x0, y0 = ring.min(axis=0).tolist()
    x1, y1 = ring.max(axis=0).tolist()
    return {"id": aid, "category_id": 1 + aid % 3, "iscrowd": 0,
            "segmentation": [ring.reshape(-1).tolist()], "bbox": [x0, y0, x1 - x0, y1 - y0]}  # fmt: skip


def _images() -> list[SourceImage]:
    rng = np.random.default_rng(5)
    images = []
    aid = 0
    for key in range(10):
        height, width = ((48, 64), (30, 40))[key % 2]
        anns = []
        for _ in range(int(rng.integers(0, 5))):
            aid += 1
            anns.append(_polygon(rng, aid, height, width))
        images.append(_image(key, anns, height, width))
    # Images that need the full checks, each for one reason among plain polygons.
    odd = [
        lambda a: a["bbox"].__setitem__(0, a["bbox"][0] + 3 * BOX_TOLERANCE),  # a note
        lambda a: a["bbox"].__setitem__(2, 0.5 * BOX_TOLERANCE + a["bbox"][2]),  # agrees
        lambda a: a.__setitem__("iscrowd", 1),
        lambda a: a.__setitem__("iscrowd", 2),  # a problem
        lambda a: a["bbox"].__setitem__(1, float("nan")),
        lambda a: a["bbox"].__setitem__(3, True),
        lambda a: a.__setitem__("segmentation", []),  # box-only
        lambda a: a.__setitem__("segmentation", [[1, 1, 2, 2, 3, 3]]),  # no area
        lambda a: a.__setitem__("segmentation", {"size": [48, 64], "counts": [0, 3072]}),
        lambda a: a.__setitem__("bbox", [1, 2, 3]),
        lambda a: a["bbox"].__setitem__(0, int(a["bbox"][0])),  # an int that still agrees?
    ]
    for k, change in enumerate(odd):
        anns = [_polygon(rng, aid + i + 1, 48, 64) for i in range(3)]
        aid += 3
        change(anns[1])
        images.append(_image(100 + k, anns))
    return images


def test_each_image_gets_what_encode_annotations_gives_it_alone():
    images = _images()
    alone = copy.deepcopy(images)
    got_report = ImportReport(source="x.json", format="coco")
    want_report = ImportReport(source="x.json", format="coco")
    encoder = Encoder(images, got_report, repair_boxes=False)
    for image, same in zip(images, alone, strict=True):
        assert encoder(image) == encode_annotations(same, want_report)
    assert got_report.problems == want_report.problems
    assert got_report.notes == want_report.notes
    assert got_report.box_only == want_report.box_only
    assert want_report.problems and want_report.notes  # the odd images were odd

"""Generated detection sets for checking the evaluation against the reference tools.

Detections are made from a ground truth: jittered copies of its boxes and masks
(true positives at many IoUs), misses, duplicates, false positives in the wrong place
or of the wrong category, and detections over crowd regions. Scores are rounded so
that ties occur (the reference tools break them by a stable sort).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def _rle_of(ann: dict, h: int, w: int) -> dict:
    segm = ann["segmentation"]
    if isinstance(segm, list):
        return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    if isinstance(segm["counts"], list):
        return mask_utils.frPyObjects(segm, h, w)
    return segm


def _shift_mask(rle: dict, dx: int, dy: int, h: int, w: int, grow: int) -> dict:
    m = mask_utils.decode(rle)
    m = np.roll(np.roll(m, dy, axis=0), dx, axis=1)
    if grow > 0:
        import cv2

        m = cv2.dilate(m, np.ones((grow * 2 + 1, grow * 2 + 1), np.uint8))
    elif grow < 0:
        import cv2

        m = cv2.erode(m, np.ones((-grow * 2 + 1, -grow * 2 + 1), np.uint8))
    return mask_utils.encode(np.asfortranarray(m))


def _random_blob(rng: np.random.Generator, h: int, w: int) -> tuple[dict, list[float]]:
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = float(np.exp(rng.uniform(np.log(3), np.log(max(4, min(h, w) / 2)))))
    ang = np.linspace(0, 2 * np.pi, 13)[:-1]
    rad = r * rng.uniform(0.6, 1.3, len(ang))
    x = np.clip(cx + rad * np.cos(ang), 0, w)
    y = np.clip(cy + rad * np.sin(ang), 0, h)
    poly = np.stack([x, y], 1).ravel().tolist()
    rle = mask_utils.frPyObjects([poly], h, w)[0]
    return rle, [float(x.min()), float(y.min()), float(x.max() - x.min()), float(y.max() - y.min())]


def make_detections(
    gt: dict[str, Any],
    seed: int,
    *,
    with_bbox: bool = True,
    with_segm: bool = True,
    p_miss: float = 0.15,
    max_dup: int = 2,
    n_fp: int = 4,
    score_decimals: int = 2,
    crowd_hits: bool = True,
    categories: list[int] | None = None,
    federated: bool = False,
) -> list[dict]:
    """A COCO results list made from ``gt`` (which is not modified)."""
    rng = np.random.default_rng(seed)
    images = {im["id"]: im for im in gt["images"]}
    cat_ids = categories or [c["id"] for c in gt["categories"]]
    out: list[dict] = []

    def add(image_id, cat, score, box, rle):
        d: dict[str, Any] = {"image_id": image_id, "category_id": cat, "score": score}
        if with_bbox:
            d["bbox"] = [round(float(v), 2) for v in box]
        if with_segm:
            d["segmentation"] = {"size": list(rle["size"]), "counts": rle["counts"].decode()}
        out.append(d)

    for ann in gt["annotations"]:
        im = images[ann["image_id"]]
        h, w = im["height"], im["width"]
        if ann.get("iscrowd") and not crowd_hits:
            continue
        if rng.random() < p_miss:
            continue
        rle = _rle_of(ann, h, w)
        for _ in range(1 + int(rng.integers(0, max_dup + 1)) if rng.random() < 0.3 else 1):
            dx, dy = (int(v) for v in rng.integers(-6, 7, 2))
            grow = int(rng.integers(-2, 3))
            m = _shift_mask(rle, dx, dy, h, w, grow) if with_segm else rle
            x, y, bw, bh = ann["bbox"]
            s = rng.uniform(0.85, 1.15, 2)
            box = [x + dx + rng.normal(0, 2), y + dy + rng.normal(0, 2), bw * s[0], bh * s[1]]
            cat = ann["category_id"] if rng.random() > 0.1 else int(rng.choice(cat_ids))
            score = round(float(rng.uniform(0.05, 1.0)), score_decimals)
            add(ann["image_id"], cat, score, box, m)
    present: dict[int, list[int]] = {}
    for ann in gt["annotations"]:
        present.setdefault(ann["image_id"], []).append(ann["category_id"])
    for im in gt["images"]:
        h, w = im["height"], im["width"]
        # LVIS: aim false positives at categories the image says something about
        pools = [
            present.get(im["id"], []),
            im.get("neg_category_ids", []),
            im.get("not_exhaustive_category_ids", []),
        ]
        for _ in range(int(rng.integers(0, n_fp + 1))):
            rle, box = _random_blob(rng, h, w)
            score = round(float(rng.uniform(0.0, 0.8)), score_decimals)
            pool = pools[int(rng.integers(0, 3))] if federated else []
            cat = int(rng.choice(pool)) if len(pool) else int(rng.choice(cat_ids))
            add(im["id"], cat, score, box, rle)
    rng.shuffle(out)
    return out


def run_pycocotools(gt: dict, results: list[dict], iou_type: str):
    """pycocotools' COCOeval on copies of the inputs; returns the evaluator."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


COCO_STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)


def run_lvis_reference(gt: dict, results: list[dict], iou_type: str):
    """The vendored lvis-api LVISEval on copies of the inputs; returns the evaluator."""
    import logging

    from .lvis_eval import LVISEval

    logging.getLogger("tests.reference.lvis_eval").setLevel(logging.ERROR)
    ev = LVISEval(copy.deepcopy(gt), copy.deepcopy(results), iou_type)
    ev.run()
    return ev


LVIS_STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "APr",
    "APc",
    "APf",
    "AR@300",
    "ARs@300",
    "ARm@300",
    "ARl@300",
)

"""The truth a simulation replays: a COCO or LVIS JSON matched to the project.

Images are matched by ``file_name`` (else the last part of ``coco_url``), categories
by :func:`pipeline.vocabulary.match_categories` (name, then synonym, then synset): the
rule every way into a project follows.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from ..errors import GeometryError, LongtailError, VocabularyError
from ..formats.jsonio import JSONReadError, load_json
from ..masks.geometry import Box, Mask
from ..store import schema as s
from ..store.database import Project
from ..vocabulary import Category, category_from_entry, match_categories, project_categories


@dataclass
class TruthInstance:
    ann_id: int
    category_id: int  # the project's category id
    mask: Mask
    bbox: Box
    is_crowd: bool
    point: tuple[float, float] | None = None  # the mark point: a pixel of this instance only
    _window: tuple[np.ndarray, int, int] | None = None

    @property
    def mark_point(self) -> tuple[float, float]:
        """The mark point, which :meth:`TruthImage.ensure_points` gives every instance."""
        if self.point is None:
            raise LongtailError(f"truth annotation {self.ann_id} has no mark point yet")
        return self.point

    def window(self) -> tuple[np.ndarray, int, int]:
        """The mask's pixels around its extent, and where that crop starts (x0, y0):
        cheap to keep for every instance, unlike full-image bitmaps."""
        if self._window is None:
            bitmap = self.mask.to_bitmap()
            rows, cols = np.nonzero(bitmap.any(axis=1))[0], np.nonzero(bitmap.any(axis=0))[0]
            if len(rows) == 0:
                self._window = (np.zeros((0, 0), np.uint8), 0, 0)
            else:
                y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
                self._window = (bitmap[y0:y1, x0:x1].copy(), int(x0), int(y0))
        return self._window

    def contains(self, col: int, row: int) -> bool:
        crop, x0, y0 = self.window()
        return (
            0 <= row - y0 < crop.shape[0]
            and 0 <= col - x0 < crop.shape[1]
            and bool(crop[row - y0, col - x0])
        )


@dataclass
class TruthImage:
    image_id: int  # the project's image id
    width: int
    height: int
    instances: list[TruthInstance]
    lvis_negatives: frozenset[int] = frozenset()
    _points_ready: bool = False

    @property
    def present(self) -> set[int]:
        """Categories with at least one non-crowd instance."""
        return {t.category_id for t in self.instances if not t.is_crowd}

    @property
    def anywhere(self) -> set[int]:
        """Categories in the image at all (crowd regions included)."""
        return {t.category_id for t in self.instances}

    def of(self, category_id: int) -> list[TruthInstance]:
        return [t for t in self.instances if t.category_id == category_id and not t.is_crowd]

    def ensure_points(self) -> None:
        """Give each non-crowd instance a mark point on a pixel no other instance of its
        category covers (where possible): the deepest such pixel."""
        if self._points_ready:
            return
        by_category: dict[int, list[TruthInstance]] = {}
        for t in self.instances:
            if not t.is_crowd:
                by_category.setdefault(t.category_id, []).append(t)
        for group in by_category.values():
            for t in group:
                crop, x0, y0 = t.window()
                own = crop.copy()
                h, w = own.shape
                for other in group:
                    if other is t:
                        continue
                    ocrop, ox, oy = other.window()
                    # the overlap of the two windows, in each one's coordinates
                    ax0, ay0 = max(x0, ox), max(y0, oy)
                    ax1, ay1 = min(x0 + w, ox + ocrop.shape[1]), min(y0 + h, oy + ocrop.shape[0])
                    if ax0 < ax1 and ay0 < ay1:
                        cover = ocrop[ay0 - oy : ay1 - oy, ax0 - ox : ax1 - ox] > 0
                        own[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0][cover] = 0
                if not own.any():
                    own = crop
                t.point = _deepest_pixel(own, x0, y0, t.bbox)
        self._points_ready = True

    def match(self, category_id: int, x: float, y: float) -> TruthInstance | None:
        """The truth instance a mark at (x, y) stands for."""
        self.ensure_points()
        group = self.of(category_id)
        for t in group:
            if t.point is not None and abs(t.point[0] - x) < 1e-6 and abs(t.point[1] - y) < 1e-6:
                return t
        inside = [t for t in group if t.contains(int(x), int(y))]
        candidates = inside or group
        if not candidates:
            return None
        return min(
            candidates,
            key=lambda t: math.hypot((t.point or (0, 0))[0] - x, (t.point or (0, 0))[1] - y),
        )

    def match_mask(self, category_id: int, mask: Mask) -> TruthInstance | None:
        """The truth instance a mask stands for (an imported instance has no mark point):
        the one it overlaps most, if their IoU reaches 0.5."""
        scored = [(mask.iou(t.mask), i, t) for i, t in enumerate(self.of(category_id))]
        best = max(scored, default=None, key=lambda x: x[:2])
        return best[2] if best is not None and best[0] >= 0.5 else None


def _deepest_pixel(crop: np.ndarray, x0: int, y0: int, bbox: Box) -> tuple[float, float]:
    """The centre of the crop's pixel farthest from its edge, in image coordinates."""
    if crop.size == 0 or not crop.any():  # an empty truth mask: the centre of its box
        return (bbox[0] + bbox[2] / 2, bbox[1] + bbox[3] / 2)
    depth = cv2.distanceTransform(np.pad(crop.astype(np.uint8), 1), cv2.DIST_L2, 3)
    row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return (float(x0 + col - 1) + 0.5, float(y0 + row - 1) + 0.5)


@dataclass
class Truth:
    """A labelled set matched to the project's images and categories."""

    kind: str  # coco or lvis
    images: dict[int, TruthImage]
    unmatched_images: int = 0  # truth images that are not in the project
    unmatched_categories: list[str] = field(default_factory=list)
    dropped_annotations: int = 0  # of unmatched categories


def load_truth(source: str | os.PathLike[str] | dict[str, Any], project: Project) -> Truth:
    """Read a COCO or LVIS JSON and match it to the project (see the module docstring).

    Every image of the project must be in the truth.
    """
    if isinstance(source, dict):
        document = source
    else:
        path = Path(source)
        try:
            document = load_json(path)
        except JSONReadError as exc:
            raise LongtailError(f"truth file {path}: {exc}") from None
    if not isinstance(document, dict):
        raise LongtailError("the truth is not a JSON object; is it a COCO or LVIS JSON?")
    for key in ("images", "annotations", "categories"):
        if not isinstance(document.get(key), list):
            raise LongtailError(f"the truth has no {key!r} list; is it a COCO or LVIS JSON?")
    lvis = any(isinstance(im, dict) and "neg_category_ids" in im for im in document["images"])

    with project.read() as conn:
        images = conn.execute(
            select(s.images.c.id, s.images.c.file_name, s.images.c.width, s.images.c.height)
        ).all()
    known = project_categories(project)
    category_of = _match_categories(document["categories"], known)
    unmatched = [
        str(c.get("name")) if isinstance(c, dict) else repr(c)
        for c in document["categories"]
        if not (isinstance(c, dict) and c.get("id") in category_of)
    ]

    by_name = {r.file_name: r for r in images}
    by_base: dict[str, Any] = {}
    for r in images:
        by_base.setdefault(os.path.basename(r.file_name), r)
    truth_images: dict[int, TruthImage] = {}
    truth_key: dict[Any, TruthImage] = {}
    unmatched_images = 0
    for index, im in enumerate(document["images"]):
        if not isinstance(im, dict):
            raise LongtailError(f"truth images[{index}] is not an object")
        name = im.get("file_name") or os.path.basename(str(im.get("coco_url", "")))
        row = by_name.get(name) or by_base.get(os.path.basename(name))
        if row is None:
            unmatched_images += 1
            continue
        if (im.get("width"), im.get("height")) not in ((row.width, row.height), (None, None)):
            raise LongtailError(
                f"truth image {name} is {im.get('width')}x{im.get('height')} but the project's "
                f"image is {row.width}x{row.height}"
            )
        negatives = frozenset(
            category_of[c] for c in im.get("neg_category_ids") or () if c in category_of
        )
        made = TruthImage(row.id, row.width, row.height, [], negatives)
        truth_images[row.id] = made
        truth_key[im.get("id")] = made
    missing = [r.file_name for r in images if r.id not in truth_images]
    if missing:
        raise LongtailError(
            f"{len(missing)} project images are not in the truth (e.g. {missing[0]}); "
            "simulate needs the truth of every image"
        )
    dropped = 0
    for index, ann in enumerate(document["annotations"]):
        if not isinstance(ann, dict):
            raise LongtailError(f"truth annotations[{index}] is not an object")
        image = truth_key.get(ann.get("image_id"))
        if image is None:
            continue
        category_id = category_of.get(ann.get("category_id"))
        if category_id is None:
            dropped += 1
            continue
        try:
            mask = Mask.from_coco(ann["segmentation"], image.height, image.width)
            x, y, w, h = (float(v) for v in ann.get("bbox") or mask.bbox)
            instance = TruthInstance(
                int(ann["id"]), category_id, mask, (x, y, w, h), bool(ann.get("iscrowd", 0))
            )
        except (GeometryError, KeyError, TypeError, ValueError) as exc:
            reason = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise LongtailError(f"truth annotation {ann.get('id')}: {reason}") from None
        image.instances.append(instance)
    return Truth("lvis" if lvis else "coco", truth_images, unmatched_images, unmatched, dropped)


def _match_categories(entries: list[Any], known: list[Category]) -> dict[Any, int]:
    """Truth category id -> project category id, by the vocabulary's one matching rule."""
    incoming: list[Category] = []
    ids: list[Any] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        try:
            category = category_from_entry(entry, entry["name"], None)
        except VocabularyError:  # odd synonyms or frequency: the name still matches
            category = Category(name=entry["name"].strip())
        incoming.append(category)
        ids.append(entry.get("id"))
    matching = match_categories(incoming, known)
    return {  # project categories all have ids
        ids[i]: project_id
        for i, k in matching.pairs.items()
        if (project_id := known[k].id) is not None
    }

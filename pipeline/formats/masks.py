"""Masks in bulk: COCO polygons of one image checked and encoded in a few numpy calls.

Importing an LVIS-sized file means a million polygons; building a :class:`Mask` for
each costs more than reading the file. :func:`encode_polygons` does the same work per
image instead: it checks every part as :func:`geometry.polygon_problems` does, and
gives exactly the stored values of :func:`annotations.segment_values` (the bytes of
``Mask.to_bytes``, pycocotools' pixel area, the extent of the rings as bbox). The
tests hold the two paths to the same results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from ..annotations import segment_values
from ..masks.geometry import POLYGON, Mask, polygon_problems
from ..masks.polygon_bytes import simple_header


@dataclass
class EncodedMasks:
    """The stored form of a batch of masks; index ``i`` is the ``i``-th input."""

    count: int
    problems: dict[int, list[str]] = field(default_factory=dict)
    kinds: list[str | None] = field(default_factory=list)
    data: list[bytes | None] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))

    def ok(self, i: int) -> bool:
        return i not in self.problems


def encode_polygons(segmentations: list[Any], height: int, width: int) -> EncodedMasks:
    """Check and encode COCO polygon segmentations (lists of flat parts) of one image."""
    n = len(segmentations)
    out = EncodedMasks(
        count=n, kinds=[None] * n, data=[None] * n, areas=[0] * n, boxes=np.zeros((n, 4))
    )
    shaped = []
    for i, seg in enumerate(segmentations):
        if _well_shaped(seg):
            shaped.append(i)
        else:
            out.problems[i] = part_problems(seg, height, width)
    if shaped:
        try:
            _encode_shaped(segmentations, shaped, height, width, out)
        except (TypeError, ValueError):
            # Something in a part is not a number: find out which annotation, one by one.
            for i in shaped:
                try:
                    _encode_shaped(segmentations, [i], height, width, out)
                except (TypeError, ValueError):
                    out.problems[i] = part_problems(segmentations[i], height, width)
    return out


def _well_shaped(seg: Any) -> bool:
    """A non-empty list of parts, each a list of an even number (>= 6) of items."""
    if type(seg) is not list or not seg:
        return False
    for part in seg:
        if type(part) is not list:
            return False
        size = len(part)
        if size < 6 or size & 1:
            return False
    return True


def part_problems(seg: Any, height: int, width: int) -> list[str]:
    """Every problem of a polygon segmentation, part by part, in the words of geometry."""
    if not isinstance(seg, list):
        return [f"a segmentation must be a list of polygons or an RLE, got {type(seg).__name__}"]
    if not seg:
        return ["the segmentation has no polygon"]
    found = []
    for index, coords in enumerate(seg):
        found += [f"part {index}: {p}" for p in polygon_problems(coords, width, height)]
    return found or ["the polygon cannot be read"]


def _encode_shaped(
    segs: list[Any], indices: list[int], height: int, width: int, out: EncodedMasks
) -> None:
    parts = [part for i in indices for part in segs[i]]
    part_sizes = np.fromiter(map(len, parts), np.int64, len(parts))
    flat = np.fromiter(chain.from_iterable(parts), np.float64, int(part_sizes.sum()))
    points = flat.reshape(-1, 2)
    x, y = points[:, 0], points[:, 1]
    part_points = part_sizes // 2
    parts_per = np.fromiter((len(segs[i]) for i in indices), np.int64, len(indices))
    part_owner = np.repeat(np.arange(len(indices)), parts_per)
    points_per = np.bincount(part_owner, weights=part_points, minlength=len(indices)).astype(
        np.int64
    )
    point_owner = np.repeat(np.arange(len(indices)), points_per)
    part_start = np.concatenate(([0], np.cumsum(part_points)[:-1]))

    # A point that is not finite or outside the image spoils its annotation.
    bad_point = ~(np.isfinite(x) & np.isfinite(y)) | (x < 0) | (x > width) | (y < 0) | (y > height)
    bad = np.bincount(point_owner[bad_point], minlength=len(indices)) > 0
    # A part of zero area (points on one line): the shoelace sum of each part.
    following = np.arange(1, len(points) + 1)
    following[part_start + part_points - 1] = part_start
    with np.errstate(invalid="ignore", over="ignore"):
        cross = x * y[following] - y * x[following]
    twice_area = np.add.reduceat(cross, part_start)
    bad |= np.bincount(part_owner[twice_area == 0], minlength=len(indices)) > 0
    for k in np.flatnonzero(bad):
        i = indices[k]
        out.problems[i] = part_problems(segs[i], height, width)

    good = np.flatnonzero(~bad)
    if not len(good):
        return
    ann_start = np.concatenate(([0], np.cumsum(points_per)[:-1]))
    with np.errstate(invalid="ignore"):
        x0 = np.minimum.reduceat(x, ann_start)
        y0 = np.minimum.reduceat(y, ann_start)
        x1 = np.maximum.reduceat(x, ann_start)
        y1 = np.maximum.reduceat(y, ann_start)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    good_list = good.tolist()
    out.boxes[[indices[k] for k in good_list]] = boxes[good]
    # pycocotools rasterises each part; views into the flat array spare it a list copy.
    first_part = np.concatenate(([0], np.cumsum(parts_per)[:-1]))
    coord_start = 2 * part_start
    good_parts = np.repeat(~bad, parts_per)
    views = [
        flat[a : a + n]
        for a, n in zip(
            coord_start[good_parts].tolist(), part_sizes[good_parts].tolist(), strict=True
        )
    ]
    rles = mask_utils.frPyObjects(views, height, width)
    part_areas = _areas(rles)
    raw = flat.astype("<f8", copy=False).tobytes()
    counts = parts_per.tolist()
    firsts = first_part.tolist()
    sizes = part_points.tolist()
    starts = (ann_start * 16).tolist()
    lengths = (points_per * 16).tolist()
    at = 0  # index into the rasterised parts
    for k in good_list:
        i = indices[k]
        count = counts[k]
        header = simple_header(sizes[firsts[k] : firsts[k] + count])
        if count == 1:
            area = part_areas[at]
        else:
            area = int(mask_utils.area(mask_utils.merge(rles[at : at + count])))
        at += count
        start = starts[k]
        out.kinds[i] = POLYGON
        out.data[i] = header + raw[start : start + lengths[k]]
        out.areas[i] = area


def _areas(rles: list[dict[str, Any]]) -> list[int]:
    """pycocotools' pixel areas, asked at most 255 at a time: its ``area`` fails on
    longer lists with numpy 2 (it sizes a uint8 array by the list's length)."""
    out: list[int] = []
    for start in range(0, len(rles), 255):
        out += mask_utils.area(rles[start : start + 255]).tolist()
    return out


def encode_mask(mask: Mask) -> tuple[str, bytes, int, tuple[float, float, float, float]]:
    """One mask's stored values (kind, bytes, area, bbox), as segment_values gives them."""
    values = segment_values(mask)
    box = (values["bbox_x"], values["bbox_y"], values["bbox_w"], values["bbox_h"])
    return values["mask_kind"], values["mask"], int(values["area"]), box


class PolygonBatches:
    """Polygons of many images encoded a batch at a time (:meth:`prepare`), then handed
    out image by image (:meth:`encode`, which :func:`encode_polygons` replaces): numpy
    and pycocotools are called once per image size in a batch instead of once per image.
    Each annotation's result is its own (the checks, bytes, area and extent of one
    annotation do not depend on the others), so the two give the same values."""

    def __init__(self) -> None:
        # (id of the segmentation list, height, width) -> its result
        self.done: dict[tuple[int, int, int], tuple[Any, ...]] = {}
        self.keep: list[Any] = []  # the segmentations, so that their ids stay theirs

    def prepare(self, groups: list[tuple[list[Any], int, int]]) -> None:
        """Encode ``(segmentations, height, width)`` of a batch of images; forget the last."""
        by_size: dict[tuple[int, int], list[Any]] = {}
        for segs, height, width in groups:
            by_size.setdefault((height, width), []).extend(segs)
        self.done = {}
        self.keep = []
        for (height, width), segs in by_size.items():
            encoded = encode_polygons(segs, height, width)
            boxes = encoded.boxes.tolist()
            problems = encoded.problems
            for i, seg in enumerate(segs):
                self.done[(id(seg), height, width)] = (
                    problems.get(i),
                    encoded.kinds[i],
                    encoded.data[i],
                    encoded.areas[i],
                    boxes[i],
                )
            self.keep.append(segs)

    def encode(self, segmentations: list[Any], height: int, width: int) -> EncodedMasks:
        """What ``encode_polygons(segmentations, height, width)`` gives."""
        done = self.done
        found = [done.get((id(seg), height, width)) for seg in segmentations]
        if None in found:
            return encode_polygons(segmentations, height, width)
        n = len(found)
        out = EncodedMasks(
            count=n,
            kinds=[f[1] for f in found],  # type: ignore[index]
            data=[f[2] for f in found],  # type: ignore[index]
            areas=[f[3] for f in found],  # type: ignore[index]
            boxes=np.array([f[4] for f in found], dtype=np.float64).reshape(n, 4),  # type: ignore[index]
        )
        for i, f in enumerate(found):
            if f[0] is not None:  # type: ignore[index]
                out.problems[i] = f[0]  # type: ignore[index]
        return out

"""Encoding an import's annotations: checked and put in stored form, polygons in bulk.

Importing an LVIS-sized file means a million polygons; building a :class:`Mask` for
each costs more than reading the file. :func:`encode_polygons` does the same work per
image instead: it checks every part as :func:`geometry.polygon_problems` does, and
gives exactly the stored values of :func:`annotations.segment_values` (the bytes of
``Mask.to_bytes``, pycocotools' pixel area, the extent of the rings as bbox). The
tests hold the two paths to the same results.

:func:`encode_annotations` checks and encodes one image's COCO annotations (polygons,
RLEs, box-only records; the box rule of docs/decisions/0027), and :class:`Encoder`
does it for a whole file, its polygons a batch of images at a time
(:class:`PolygonBatches`): the encode step of an import, between
:func:`.cocolike.read_document` (read and check) and :mod:`.writer` (write).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from ..annotations import segment_values
from ..errors import GeometryError
from ..masks.geometry import POLYGON, Mask, polygon_problems
from ..masks.polygon_bytes import simple_header
from .report import ImportReport
from .source import BOX_ONLY, Encoded, SourceImage


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
    # Per good annotation: its rasterised parts' first index, its header and its bytes.
    good_counts = parts_per[good]
    at = np.concatenate(([0], np.cumsum(good_counts)[:-1])).tolist()
    sizes = part_points.tolist()
    firsts = first_part[good].tolist()
    headers = _ONE_PART_HEADERS
    for size in {sizes[f] for f in firsts}.difference(headers):
        headers[size] = simple_header([size])
    heads = [
        headers[sizes[f]] if n == 1 else simple_header(sizes[f : f + n])
        for f, n in zip(firsts, good_counts.tolist(), strict=True)
    ]
    starts = (ann_start[good] * 16).tolist()
    stops = ((ann_start + points_per)[good] * 16).tolist()
    data: list[bytes | None] = [h + raw[a:b] for h, a, b in zip(heads, starts, stops, strict=True)]
    areas = [part_areas[a] for a in at]
    for j in np.flatnonzero(good_counts > 1).tolist():  # several parts: their union
        n = int(good_counts[j])
        areas[j] = int(mask_utils.area(mask_utils.merge(rles[at[j] : at[j] + n])))
    if len(good_list) == out.count and indices == list(range(out.count)):
        kinds: list[str | None] = [POLYGON] * out.count
        out.kinds, out.data, out.areas = kinds, data, areas
        return
    for j, k in enumerate(good_list):
        i = indices[k]
        out.kinds[i] = POLYGON
        out.data[i] = data[j]
        out.areas[i] = areas[j]


# The header of a one-part polygon of n points, by n (a few hundred distinct sizes).
_ONE_PART_HEADERS: dict[int, bytes] = {}


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


# A file's bbox is kept as the file gives it (as pycocotools does). One that differs from
# its mask's extent by more than this on some side (pixels) is reported, never refused:
# COCO's own boxes are within 1 pixel of their polygons, and float32 writers add noise
# (supervision: 1.0000048 px; float32 rounding at 8192 px is 0.001 px).
# docs/decisions/0027-one-box-rule.md
BOX_TOLERANCE = 1.0 + 1e-3


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


# Polygons encoded together (PolygonBatches): enough to spread numpy's and pycocotools'
# cost per call, few enough that a batch's masks take little memory.
BATCH_ANNOTATIONS = 4_000


class Encoder:
    """Encodes the images of one file in their order, a batch of polygons at a time:
    ``encoder(image)`` gives what :func:`encode_annotations` gives for it alone."""

    def __init__(
        self, images: Sequence[SourceImage], report: ImportReport, *, repair_boxes: bool
    ) -> None:
        self.images = images
        self.report = report
        self.repair_boxes = repair_boxes
        self.batches = PolygonBatches()
        self.position = {id(image): i for i, image in enumerate(images)}
        self.prepared = 0  # images[:prepared] have their polygons in a batch (or are done)

    def __call__(self, image: SourceImage) -> list[Encoded]:
        at = self.position.get(id(image))
        if at is not None and at >= self.prepared:
            self.prepared = prepare_batch(self.batches, self.images, at)
        rows = self._plain(image)
        if rows is not None:
            return rows
        return encode_annotations(
            image, self.report, repair_boxes=self.repair_boxes, polygons=self.batches.encode
        )

    def _plain(self, image: SourceImage) -> list[Encoded] | None:
        """The rows of an image whose annotations are all plain: polygons that encoded
        without a problem, a sound bbox that agrees with its polygon, iscrowd 0 or 1. What
        :func:`encode_annotations` gives for them, in plain Python (no numpy call per
        image, no note to write); None when any annotation needs its full checks."""
        done = self.batches.done
        height, width = image.height, image.width
        rows = []
        for ann in image.annotations:
            if type(ann) is not dict:
                return None
            seg, bbox, crowd = ann.get("segmentation"), ann.get("bbox"), ann.get("iscrowd", 0)
            if type(seg) is not list or not seg or type(bbox) is not list or len(bbox) != 4:
                return None
            if type(crowd) not in (int, bool) or crowd not in (0, 1):
                return None
            found = done.get((id(seg), height, width))
            if found is None or found[0] is not None:
                return None
            problems, kind, data, area, (mx, my, mw, mh) = found
            x, y, w, h = bbox
            if not (type(x) in _NUMBER and type(y) in _NUMBER and type(w) in _NUMBER
                    and type(h) in _NUMBER):  # fmt: skip
                return None
            x, y, w, h = float(x), float(y), float(w), float(h)
            if not (math.isfinite(x + y + w + h) and w >= 0 and h >= 0):
                return None
            if (
                abs(x - mx) > BOX_TOLERANCE
                or abs(y - my) > BOX_TOLERANCE
                or abs(x + w - (mx + mw)) > BOX_TOLERANCE
                or abs(y + h - (my + mh)) > BOX_TOLERANCE
            ):
                return None  # a note to write: the full path says it
            aid, cid, box, extent = ann["id"], ann["category_id"], (x, y, w, h), (mx, my, mw, mh)
            rows.append(Encoded(aid, cid, bool(crowd), box, kind, data, area, extent))
        return rows


_NUMBER = (int, float)


def prepare_batch(batches: PolygonBatches, images: Sequence[SourceImage], start: int) -> int:
    """Encode the polygons of ``images[start:]`` up to BATCH_ANNOTATIONS annotations;
    the index after the last image of the batch."""
    groups = []
    count = 0
    stop = start
    while stop < len(images) and (count < BATCH_ANNOTATIONS or stop == start):
        image = images[stop]
        segs = [
            seg
            for ann in image.annotations
            if type(ann) is dict and type(seg := ann.get("segmentation")) is list and seg
        ]
        groups.append((segs, image.height, image.width))
        count += len(segs)
        stop += 1
    batches.prepare(groups)
    return stop


def encode_annotations(
    image: SourceImage,
    report: ImportReport,
    *,
    repair_boxes: bool = False,
    polygons: Callable[[list[Any], int, int], EncodedMasks] = encode_polygons,
) -> list[Encoded]:
    """Check and encode an image's COCO annotations: polygons in bulk, RLEs one by one.
    ``polygons``: :func:`encode_polygons`, or what gives its values (PolygonBatches)."""
    height, width, file, iid = image.height, image.width, image.file, image.key
    out: list[Encoded] = []
    poly_anns: list[dict] = []
    poly_boxes: list[Any] = []
    checked: list[dict] = []  # annotations whose fields need a check one by one
    for ann in image.annotations:
        # The common case, cheaply: a polygon list, a 4-item bbox list, iscrowd 0 or 1.
        seg, bbox, crowd = ann.get("segmentation"), ann.get("bbox"), ann.get("iscrowd", 0)
        if type(seg) is list and not seg:
            # A box and no mask (detection files, Label Studio rectangles): a marked
            # instance whose box is the prompt of stage 3.
            row = _box_only(ann, image, report)
            if row is None:
                report.annotations_skipped += 1
            else:
                out.append(row)
            continue
        if (
            type(seg) is list
            and type(bbox) is list
            and len(bbox) == 4
            and type(crowd) in (int, bool)
            and crowd in (0, 1)
        ):
            poly_anns.append(ann)
            poly_boxes.append(bbox)
        else:
            checked.append(ann)
    boxes = np.zeros((0, 4))
    if poly_anns:
        boxes = np.array(poly_boxes)
        if boxes.dtype.kind in "biuf" and boxes.shape == (len(poly_anns), 4):
            boxes = boxes.astype(np.float64)
            sound = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] >= 0) & (boxes[:, 3] >= 0)
            if not sound.all():
                checked += [a for a, ok in zip(poly_anns, sound.tolist(), strict=True) if not ok]
                poly_anns = [a for a, ok in zip(poly_anns, sound.tolist(), strict=True) if ok]
                boxes = boxes[sound]
        else:  # some bbox holds something that is not a number: sort them one by one
            checked += poly_anns
            poly_anns, boxes = [], np.zeros((0, 4))

    rles = [a for a in checked if type(a.get("segmentation")) is dict]
    made = Mask.from_rles([a["segmentation"] for a in rles], height, width)
    rle_masks = dict(zip(map(id, rles), made, strict=True))
    for ann in checked:
        aid = ann["id"]
        where = {"file": file, "image_id": iid, "annotation_id": aid}
        problems = _field_problems(ann)
        for message in problems:
            report.problem(message, **where)
        seg = ann.get("segmentation")
        if type(seg) is list:
            if not problems:
                poly_anns.append(ann)
                boxes = np.vstack([boxes, np.asarray(ann["bbox"], dtype=np.float64)])
                continue
            # Still report what is wrong with the polygon itself.
            for message in encode_polygons([seg], height, width).problems.get(0, []):
                report.problem(message, **where)
        elif type(seg) is dict:
            try:
                mask = rle_masks[id(ann)]
                if isinstance(mask, GeometryError):
                    raise mask
                kind, data, area, mask_box = encode_mask(mask)
            except GeometryError as exc:
                report.problem(str(exc), **where)
                problems.append(str(exc))
            if not problems and area == 0 and ann["bbox"][2] * ann["bbox"][3] > 0:
                problems.append(f"the RLE mask is empty but its bbox {ann['bbox']} is not")
                report.problem(problems[-1], **where)
            if not problems:
                box = _box(ann["bbox"], mask_box, "RLE", report, file, iid, aid, repair_boxes)
                crowd = bool(ann.get("iscrowd", 0))
                out.append(Encoded(aid, ann["category_id"], crowd, box, kind, data, area, mask_box))
                continue
        else:
            message = (
                "missing key 'segmentation'"
                if seg is None
                else "'segmentation' must be a list of polygons or an RLE object, "
                f"got {type(seg).__name__}"
            )
            report.problem(message, **where)
        report.annotations_skipped += 1

    if not poly_anns:
        return out
    encoded = polygons([a["segmentation"] for a in poly_anns], height, width)
    given = boxes.copy()
    given[:, 2:] += given[:, :2]
    extent = encoded.boxes.copy()
    extent[:, 2:] += extent[:, :2]
    agree = np.all(np.abs(given - extent) <= BOX_TOLERANCE, axis=1).tolist()
    given_boxes = boxes.tolist()
    extents = encoded.boxes.tolist()
    for i, ann in enumerate(poly_anns):
        aid = ann["id"]
        if encoded.ok(i):
            # An encoded polygon has its kind and bytes (None marks one with problems).
            kind, data, area = encoded.kinds[i] or "", encoded.data[i] or b"", encoded.areas[i]
            mx, my, mw, mh = extents[i]
            mask_box = (mx, my, mw, mh)
        else:
            kept = _without_degenerate_parts(
                ann["segmentation"], height, width, report, file, iid, aid
            )
            if kept is None:
                for message in encoded.problems[i]:
                    report.problem(message, file=file, image_id=iid, annotation_id=aid)
                report.annotations_skipped += 1
                continue
            kind, data, area, mask_box = kept
            agree[i] = False  # the box is checked against the parts that are left
        if agree[i]:
            x, y, w, h = given_boxes[i]
            box = (x, y, w, h)
        else:
            box = _box(given_boxes[i], mask_box, "polygon", report, file, iid, aid, repair_boxes)
        out.append(
            Encoded(
                aid,
                ann["category_id"],
                bool(ann.get("iscrowd", 0)),
                box,
                kind,
                data,
                area,
                mask_box,
            )
        )
    return out


# What polygon_problems says of a part that has no area: such a part of a multi-part
# polygon is dropped (pycocotools rasterises the rest), not the whole annotation.
_DEGENERATE = ("coordinates; it needs at least 6", "has zero area")


def _without_degenerate_parts(
    seg: Any, height: int, width: int, report: ImportReport, file: str, iid: Any, aid: Any
) -> tuple[str, bytes, int, tuple[float, float, float, float]] | None:
    """A multi-part polygon without its degenerate parts (a note says which), encoded;
    None when another problem spoils it or no part is left."""
    if type(seg) is not list or len(seg) < 2:
        return None
    kept, dropped = [], []
    for index, part in enumerate(seg):
        problems = polygon_problems(part, width, height)
        if not problems:
            kept.append(part)
        elif all(any(d in p for d in _DEGENERATE) for p in problems):
            dropped.append(index)
        else:
            return None
    if not kept or not dropped:
        return None
    encoded = encode_polygons([kept], height, width)
    if not encoded.ok(0):
        return None
    report.note(
        f"polygon part{'s' if len(dropped) > 1 else ''} {', '.join(map(str, dropped))} "
        f"of {len(seg)} {'have' if len(dropped) > 1 else 'has'} no area and "
        f"{'were' if len(dropped) > 1 else 'was'} dropped; the other {len(kept)} kept",
        file=file,
        image_id=iid,
        annotation_id=aid,
    )
    x, y, w, h = encoded.boxes[0].tolist()
    return encoded.kinds[0], encoded.data[0], encoded.areas[0], (x, y, w, h)  # type: ignore[return-value]


def _box_only(ann: dict, image: SourceImage, report: ImportReport) -> Encoded | None:
    """A box-only annotation as a marked instance with its box, or None (a problem)."""
    where = {"file": image.file, "image_id": image.key, "annotation_id": ann["id"]}
    problems = _field_problems(ann)
    if not problems:
        x, y, w, h = (float(v) for v in ann["bbox"])
        if w <= 0 or h <= 0:
            problems.append(f"the bbox {ann['bbox']} has no area and there is no mask")
        elif (
            x < -BOX_TOLERANCE
            or y < -BOX_TOLERANCE
            or (x + w > image.width + BOX_TOLERANCE or y + h > image.height + BOX_TOLERANCE)
        ):
            problems.append(
                f"the bbox {ann['bbox']} lies outside the {image.width}x{image.height} image"
            )
        elif ann.get("iscrowd"):
            problems.append("a crowd region needs a mask; its segmentation is empty")
    for message in problems:
        report.problem(message, **where)
    if problems:
        return None
    report.box_only += 1
    box = (x, y, w, h)
    return Encoded(ann["id"], ann["category_id"], False, box, BOX_ONLY, b"", 0, box)


def _field_problems(ann: dict) -> list[str]:
    """What is wrong with an annotation's iscrowd and bbox."""
    problems = []
    crowd = ann.get("iscrowd", 0)
    if type(crowd) not in (int, bool) or crowd not in (0, 1):
        problems.append(f"'iscrowd' must be 0 or 1, got {crowd!r}")
    bbox = ann.get("bbox")
    if bbox is None:
        problems.append("missing key 'bbox'")
    elif not (type(bbox) is list and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        problems.append(f"'bbox' must be 4 numbers [x, y, width, height], got {bbox!r}")
    elif bbox[2] < 0 or bbox[3] < 0:
        problems.append(f"the bbox {bbox} has a negative width or height")
    return problems


def _box(
    bbox: list,
    mask_box: tuple,
    what: str,
    report: ImportReport,
    file: str,
    iid: Any,
    aid: Any,
    repair: bool,
) -> tuple[float, float, float, float]:
    """The instance's box: the file's, with a note when it disagrees with the mask's
    extent; with ``repair``, the mask's extent instead (and a note)."""
    x, y, w, h = (float(v) for v in bbox)
    mx, my, mw, mh = mask_box
    gap = max(abs(x - mx), abs(y - my), abs(x + w - mx - mw), abs(y + h - my - mh))
    if gap <= BOX_TOLERANCE:
        return (x, y, w, h)
    report.box_disagrees(gap)
    message = (
        f"the bbox [{x:g}, {y:g}, {w:g}, {h:g}] disagrees with its {what}, which spans "
        f"[{mx:g}, {my:g}, {mw:g}, {mh:g}] (by {gap:.3g} px)"
    )
    where = {"file": file, "image_id": iid, "annotation_id": aid}
    if repair:
        report.note(message + "; the mask's extent is kept (--repair-boxes)", **where)
        return (mx, my, mw, mh)
    report.note(message + "; the file's bbox is kept", **where)
    return (x, y, w, h)

"""Mask geometry: one value type for polygons (holes allowed) and RLE.

A :class:`Mask` belongs to an image of ``height`` x ``width`` pixels and holds either
polygon parts (an exterior ring and its holes each) or a COCO run-length encoding.
Both convert to each other and to a bitmap; area, bbox and IoU follow pycocotools'
conventions so that exported numbers agree with the tools that read them:

- ``area`` is the number of mask pixels after pycocotools' rasterisation;
- ``bbox`` is ``[x, y, w, h]``: the extent of the exterior rings for polygons,
  pycocotools' ``toBbox`` for RLE.

Coordinates are continuous: pixel ``(col, row)`` covers ``[col, col+1] x [row, row+1]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import Polygon as ShapelyPolygon

from ..errors import GeometryError, PromptError
from . import polygon_bytes

Box = tuple[float, float, float, float]
"""A box as COCO writes it: x, y, width, height."""

POLYGON = "polygon"
RLE = "rle"


def as_ring(coords: Any) -> np.ndarray:
    """A ring as an ``(N, 2)`` float64 array, from flat ``[x0, y0, x1, y1, ...]`` or pairs."""
    ring = np.asarray(coords, dtype=np.float64)
    if ring.ndim == 1:
        if ring.size % 2:
            raise GeometryError(f"a ring has an odd number of coordinates ({ring.size})")
        ring = ring.reshape(-1, 2)
    if ring.ndim != 2 or ring.shape[1] != 2:
        raise GeometryError(f"a ring must be a list of (x, y) points, got shape {ring.shape}")
    return np.ascontiguousarray(ring)


@dataclass(frozen=True, eq=False)
class PolygonPart:
    """One connected polygon: an exterior ring and the holes cut out of it."""

    exterior: np.ndarray
    holes: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "exterior", as_ring(self.exterior))
        object.__setattr__(self, "holes", tuple(as_ring(h) for h in self.holes))

    @property
    def rings(self) -> tuple[np.ndarray, ...]:
        return (self.exterior, *self.holes)


def polygon_problems(coords: Any, width: int, height: int, *, tolerance: float = 0.0) -> list[str]:
    """Why a flat COCO polygon part cannot be a mask of a ``width`` x ``height`` image.

    Returns an empty list for a good part. Checks: a list of numbers, at least 6
    coordinates (3 points), an even count, finite values, every point inside the image
    (``[0, width] x [0, height]``, widened by ``tolerance``) and a non-zero area.
    """
    if not isinstance(coords, (list, tuple, np.ndarray)):
        return [f"a polygon part must be a list of numbers, got {type(coords).__name__}"]
    try:
        values = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        return ["a polygon part holds something that is not a number"]
    if values.ndim != 1:
        return ["a polygon part must be a flat list [x0, y0, x1, y1, ...]"]
    problems = []
    if values.size < 6:
        problems.append(
            f"a polygon part has {values.size} coordinates; it needs at least 6 (3 points)"
        )
    if values.size % 2:
        problems.append(f"a polygon part has an odd number of coordinates ({values.size})")
    if problems:
        return problems
    if not np.all(np.isfinite(values)):
        return ["a polygon part has a coordinate that is not a finite number"]
    ring = values.reshape(-1, 2)
    outside = (
        (ring[:, 0] < -tolerance)
        | (ring[:, 0] > width + tolerance)
        | (ring[:, 1] < -tolerance)
        | (ring[:, 1] > height + tolerance)
    )
    if outside.any():
        x, y = ring[int(np.argmax(outside))]
        problems.append(
            f"point ({x:g}, {y:g}) lies outside the {width}x{height} image"
            + (f" ({int(outside.sum())} points outside)" if outside.sum() > 1 else "")
        )
    if _collinear(ring):
        problems.append("a polygon part has zero area (its points lie on one line)")
    return problems


def _collinear(ring: np.ndarray) -> bool:
    """True when every point lies on one line (or on one spot)."""
    offsets = ring - ring[0]
    direction = offsets[int(np.argmax(np.abs(offsets).sum(axis=1)))]
    cross = offsets[:, 0] * direction[1] - offsets[:, 1] * direction[0]
    return bool(np.all(np.abs(cross) <= 1e-9 * max(1.0, float(np.abs(direction).sum()))))


def _ring_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2.0


def _shapely_parts(geometry: Any) -> list[PolygonPart]:
    """The polygonal pieces of a shapely geometry (lines and points are dropped)."""
    if isinstance(geometry, ShapelyPolygon):
        if geometry.is_empty:
            return []
        return [
            PolygonPart(
                np.asarray(geometry.exterior.coords)[:-1],
                tuple(np.asarray(h.coords)[:-1] for h in geometry.interiors),
            )
        ]
    if hasattr(geometry, "geoms"):
        return [part for g in geometry.geoms for part in _shapely_parts(g)]
    return []


def repair_part(part: PolygonPart) -> list[PolygonPart]:
    """A self-intersecting polygon made valid with shapely's ``make_valid``.

    A valid part comes back unchanged; a bow-tie comes back as its two triangles.
    An empty list means nothing of area was left.
    """
    polygon = ShapelyPolygon(part.exterior, [h for h in part.holes])
    if polygon.is_valid:
        return [part]
    return _shapely_parts(shapely.make_valid(polygon))


def self_intersection_problem(part: PolygonPart) -> str | None:
    """Shapely's reason why the part is not a valid polygon, or None."""
    polygon = ShapelyPolygon(part.exterior, [h for h in part.holes])
    if polygon.is_valid:
        return None
    return f"the polygon is not simple: {shapely.is_valid_reason(polygon)}"


@dataclass(frozen=True)
class CocoSegmentation:
    """A mask as a COCO ``segmentation`` value, the pixel area of that value as written,
    and the pixels in which it differs from the mask (0 when the form is exact)."""

    segmentation: Any
    area: int
    changed: int


@dataclass(frozen=True, eq=False)
class Mask:
    """An instance mask of one image: polygon parts or a compressed COCO RLE."""

    height: int
    width: int
    parts: tuple[PolygonPart, ...] | None = None
    counts: bytes | None = None

    def __post_init__(self) -> None:
        if (self.parts is None) == (self.counts is None):
            raise GeometryError("a mask holds either polygon parts or an RLE, not both")
        if int(self.height) <= 0 or int(self.width) <= 0:
            raise GeometryError(f"a mask needs a positive size, got {self.width}x{self.height}")
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "width", int(self.width))
        if self.parts is not None:
            object.__setattr__(self, "parts", tuple(self.parts))
        if isinstance(self.counts, str):
            object.__setattr__(self, "counts", self.counts.encode("ascii"))

    # ----------------------------------------------------------------- constructors

    @classmethod
    def from_polygons(cls, parts: Iterable[PolygonPart | Any], height: int, width: int) -> Mask:
        """A polygon mask from parts, or from bare rings (each its own part, no holes)."""
        made = tuple(p if isinstance(p, PolygonPart) else PolygonPart(p) for p in parts)
        if not made:
            raise GeometryError("a polygon mask needs at least one part")
        for part in made:
            for ring in part.rings:
                if len(ring) < 3:
                    raise GeometryError(f"a ring has {len(ring)} points; it needs at least 3")
        return cls(height, width, parts=made)

    @classmethod
    def from_coco(cls, segmentation: Any, height: int, width: int) -> Mask:
        """A mask from a COCO ``segmentation``: a list of flat polygons, or an RLE dict
        (``counts`` as a compressed string or an uncompressed list of run lengths)."""
        if isinstance(segmentation, dict):
            return cls.from_rle(segmentation, height, width)
        if isinstance(segmentation, (list, tuple)):
            return cls.from_polygons([as_ring(p) for p in segmentation], height, width)
        raise GeometryError(
            f"a segmentation must be a list of polygons or an RLE dict, got {type(segmentation).__name__}"
        )

    @classmethod
    def from_rle(
        cls, rle: dict[str, Any], height: int | None = None, width: int | None = None
    ) -> Mask:
        """A mask from a COCO RLE dict; its ``size`` must equal ``[height, width]`` when given."""
        (made,) = cls.from_rles([rle], height, width)
        if isinstance(made, GeometryError):
            raise made
        return made

    @classmethod
    def from_rles(
        cls, rles: Sequence[Any], height: int | None = None, width: int | None = None
    ) -> list[Mask | GeometryError]:
        """:meth:`from_rle` of each dict, its error in its place: the compressed counts of
        all are checked at once (:func:`rle_problems`; one by one, the check was 0.3 ms
        of numpy calls per mask)."""
        made: list[Mask | GeometryError] = []
        for rle in rles:
            try:
                made.append(cls._unchecked_rle(rle, height, width))
            except GeometryError as exc:
                made.append(exc)
        at = [k for k, m in enumerate(made) if isinstance(m, Mask)]
        masks = [m for m in made if isinstance(m, Mask)]
        problems = rle_problems(
            [m.counts or b"" for m in masks], [(m.height, m.width) for m in masks]
        )
        for k, problem in zip(at, problems, strict=True):
            if problem is not None:
                made[k] = GeometryError(problem)
        return made

    @classmethod
    def _unchecked_rle(cls, rle: Any, height: int | None, width: int | None) -> Mask:
        """The mask of an RLE dict whose size and form are right; its counts unchecked."""
        try:
            size = [int(v) for v in rle["size"]]
            counts = rle["counts"]
        except (KeyError, TypeError, ValueError) as exc:
            raise GeometryError("an RLE needs 'size' [height, width] and 'counts'") from exc
        if len(size) != 2:
            raise GeometryError(f"an RLE size must be [height, width], got {rle['size']}")
        h, w = size
        if height is not None and width is not None and (h, w) != (int(height), int(width)):
            raise GeometryError(
                f"the RLE is {w}x{h} (size [{h}, {w}]) but the image is {width}x{height}"
            )
        if h <= 0 or w <= 0:
            raise GeometryError(f"an RLE size must be positive, got [{h}, {w}]")
        if isinstance(counts, list):
            if any(
                isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0 for c in counts
            ):
                raise GeometryError("uncompressed RLE counts must be non-negative integers")
            if sum(counts) != h * w:
                raise GeometryError(
                    f"uncompressed RLE counts sum to {sum(counts)}, not {h}x{w} = {h * w}"
                )
            counts = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)["counts"]
        elif isinstance(counts, str):
            try:
                counts = counts.encode("ascii")
            except UnicodeEncodeError:
                raise GeometryError("the RLE counts hold characters outside ASCII") from None
        elif not isinstance(counts, bytes):
            raise GeometryError(
                f"RLE counts must be a string or a list, got {type(counts).__name__}"
            )
        return cls(h, w, counts=counts)

    @classmethod
    def from_bitmap(cls, bitmap: np.ndarray) -> Mask:
        """An RLE mask from a 2-D array (non-zero = inside)."""
        bitmap = np.asarray(bitmap)
        if bitmap.ndim != 2:
            raise GeometryError(f"a bitmap must be 2-D, got shape {bitmap.shape}")
        rle = mask_utils.encode(np.asfortranarray(bitmap.astype(np.uint8) != 0, dtype=np.uint8))
        return cls(bitmap.shape[0], bitmap.shape[1], counts=rle["counts"])

    @classmethod
    def from_box(cls, box: Box, height: int, width: int) -> Mask:
        """A rectangle as a polygon mask."""
        x, y, w, h = (float(v) for v in box)
        ring = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        return cls.from_polygons([ring], height, width)

    # ----------------------------------------------------------------- properties

    @property
    def kind(self) -> str:
        return POLYGON if self.parts is not None else RLE

    @property
    def polygon_parts(self) -> tuple[PolygonPart, ...]:
        """The parts of a polygon mask (none for an RLE mask)."""
        return self.parts or ()

    @property
    def has_holes(self) -> bool:
        """True when a polygon part has holes, or when an RLE mask has any."""
        if self.parts is not None:
            return any(part.holes for part in self.parts)
        return any(part.holes for part in self.to_polygons().parts or ())

    @cached_property
    def rle(self) -> dict[str, Any]:
        """The mask as a pycocotools RLE dict (``counts`` as bytes)."""
        if self.counts is not None:
            return {"size": [self.height, self.width], "counts": self.counts}
        h, w = self.height, self.width
        exteriors = [_flat(part.exterior) for part in self.polygon_parts]
        merged: dict[str, Any] = mask_utils.merge(mask_utils.frPyObjects(exteriors, h, w))
        if not self.has_holes:
            return merged
        # pycocotools has no difference operator: cut each part's holes on a bitmap,
        # then unite the parts (a part may sit inside another part's hole).
        bitmap = np.zeros((h, w), dtype=np.uint8)
        for part in self.polygon_parts:
            fill = mask_utils.decode(mask_utils.frPyObjects([_flat(part.exterior)], h, w)[0])
            if part.holes:
                cut = mask_utils.merge(mask_utils.frPyObjects([_flat(x) for x in part.holes], h, w))
                fill &= 1 - mask_utils.decode(cut)
            bitmap |= fill
        holed: dict[str, Any] = mask_utils.encode(np.asfortranarray(bitmap))
        return holed

    def coco_rle(self) -> dict[str, Any]:
        """The RLE as COCO JSON writes it: ``{"size": [h, w], "counts": str}``."""
        return {"size": [self.height, self.width], "counts": self.rle["counts"].decode("ascii")}

    def to_bitmap(self) -> np.ndarray:
        """The mask as a ``(height, width)`` uint8 array of 0 and 1."""
        return np.ascontiguousarray(mask_utils.decode(self.rle))

    @cached_property
    def area(self) -> int:
        """Number of mask pixels."""
        return int(mask_utils.area(self.rle))

    @cached_property
    def bbox(self) -> Box:
        """``(x, y, w, h)``: the extent of the exterior rings, or the RLE's toBbox."""
        if self.parts is not None:
            points = np.concatenate([part.exterior for part in self.parts])
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        x, y, w, h = mask_utils.toBbox(self.rle)
        return (float(x), float(y), float(w), float(h))

    def iou(self, other: Mask) -> float:
        """Intersection over union of the two masks' pixels (0 when both are empty)."""
        if (self.height, self.width) != (other.height, other.width):
            raise GeometryError(
                f"cannot compare masks of {self.width}x{self.height} and {other.width}x{other.height}"
            )
        if self.area == 0 and other.area == 0:
            return 0.0
        return float(mask_utils.iou([self.rle], [other.rle], [0])[0][0])

    # ----------------------------------------------------------------- conversions

    def to_rle_mask(self) -> Mask:
        """The same pixels as an RLE mask."""
        if self.counts is not None:
            return self
        return Mask(self.height, self.width, counts=self.rle["counts"])

    def to_polygons(self, epsilon: float = 0.0) -> Mask:
        """The same region as a polygon mask (holes kept).

        RLE masks are traced with OpenCV; ``epsilon`` > 0 simplifies the rings
        (Douglas-Peucker, in pixels). Raises GeometryError for an empty mask.
        """
        if self.parts is not None and epsilon == 0.0:
            return self
        parts = bitmap_to_parts(self.to_bitmap(), epsilon)
        if not parts:
            raise GeometryError("an empty mask has no polygon")
        return Mask(self.height, self.width, parts=tuple(parts))

    def coco_polygons(self) -> CocoSegmentation:
        """Exterior rings as COCO flat polygons, with the pixels they cover as written.

        COCO polygons cannot express holes, and an RLE mask traced into polygons
        rasterises back to nearly, not exactly, its pixels: ``area`` is the pixel
        count of the polygons as written (what pycocotools computes from them) and
        ``changed`` the pixels in which they differ from this mask.
        """
        source = self if self.parts is not None else self.to_polygons()
        flat = [[float(v) for v in _flat(part.exterior)] for part in source.polygon_parts]
        if not source.has_holes and source is self:
            return CocoSegmentation(flat, self.area, 0)
        written = Mask.from_polygons(
            [part.exterior for part in source.polygon_parts], self.height, self.width
        )
        both = int(mask_utils.area(mask_utils.merge([self.rle, written.rle], intersect=True)))
        return CocoSegmentation(flat, written.area, self.area + written.area - 2 * both)

    def to_coco(self, form: str = "auto") -> CocoSegmentation:
        """The COCO ``segmentation`` in ``form`` ('polygon', 'rle' or 'auto'), its area as
        written and the pixels it changes. 'auto' keeps polygons unless they have holes,
        and keeps RLE as RLE (both exact)."""
        if form == RLE or (form == "auto" and (self.kind == RLE or self.has_holes)):
            return CocoSegmentation(self.coco_rle(), self.area, 0)
        if form not in (POLYGON, "auto"):
            raise GeometryError(f"unknown mask form {form!r}; use polygon, rle or auto")
        return self.coco_polygons()

    # ----------------------------------------------------------------- storage

    def to_bytes(self) -> tuple[str, bytes]:
        """``(kind, data)`` for the store: float64 rings with a uint32 header, or RLE counts."""
        if self.counts is not None:
            return RLE, bytes(self.counts)
        return POLYGON, polygon_bytes.pack([part.rings for part in self.polygon_parts])

    @classmethod
    def from_bytes(cls, kind: str, data: bytes, height: int, width: int) -> Mask:
        """The inverse of :meth:`to_bytes`."""
        if kind == RLE:
            return cls(height, width, counts=bytes(data))
        if kind != POLYGON:
            raise GeometryError(f"unknown stored mask kind {kind!r}")
        parts = polygon_bytes.unpack(data)
        return cls(height, width, parts=tuple(PolygonPart(r[0], tuple(r[1:])) for r in parts))

    # ----------------------------------------------------------------- checks

    def check(self) -> None:
        """Raise GeometryError unless the mask can be handed to pycocotools safely.

        Masks built from bitmaps or polygons are sound by construction; an RLE that
        came from outside (a file, an answer, a model) may not be: pycocotools decodes
        counts that cover only part of the image into uninitialised memory, and a
        negative count past the end of it. See :func:`rle_problem`.
        """
        if self.counts is not None:
            problem = rle_problem(self.counts, self.height, self.width)
            if problem is not None:
                raise GeometryError(problem)
        else:
            for part in self.polygon_parts:
                for ring in part.rings:
                    if not np.all(np.isfinite(ring)):
                        raise GeometryError(
                            "a polygon has a coordinate that is not a finite number"
                        )


def rle_problem(counts: bytes | str, height: int, width: int) -> str | None:
    """Why compressed RLE ``counts`` cannot be the mask of a ``width`` x ``height`` image,
    or None: the string must decode (pycocotools' characters, whole numbers, no count
    below zero) and its counts must cover exactly ``height * width`` pixels."""
    return rle_problems([counts], [(height, width)])[0]


def rle_problems(
    counts: Sequence[bytes | str], sizes: Sequence[tuple[int, int]]
) -> list[str | None]:
    """:func:`rle_problem` of many counts strings, decoded in one pass; ``sizes``: each
    string's image (height, width)."""
    # The one decoder of compressed counts (imported here: the evaluation package it
    # lives in costs a fifth of a second to import, and most callers never need it).
    from ..evaluation.rle import summarize_counts

    if not counts:
        return []
    summary = summarize_counts(counts)
    totals = summary.total.tolist()
    well_formed = summary.well_formed.tolist()
    out: list[str | None] = []
    for k, string in enumerate(counts):
        height, width = sizes[k]
        if len(string) == 0:
            out.append(f"the RLE counts are empty; they must cover the {width}x{height} image")
        elif not well_formed[k]:
            shown = string.decode("ascii", "replace") if isinstance(string, bytes) else string
            shown = shown if len(shown) <= 24 else shown[:24] + "..."
            out.append(f"the RLE counts {shown!r} cannot be decoded (malformed or negative counts)")
        elif totals[k] != height * width:
            out.append(
                f"the RLE counts cover {totals[k]} pixels, not the {width}x{height} image's "
                f"{height * width}"
            )
        else:
            out.append(None)
    return out


def _flat(ring: np.ndarray) -> list[float]:
    flat: list[float] = ring.reshape(-1).tolist()
    return flat


def bitmap_to_parts(bitmap: np.ndarray, epsilon: float = 0.0) -> list[PolygonPart]:
    """Trace a bitmap into polygon parts with holes (OpenCV, two-level hierarchy).

    Rings run along pixel corners, so a traced region rasterises back to nearly the
    same pixels. Components thinner than a ring become their bounding rectangle.
    """
    binary = (np.asarray(bitmap) != 0).astype(np.uint8)
    if not binary.any():
        return []
    # Trace on a 2x grid so that ring vertices land on pixel corners, not centres.
    up = cv2.resize(binary, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    up = np.pad(up, 1)
    contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy[0]
    rings: list[np.ndarray] = []
    for contour in contours:
        points = contour.reshape(-1, 2).astype(np.float64) - 1.0  # undo the pad
        # On the 2x grid a pixel's corner c maps to 2c; boundary pixels sit at 2c or 2c+1.
        points = np.floor((points + 1.0) / 2.0)
        if epsilon > 0 and len(points) > 3:
            simplified = cv2.approxPolyDP(points.astype(np.float32), epsilon, True)
            points = simplified.reshape(-1, 2).astype(np.float64)
        rings.append(_dedupe(points))
    parts: list[PolygonPart] = []
    for i, (_next, _prev, _child, parent) in enumerate(hierarchy):
        if parent != -1:
            continue
        holes = tuple(
            rings[j]
            for j, row in enumerate(hierarchy)
            if row[3] == i and len(rings[j]) >= 3 and _ring_area(rings[j]) > 0
        )
        exterior = rings[i]
        if len(exterior) < 3 or _ring_area(exterior) == 0:
            x, y, w, h = cv2.boundingRect((contours[i].reshape(-1, 2) - 1) // 2)
            exterior = np.array([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], dtype=np.float64)
        parts.append(PolygonPart(exterior, holes))
    return parts


def _dedupe(points: np.ndarray) -> np.ndarray:
    if len(points) < 2:
        return points
    keep = np.any(points != np.roll(points, 1, axis=0), axis=1)
    kept = points[keep]
    return kept if len(kept) else points[:1]


def validate_polygons(
    segmentation: Sequence[Any],
    height: int,
    width: int,
    *,
    repair: bool = True,
    tolerance: float = 0.0,
) -> tuple[Mask, list[str]]:
    """A polygon mask from COCO flat polygons, checked part by part.

    Raises GeometryError listing every problem. Self-intersecting parts are repaired
    with shapely's ``make_valid`` when ``repair`` is true (the second value says what
    was repaired), else rejected.
    """
    if not isinstance(segmentation, (list, tuple)) or not segmentation:
        raise GeometryError("a polygon segmentation must be a non-empty list of parts")
    problems: list[str] = []
    notes: list[str] = []
    parts: list[PolygonPart] = []
    for index, coords in enumerate(segmentation):
        found = polygon_problems(coords, width, height, tolerance=tolerance)
        if found:
            problems.extend(f"part {index}: {p}" for p in found)
            continue
        part = PolygonPart(as_ring(coords))
        reason = self_intersection_problem(part)
        if reason is None:
            parts.append(part)
        elif repair:
            repaired = repair_part(part)
            if not repaired:
                problems.append(f"part {index}: {reason}; nothing is left after repair")
            else:
                parts.extend(repaired)
                notes.append(f"part {index}: repaired ({reason})")
        else:
            problems.append(f"part {index}: {reason}")
    if problems:
        raise GeometryError("; ".join(problems))
    return Mask.from_polygons(parts, height, width), notes


def box_iou(a: Box, b: Box) -> float:
    """IoU of two ``(x, y, w, h)`` boxes."""
    ax1, ay1 = a[0] + a[2], a[1] + a[3]
    bx1, by1 = b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def prompt_box(box: Sequence[float], height: int, width: int) -> Box:
    """A box prompt ``(x, y, w, h)`` clipped to a ``width`` x ``height`` image.

    A box partly outside is clipped; one with no area, or entirely outside the image,
    is a PromptError (a model would otherwise answer with a sliver at the edge).
    """
    x, y, w, h = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise PromptError(f"a box needs finite numbers, got {tuple(box)}")
    if w <= 0 or h <= 0:
        raise PromptError(f"the box ({x:g}, {y:g}, {w:g}, {h:g}) has no area (w and h must be > 0)")
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 <= x0 or y1 <= y0:
        raise PromptError(
            f"the box ({x:g}, {y:g}, {w:g}, {h:g}) lies entirely outside the {width}x{height} "
            "image; a prompt must overlap the image"
        )
    return (x0, y0, x1 - x0, y1 - y0)


def prompt_point(point: Sequence[float], height: int, width: int) -> tuple[float, float]:
    """A point prompt ``(x, y)``, which must lie on the ``width`` x ``height`` image."""
    x, y = (float(v) for v in point)
    if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= width and 0 <= y <= height):
        raise PromptError(
            f"the point ({x:g}, {y:g}) lies outside the {width}x{height} image; a prompt "
            "must be on the image"
        )
    return (x, y)


def boxes_agree(a: Box, b: Box, *, tolerance: float = 1.0) -> bool:
    """True when each side of the two boxes is within ``tolerance`` pixels."""
    return all(
        math.isclose(u, v, abs_tol=tolerance)
        for u, v in zip(
            (a[0], a[1], a[0] + a[2], a[1] + a[3]),
            (b[0], b[1], b[0] + b[2], b[1] + b[3]),
            strict=True,
        )
    )


__all__ = [
    "POLYGON",
    "RLE",
    "Box",
    "CocoSegmentation",
    "Mask",
    "PolygonPart",
    "as_ring",
    "bitmap_to_parts",
    "box_iou",
    "boxes_agree",
    "polygon_problems",
    "prompt_box",
    "prompt_point",
    "repair_part",
    "rle_problem",
    "rle_problems",
    "self_intersection_problem",
    "validate_polygons",
]

"""Mask edits: the Qt-free model of a mask being drawn, and the pure edits that change it.

:class:`Draft` is a drawing in progress on one image: a :class:`pipeline.masks.geometry.Mask`
(or nothing yet) that polygon, hole, vertex, brush and eraser edits change. Every edit
gives a new immutable ``Mask``, so an undo command only keeps the mask before and after
(the GUI's ``QUndoCommand`` s in ``app/gui/edits.py``).

Two forms, as the geometry module knows them:

- **polygons with holes** while the drawing is made of polygons: adding a polygon joins
  it to the parts it touches (shapely union), a hole is cut out (shapely difference),
  vertices move, are inserted and deleted;
- **RLE** once a brush or eraser touched it, or a model proposal (a bitmap) started
  it: a polygon is then rasterised (pycocotools' rule) and painted into the bitmap.
  :meth:`Draft.traced` turns it back into polygons (for vertex edits).

The brush paints every pixel whose centre lies within ``radius`` of the stroke (a
capsule around each segment of the stroke's path), so a stroke's pixels are exact and
predictable. Saving a drawing in progress is :mod:`pipeline.drafts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import shapely
from shapely.geometry import Polygon as ShapelyPolygon

from ..errors import GeometryError, LongtailError
from .geometry import POLYGON, RLE, Mask, PolygonPart, _shapely_parts, as_ring

Point = tuple[float, float]
_M = TypeVar("_M", bound=Mask | None)
VertexRef = tuple[int, int, int]
"""(part index, ring index (0 the exterior, 1.. the holes), vertex index)."""


class DraftError(LongtailError):
    """An edit that cannot apply to the draft (no mask to cut, too few points ...)."""


# ---------------------------------------------------------------- pure operations


def _rasterise(ring: Sequence[Point] | np.ndarray, height: int, width: int) -> np.ndarray:
    """A ring's pixels as pycocotools fills them (the same rule as Mask.area)."""
    return Mask.from_polygons([as_ring(ring)], height, width).to_bitmap()


def _shapely(mask: Mask) -> Any:
    return shapely.union_all(
        [ShapelyPolygon(p.exterior, [h for h in p.holes]) for p in mask.polygon_parts]
    )


def _from_shapely(geometry: Any, height: int, width: int) -> Mask | None:
    parts = _shapely_parts(geometry)
    return Mask(height, width, parts=tuple(parts)) if parts else None


def _valid_ring(ring: Sequence[Point] | np.ndarray) -> np.ndarray:
    points = as_ring(ring)
    if len(points) < 3:
        raise DraftError(f"a polygon needs at least 3 points, got {len(points)}")
    if not np.all(np.isfinite(points)):
        raise DraftError("a polygon point is not a finite number")
    return points


def _ring_polygon(points: np.ndarray) -> Any:
    """The ring as a valid shapely geometry (a bow-tie becomes its two triangles)."""
    polygon = ShapelyPolygon(points)
    return polygon if polygon.is_valid else shapely.make_valid(polygon)


def add_polygon(mask: Mask | None, ring: Sequence[Point], height: int, width: int) -> Mask:
    """``mask`` with the polygon ``ring`` added (joined to what it overlaps); the part
    outside the image is cut off (a click beside the image lands on its edge)."""
    points = _valid_ring(ring)
    if mask is not None and mask.kind == RLE:
        # pycocotools rasterises a ring that leaves the image as its part inside.
        bitmap = mask.to_bitmap() | _rasterise(points, height, width)
        return Mask.from_bitmap(bitmap)
    added = _ring_polygon(points)
    if not shapely.box(0, 0, width, height).covers(added):
        added = added.intersection(shapely.box(0, 0, width, height))
    if mask is None:
        result = _from_shapely(added, height, width)
    elif _shapely(mask).intersects(added):
        result = _from_shapely(_shapely(mask).union(added), height, width)
    else:  # disjoint: keep the existing parts exactly as they are
        new = _from_shapely(added, height, width)
        result = Mask(height, width, parts=mask.polygon_parts + (new.polygon_parts if new else ()))
    if result is None:
        raise DraftError("the polygon has no area (its points lie on one line)")
    return result


def cut_hole(mask: Mask | None, ring: Sequence[Point]) -> Mask | None:
    """``mask`` with the polygon ``ring`` cut out; None when nothing is left."""
    if mask is None:
        raise DraftError("there is no mask to cut a hole in")
    points = _valid_ring(ring)
    if mask.kind == RLE:
        bitmap = mask.to_bitmap() & (1 - _rasterise(points, mask.height, mask.width))
        return Mask.from_bitmap(bitmap) if bitmap.any() else None
    return _from_shapely(_shapely(mask).difference(_ring_polygon(points)), mask.height, mask.width)


def stroke_pixels(path: Sequence[Point], radius: float, height: int, width: int) -> np.ndarray:
    """The pixels a round brush of ``radius`` covers along ``path``: those whose centre
    lies within ``radius`` of a segment of the path (of the point, for one point)."""
    if radius <= 0:
        raise DraftError(f"a brush radius must be positive, got {radius}")
    points = as_ring(path) if len(path) else np.zeros((0, 2))
    if len(points) == 0:
        raise DraftError("a stroke needs at least one point")
    covered = np.zeros((height, width), dtype=np.uint8)
    starts = points if len(points) == 1 else points[:-1]
    ends = points if len(points) == 1 else points[1:]
    for a, b in zip(starts, ends, strict=True):
        lo = np.floor(np.minimum(a, b) - radius).astype(int)
        hi = np.ceil(np.maximum(a, b) + radius).astype(int) + 1
        c0, r0 = max(lo[0], 0), max(lo[1], 0)
        c1, r1 = min(hi[0], width), min(hi[1], height)
        if c0 >= c1 or r0 >= r1:
            continue
        cx = np.arange(c0, c1, dtype=np.float64) + 0.5
        cy = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
        d = b - a
        length2 = float(d @ d)
        if length2 == 0.0:
            t = 0.0
        else:
            t = np.clip(((cx - a[0]) * d[0] + (cy - a[1]) * d[1]) / length2, 0.0, 1.0)
        dx = cx - (a[0] + t * d[0])
        dy = cy - (a[1] + t * d[1])
        covered[r0:r1, c0:c1] |= (dx * dx + dy * dy <= radius * radius).astype(np.uint8)
    return covered


def paint(
    mask: Mask | None,
    path: Sequence[Point],
    radius: float,
    height: int,
    width: int,
    *,
    erase: bool = False,
) -> Mask | None:
    """``mask`` after a brush (or eraser) stroke; the result is RLE, None when empty."""
    covered = stroke_pixels(path, radius, height, width)
    bitmap = mask.to_bitmap() if mask is not None else np.zeros((height, width), np.uint8)
    bitmap = bitmap & (1 - covered) if erase else bitmap | covered
    return Mask.from_bitmap(bitmap) if bitmap.any() else None


def _polygon_mask(mask: Mask | None) -> Mask:
    if mask is None:
        raise DraftError("there is no mask to edit")
    if mask.kind != POLYGON:
        raise DraftError("vertex edits need a polygon mask; trace the painted mask first")
    return mask


def _replace_ring(mask: Mask, ref: VertexRef, ring: np.ndarray | None) -> Mask | None:
    """``mask`` with ring ``ref[:2]`` replaced (None removes the ring, or the whole part
    when it is the exterior)."""
    if ring is not None:
        return _with_ring(mask, ref, ring)
    part_index, ring_index, _ = ref
    parts = list(mask.polygon_parts)
    rings = list(parts[part_index].rings)
    if ring_index == 0:
        del parts[part_index]
        return Mask(mask.height, mask.width, parts=tuple(parts)) if parts else None
    del rings[ring_index]
    parts[part_index] = PolygonPart(rings[0], tuple(rings[1:]))
    return Mask(mask.height, mask.width, parts=tuple(parts))


def _with_ring(mask: Mask, ref: VertexRef, ring: np.ndarray) -> Mask:
    """``mask`` with ring ``ref[:2]`` replaced by ``ring``."""
    part_index, ring_index, _ = ref
    parts = list(mask.polygon_parts)
    rings = list(parts[part_index].rings)
    rings[ring_index] = ring
    parts[part_index] = PolygonPart(rings[0], tuple(rings[1:]))
    return Mask(mask.height, mask.width, parts=tuple(parts))


def _ring_at(mask: Mask, ref: VertexRef) -> np.ndarray:
    part_index, ring_index, vertex = ref
    try:
        ring = mask.polygon_parts[part_index].rings[ring_index]
    except IndexError:
        raise DraftError(f"the mask has no ring {ref[:2]}") from None
    if not 0 <= vertex < len(ring) + 1:
        raise DraftError(f"ring {ref[:2]} has no vertex {vertex}")
    return ring


def move_vertex(mask: Mask | None, ref: VertexRef, to: Point) -> Mask:
    """The polygon mask with vertex ``ref`` moved to ``to``."""
    mask = _polygon_mask(mask)
    ring = _ring_at(mask, ref).copy()
    ring[ref[2] % len(ring)] = _inside(mask, to)
    return _with_ring(mask, ref, ring)


def _inside(mask: Mask, point: Point) -> tuple[float, float]:
    """The point, moved onto the image's edge when it lies beyond it."""
    return (
        min(max(float(point[0]), 0.0), float(mask.width)),
        min(max(float(point[1]), 0.0), float(mask.height)),
    )


def insert_vertex(mask: Mask | None, ref: VertexRef, at: Point) -> Mask:
    """The polygon mask with a new vertex ``at``, placed before vertex ``ref`` (so that
    index ``n`` appends it after the last one: on the closing edge)."""
    mask = _polygon_mask(mask)
    ring = _ring_at(mask, ref)
    ring = np.insert(ring, ref[2], _inside(mask, at), axis=0)
    return _with_ring(mask, ref, ring)


def delete_vertex(mask: Mask | None, ref: VertexRef) -> Mask | None:
    """The polygon mask without vertex ``ref``; a ring left with 2 points goes (a hole),
    or takes its part with it (an exterior). None when nothing is left."""
    mask = _polygon_mask(mask)
    ring = _ring_at(mask, ref)
    if ref[2] >= len(ring):
        raise DraftError(f"ring {ref[:2]} has no vertex {ref[2]}")
    ring = np.delete(ring, ref[2], axis=0)
    return _replace_ring(mask, ref, ring if len(ring) >= 3 else None)


def repaired(mask: Mask | None) -> Mask | None:
    """A polygon mask whose edited rings cross themselves or each other, made valid
    (shapely ``make_valid``: a bow-tie becomes two triangles); a valid one unchanged."""
    if mask is None or mask.kind != POLYGON:
        return mask
    polygons = [ShapelyPolygon(p.exterior, [h for h in p.holes]) for p in mask.polygon_parts]
    if all(p.is_valid for p in polygons) and (
        len(polygons) == 1
        or not shapely.union_all(polygons).area < sum(p.area for p in polygons) - 1e-9
    ):
        return mask
    fixed = shapely.union_all([shapely.make_valid(p) for p in polygons])
    return _from_shapely(fixed, mask.height, mask.width)


def nearest_edge(mask: Mask, point: Point) -> tuple[VertexRef, Point, float]:
    """The edge of a polygon mask nearest ``point``: the ref where an inserted vertex
    goes, the nearest point on that edge, and its distance."""
    mask = _polygon_mask(mask)
    p = np.asarray(point, dtype=np.float64)
    best: tuple[VertexRef, Point, float] | None = None
    for pi, part in enumerate(mask.polygon_parts):
        for ri, ring in enumerate(part.rings):
            a, b = ring, np.roll(ring, -1, axis=0)
            d = b - a
            length2 = np.maximum((d * d).sum(axis=1), 1e-12)
            t = np.clip(((p - a) * d).sum(axis=1) / length2, 0.0, 1.0)
            foot = a + t[:, None] * d
            dist = np.hypot(*(foot - p).T)
            i = int(np.argmin(dist))
            if best is None or dist[i] < best[2]:
                best = ((pi, ri, i + 1), (float(foot[i, 0]), float(foot[i, 1])), float(dist[i]))
    assert best is not None
    return best


def nearest_vertex(mask: Mask, point: Point) -> tuple[VertexRef, float]:
    """The vertex of a polygon mask nearest ``point`` and its distance."""
    mask = _polygon_mask(mask)
    p = np.asarray(point, dtype=np.float64)
    best: tuple[VertexRef, float] | None = None
    for pi, part in enumerate(mask.polygon_parts):
        for ri, ring in enumerate(part.rings):
            dist = np.hypot(*(ring - p).T)
            i = int(np.argmin(dist))
            if best is None or dist[i] < best[1]:
                best = ((pi, ri, i), float(dist[i]))
    assert best is not None
    return best


# ---------------------------------------------------------------- the draft


class Draft:
    """The mask being drawn on one ``height`` x ``width`` image (see the module doc).

    Each edit method returns the new mask and makes it current; :meth:`set_mask` puts
    back any earlier one (undo and redo do that).
    """

    def __init__(self, height: int, width: int, mask: Mask | None = None) -> None:
        if height <= 0 or width <= 0:
            raise GeometryError(f"a draft needs a positive image size, got {width}x{height}")
        self.height = int(height)
        self.width = int(width)
        self.mask: Mask | None = None
        self.set_mask(mask)

    def set_mask(self, mask: Mask | None) -> None:
        if mask is not None and (mask.height, mask.width) != (self.height, self.width):
            raise GeometryError(
                f"a {mask.width}x{mask.height} mask cannot be drawn on a "
                f"{self.width}x{self.height} image"
            )
        self.mask = mask

    @property
    def empty(self) -> bool:
        return self.mask is None

    def _set(self, mask: _M) -> _M:
        self.mask = mask
        return mask

    def add_polygon(self, ring: Sequence[Point]) -> Mask:
        return self._set(add_polygon(self.mask, ring, self.height, self.width))

    def cut_hole(self, ring: Sequence[Point]) -> Mask | None:
        return self._set(cut_hole(self.mask, ring))

    def brush(self, path: Sequence[Point], radius: float) -> Mask | None:
        return self._set(paint(self.mask, path, radius, self.height, self.width))

    def erase(self, path: Sequence[Point], radius: float) -> Mask | None:
        return self._set(paint(self.mask, path, radius, self.height, self.width, erase=True))

    def move_vertex(self, ref: VertexRef, to: Point) -> Mask:
        return self._set(move_vertex(self.mask, ref, to))

    def insert_vertex(self, ref: VertexRef, at: Point) -> Mask:
        return self._set(insert_vertex(self.mask, ref, at))

    def delete_vertex(self, ref: VertexRef) -> Mask | None:
        return self._set(delete_vertex(self.mask, ref))

    def traced(self, epsilon: float = 0.0) -> Mask | None:
        """Make a painted (RLE) draft polygons again, simplified by ``epsilon`` px."""
        if self.mask is None or self.mask.kind == POLYGON:
            return self.mask
        return self._set(self.mask.to_polygons(epsilon))

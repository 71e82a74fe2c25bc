"""The mistakes a scripted annotator makes: noise profiles and sloppy masks."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import LongtailError
from ..masks.geometry import Mask, PolygonPart, bitmap_to_parts

SLOPPY_CEILING = 0.8
"""A sloppy mask overlaps the truth by at most this IoU: clearly below any sensible bar."""

SIMPLIFY_ATTEMPTS = 3
"""Coarser and coarser outlines tried before a sloppy mask falls back to growing or
shrinking the truth."""


@dataclass(frozen=True)
class NoiseProfile:
    """The chance of each kind of mistake a scripted annotator makes."""

    name: str
    sloppy_mask: float = 0.0  # a segmentation attempt is sloppy (the verifier rejects it)
    miss_instance: float = 0.0  # stage 2 leaves an instance unmarked (stage 5 finds it)
    miss_category: float = 0.0  # a spotting visit overlooks a new category
    wrong_category: float = 0.0  # a spotting visit adds a category that is not there


PROFILES: dict[str, NoiseProfile] = {
    "none": NoiseProfile("none"),
    "sloppy": NoiseProfile("sloppy", sloppy_mask=0.4),
    "missed": NoiseProfile("missed", miss_instance=0.25, miss_category=0.3),
    "wrong-category": NoiseProfile("wrong-category", wrong_category=0.3),
    "realistic": NoiseProfile(
        "realistic", sloppy_mask=0.2, miss_instance=0.1, miss_category=0.15, wrong_category=0.1
    ),
}


def noise_profile(spec: str | NoiseProfile) -> NoiseProfile:
    """A profile by name, or several joined by commas (each rate the highest of them)."""
    if isinstance(spec, NoiseProfile):
        return spec
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROFILES]
    if unknown or not names:
        raise LongtailError(
            f"unknown noise profile {', '.join(unknown) or spec!r}; "
            f"known: {', '.join(PROFILES)} (join several with commas)"
        )
    rates = {
        key: max(getattr(PROFILES[n], key) for n in names)
        for key in ("sloppy_mask", "miss_instance", "miss_category", "wrong_category")
    }
    return NoiseProfile(",".join(names), **rates)


@dataclass
class NoiseWork:
    """What one :func:`sloppy_mask` call computed, so that tests and benchmarks can hold
    its work to a bound that does not grow with the mask (no timed asserts)."""

    traces: int = 0  # outlines traced from the bitmap (each one pass over the image)
    simplifications: int = 0  # outlines simplified and rasterised
    distance_transforms: int = 0  # each one pass over a window of at most the image
    window_pixels: int = 0  # the largest window a distance transform covered


def sloppy_mask(
    mask: Mask,
    rng: random.Random,
    ceiling: float = SLOPPY_CEILING,
    work: NoiseWork | None = None,
) -> Mask:
    """A careless version of ``mask`` whose IoU with it is at most ``ceiling``.

    A coarse outline (up to :data:`SIMPLIFY_ATTEMPTS` tries), a grown mask or a shrunk
    one. Growing and shrinking threshold one distance transform instead of running
    morphology with ever larger kernels, so the work is a few passes over the image
    whatever the mask: an earlier version dilated a near-full-image mask with kernels
    of ~14 x sqrt(area) and stalled for minutes.
    """
    work = work if work is not None else NoiseWork()
    bitmap = mask.to_bitmap()
    area = int(np.count_nonzero(bitmap))
    if area == 0:
        return mask  # nothing to be careless about
    kind = rng.choice(("erode", "dilate", "simplify"))
    if kind == "simplify":
        candidate = _coarse_outline(mask, bitmap, area, ceiling, work)
        if candidate is not None:
            return candidate
        kind = "dilate"
    # How far below the ceiling varies, as real sloppiness does.
    target = ceiling * rng.uniform(0.8, 1.0)
    for how in (kind, "erode" if kind == "dilate" else "dilate"):
        changed = (
            _grown(bitmap, area, target, work)
            if how == "dilate"
            else _shrunk(bitmap, area, target, work)
        )
        if changed is not None:
            return Mask.from_bitmap(changed)
    return mask  # a mask of every pixel of a one-pixel image: nothing else is possible


def _coarse_outline(
    mask: Mask, bitmap: np.ndarray, area: int, ceiling: float, work: NoiseWork
) -> Mask | None:
    """The outline simplified (Douglas-Peucker) more and more; None if none is sloppy enough."""
    work.traces += 1
    parts = bitmap_to_parts(bitmap)
    scale = math.sqrt(area)
    strength = 0.08
    for _ in range(SIMPLIFY_ATTEMPTS):
        work.simplifications += 1
        epsilon = max(1.0, strength * scale)
        simplified = []
        for part in parts:
            exterior = _simplify(part.exterior, epsilon)
            if len(exterior) >= 3:
                holes = (_simplify(hole, epsilon) for hole in part.holes)
                simplified.append(PolygonPart(exterior, tuple(h for h in holes if len(h) >= 3)))
        if simplified:
            candidate = Mask(mask.height, mask.width, parts=tuple(simplified))
            if candidate.area > 0 and mask.iou(candidate) <= ceiling:
                return candidate
        strength *= 1.6
    return None


def _simplify(ring: np.ndarray, epsilon: float) -> np.ndarray:
    if len(ring) <= 3:
        return ring
    simplified = cv2.approxPolyDP(ring.astype(np.float32), epsilon, True)
    return simplified.reshape(-1, 2).astype(np.float64)


def _window(bitmap: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The mask's extent widened by ``margin`` pixels, inside the image."""
    rows = np.flatnonzero(bitmap.any(axis=1))
    cols = np.flatnonzero(bitmap.any(axis=0))
    height, width = bitmap.shape
    return (
        slice(max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin)),
        slice(max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin)),
    )


def _grown(bitmap: np.ndarray, area: int, target: float, work: NoiseWork) -> np.ndarray | None:
    """The mask dilated by the smallest radius that brings its IoU with itself (area over
    the grown area) down to ``target``; None where the image has no room for that."""
    needed = math.ceil(area / target) - area  # pixels the dilation must add
    # Any dilation by r adds a disc of radius r, so this radius always has enough room
    # (unless the image edge cuts it): the window need not be wider.
    margin = math.ceil(math.sqrt((area + needed) / math.pi)) + 2
    rows, cols = _window(bitmap, margin)
    window = bitmap[rows, cols]
    work.distance_transforms += 1
    work.window_pixels = max(work.window_pixels, window.size)
    outside = cv2.distanceTransform(
        (window == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
    )
    distances = outside[window == 0]
    if len(distances) < needed:
        return None
    radius = np.partition(distances, needed - 1)[needed - 1]
    out: np.ndarray = bitmap.copy()
    out[rows, cols] = (window != 0) | (outside <= radius)
    return out


def _shrunk(bitmap: np.ndarray, area: int, target: float, work: NoiseWork) -> np.ndarray | None:
    """The mask eroded until at most ``target`` of it is left; None if nothing would be."""
    keep = math.floor(area * target)
    if keep < 1:
        return None
    rows, cols = _window(bitmap, 1)
    window = bitmap[rows, cols]
    work.distance_transforms += 1
    work.window_pixels = max(work.window_pixels, window.size + 2 * sum(window.shape) + 4)
    # Padding makes the image edge an edge of the mask too.
    padded = np.pad((window != 0).astype(np.uint8), 1)
    inside = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    distances = inside[window != 0]
    radius = np.partition(distances, area - keep - 1)[area - keep - 1]
    kept = (window != 0) & (inside > radius)
    if not kept.any():
        return None
    out = np.zeros_like(bitmap)
    out[rows, cols] = kept
    return out

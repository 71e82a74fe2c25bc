"""A classical box -> mask with no model: a colour posterior on a shape prior, then GrabCut.

For one box on an RGB image (every step is checked, and the last good one wins):

1. **prior**: a rounded box (superellipse ``|x|^p + |y|^p <= 1`` inscribed in the box).
   Tiny boxes (side below ``min_side`` px) stop here: colour models learnt from a few
   dozen pixels are noise.
2. **colour**: a soft version of that prior (a sigmoid of the superellipse radius) is
   combined, pixel by pixel, with the log-ratio of two colour histograms: the object's
   (weighted by the current belief, inside the box) and the background's (a ring
   around the box). Two rounds of re-estimation, a little smoothing, the largest
   connected piece. It is kept when it covers a plausible share of the box.
3. **grabcut**: OpenCV GrabCut on a crop around the box (at most ``work_side`` px),
   started from step 2 (outside the box: definite background). Kept only when the
   segment fits the box: a tight box touches its object on all four sides, so the
   segment's own bounding box must cover ``min_fit`` of the prompt box, and the
   segment must fill a plausible share of it.

It never raises on odd input (empty, out-of-image or whole-image boxes, grey or RGBA
images) and never returns an empty mask: the box itself is the last resort. The
defaults were tuned on tiny_coco *train*; figures on val are in
``docs/decisions/0006-model.md`` (``bench/proposals.py`` measures them).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]

BOX = "box"
PRIOR = "prior"
COLOUR = "colour"
GRABCUT = "grabcut"


@dataclass(frozen=True)
class FallbackSettings:
    """Knobs of the classical fallback (defaults tuned on tiny_coco train)."""

    exponent: float = 2.5  # superellipse exponent: 2 is the inscribed ellipse, large -> box
    min_side: float = 12.0  # below this (sqrt of the box area, px) only the prior is used
    grabcut_min_side: float = 16.0
    sharpness: float = 4.0  # slope of the soft prior at the superellipse's edge
    colour_weight: float = 0.6  # weight of the colour log-likelihood ratio
    bins: int = 16  # histogram bins per RGB channel
    margin: float = 0.3  # background ring around the box, as a share of its size
    rounds: int = 2
    work_side: int = 160  # GrabCut runs on a crop scaled to at most this many px a side
    iterations: int = 4
    min_fit: float = 0.70  # share of the box covered by the GrabCut segment's bbox
    min_fill: float = 0.25  # share of the box the GrabCut segment must cover
    colour_min_fill: float = 0.20


@dataclass(frozen=True)
class FallbackResult:
    bitmap: np.ndarray  # (height, width) uint8, 1 inside
    method: str  # "grabcut", "colour", "prior" or "box": the step that made it


def box_mask(box: Box, height: int, width: int) -> FallbackResult:
    """The box itself as a bitmap (the baseline, and the last resort)."""
    bitmap = np.zeros((height, width), np.uint8)
    c0, r0, c1, r1 = pixel_box(box, height, width)
    bitmap[r0:r1, c0:c1] = 1
    return FallbackResult(bitmap, BOX)


def prior_mask(
    box: Box, height: int, width: int, exponent: float = FallbackSettings.exponent
) -> FallbackResult:
    """A superellipse inscribed in the box (``exponent`` 2: the inscribed ellipse)."""
    bitmap = np.zeros((height, width), np.uint8)
    c0, r0, c1, r1 = pixel_box(box, height, width)
    radius = _radius(box, np.arange(c0, c1), np.arange(r0, r1), exponent)
    bitmap[r0:r1, c0:c1] = radius <= 1.0
    if not bitmap.any():
        return box_mask(box, height, width)
    return FallbackResult(bitmap, PRIOR)


def box_to_mask(
    image: np.ndarray, box: Box, settings: FallbackSettings | None = None
) -> FallbackResult:
    """The mask of the object inside ``box`` (x, y, w, h) of ``image`` (H x W x 3 RGB)."""
    s = settings or FallbackSettings()
    try:
        image = _as_rgb(image)
    except (ValueError, TypeError):
        raise ValueError(f"an image must be H x W x 3 (or grey), got {np.shape(image)}") from None
    height, width = image.shape[:2]
    prior = prior_mask(box, height, width, s.exponent)
    if prior.method == BOX:
        return prior
    c0, r0, c1, r1 = pixel_box(box, height, width)
    side = float(np.sqrt((c1 - c0) * (r1 - r0)))
    if side < s.min_side:
        return prior
    try:
        colour = _colour_posterior(image, box, s)
    except (cv2.error, ValueError, FloatingPointError):
        return prior
    if colour is None or colour[r0:r1, c0:c1].mean() < s.colour_min_fill:
        return prior
    best = FallbackResult(colour, COLOUR)
    if side < s.grabcut_min_side:
        return best
    try:
        segment = _grabcut(image, box, colour, s)
    except cv2.error:
        return best
    if segment is not None and _fits_box(segment[r0:r1, c0:c1], s):
        return FallbackResult(segment, GRABCUT)
    return best


# ---------------------------------------------------------------- internals


def pixel_box(box: Box, height: int, width: int) -> tuple[int, int, int, int]:
    """Columns ``c0:c1`` and rows ``r0:r1`` a box covers: clipped, at least one pixel."""
    x, y, w, h = (float(v) if np.isfinite(v) else 0.0 for v in box)
    c0 = int(np.clip(np.floor(x + 0.5), 0, width - 1))
    r0 = int(np.clip(np.floor(y + 0.5), 0, height - 1))
    c1 = int(np.clip(np.floor(x + max(w, 0.0) + 0.5), c0 + 1, width))
    r1 = int(np.clip(np.floor(y + max(h, 0.0) + 0.5), r0 + 1, height))
    return c0, r0, c1, r1


def _radius(box: Box, cols: np.ndarray, rows: np.ndarray, p: float) -> np.ndarray:
    """The superellipse 'radius' of pixel centres (1 on the inscribed curve)."""
    x, y, w, h = (float(v) if np.isfinite(v) else 0.0 for v in box)
    w, h = max(w, 1e-6), max(h, 1e-6)
    u = np.abs((cols + 0.5 - (x + w / 2)) / (w / 2))
    v = np.abs((rows + 0.5 - (y + h / 2)) / (h / 2))
    return (v[:, None] ** p + u[None, :] ** p) ** (1.0 / p)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise ValueError("not an image")
    image = image[:, :, :3]
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def _context(box_px: tuple[int, int, int, int], margin: float, height: int, width: int):
    c0, r0, c1, r1 = box_px
    mx = int(np.ceil((c1 - c0) * margin)) + 3
    my = int(np.ceil((r1 - r0) * margin)) + 3
    return max(0, c0 - mx), max(0, r0 - my), min(width, c1 + mx), min(height, r1 + my)


def _colour_posterior(image: np.ndarray, box: Box, s: FallbackSettings) -> np.ndarray | None:
    height, width = image.shape[:2]
    c0, r0, c1, r1 = box_px = pixel_box(box, height, width)
    X0, Y0, X1, Y1 = _context(box_px, s.margin, height, width)
    crop = image[Y0:Y1, X0:X1]
    q = crop.astype(np.int32) * s.bins // 256
    colour = (q[..., 0] * s.bins + q[..., 1]) * s.bins + q[..., 2]
    inside = np.zeros(colour.shape, bool)
    inside[r0 - Y0 : r1 - Y0, c0 - X0 : c1 - X0] = True
    if (~inside).sum() < 20:  # the box covers (nearly) the whole image: no background
        return None
    radius = _radius(box, np.arange(X0, X1), np.arange(Y0, Y1), s.exponent)
    prior = np.clip(1.0 / (1.0 + np.exp(-s.sharpness * (1.0 - radius))), 1e-3, 1 - 1e-3)
    prior_logit = np.log(prior / (1.0 - prior))
    n = s.bins**3
    background = np.bincount(colour[~inside], minlength=n) + 0.5
    background /= background.sum()
    belief = prior * inside
    sigma = max(1.0, 0.02 * np.sqrt((c1 - c0) * (r1 - r0)))
    for _ in range(s.rounds):
        foreground = np.bincount(colour.ravel(), weights=belief.ravel(), minlength=n) + 0.5
        foreground /= foreground.sum()
        ratio = np.log(foreground[colour]) - np.log(background[colour])
        logit = cv2.GaussianBlur(prior_logit + s.colour_weight * ratio, (0, 0), sigma)
        belief = inside / (1.0 + np.exp(-logit))
    piece = _largest_pieces((belief > 0.5).astype(np.uint8))
    out = np.zeros((height, width), np.uint8)
    out[Y0:Y1, X0:X1] = piece
    return out


GRABCUT_SEED = 12345


def _grabcut(
    image: np.ndarray, box: Box, start: np.ndarray, s: FallbackSettings
) -> np.ndarray | None:
    height, width = image.shape[:2]
    c0, r0, c1, r1 = box_px = pixel_box(box, height, width)
    X0, Y0, X1, Y1 = _context(box_px, s.margin, height, width)
    crop = image[Y0:Y1, X0:X1]
    scale = min(1.0, s.work_side / max(crop.shape[:2]))
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    labels = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    labels[r0 - Y0 : r1 - Y0, c0 - X0 : c1 - X0] = np.where(
        start[r0:r1, c0:c1] > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD
    )
    if scale < 1:
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    if not (labels == cv2.GC_PR_FGD).any() or not (labels != cv2.GC_PR_FGD).any():
        return None
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(crop[:, :, ::-1])
    # GrabCut seeds its colour models with k-means++ from OpenCV's per-thread RNG;
    # a fixed seed makes the same box on the same image give the same mask every time
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(bgr, labels, None, *models, s.iterations, cv2.GC_INIT_WITH_MASK)
    fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1:
        fg = cv2.resize(fg, (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((height, width), np.uint8)
    out[r0:r1, c0:c1] = fg[r0 - Y0 : r1 - Y0, c0 - X0 : c1 - X0]
    return _largest_pieces(out)


def _largest_pieces(fg: np.ndarray) -> np.ndarray:
    """The largest connected piece, and any other at least a fifth of its size."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 2:
        return fg
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= 0.2 * areas.max())
    return np.isin(labels, keep).astype(np.uint8)


def _fits_box(inside: np.ndarray, s: FallbackSettings) -> bool:
    """Does a segment (cropped to the prompt box) fill it and reach its sides?"""
    if inside.mean() < s.min_fill:
        return False
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    fit = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1) / inside.size
    return fit >= s.min_fit

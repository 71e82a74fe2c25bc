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
3. **grabcut**: OpenCV GrabCut on a crop around the box (at most ``work_side`` px,
   bilateral-filtered), started from step 2 (outside the box: definite background).
   Kept only when the segment fits the box: a tight box touches its object on all
   four sides, so the segment's own bounding box must cover ``min_fit`` of the prompt
   box, and the segment must fill a plausible share of it.

All of it runs on the box's surroundings scaled to at most ``view_side`` px a side
(small ones scaled up), and the mask is scaled back: a box on an 8000 x 6000 photo
costs what one on a 640 x 480 photo does.

**Clicks** ``(x, y, positive)`` edit that box-only mask one at a time, locally (see
:func:`_edit_by_click`): each is sure of a disc as deep as it lies in the area it
disputes, and may change a disc twice that, decided by a GrabCut on a window around
it; the edge it draws is smoothed and every earlier click keeps its seed. A positive
click outside the box grows the box. Each click edits the mask the one before left,
and the steps already worked are kept (:func:`_clicked`), so an added click costs one
click's work. :func:`refine` edits a model's mask the same way.

It never raises on odd input (empty, out-of-image or whole-image boxes, grey or RGBA
images) and never returns an empty mask: the box itself is the last resort. The
defaults were tuned on tiny_coco *train*; figures on val are in
``docs/decisions/0079-a-classical-fallback-for-prompts.md`` (``bench/proposals.py`` measures them).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]
Click = tuple[float, float, bool]
"""A click (x, y, positive): a point on the object (True) or off it (False)."""

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
    view_side: int = 400  # the box's surroundings are scaled to at most this many px a side
    view_min_side: int = 160  # ... and small ones up by a whole factor towards this
    view_upsample: int = 4  # ... of at most this
    click_radius: float = 0.03  # a click's seed disc: this share of the box's side (>= 2 px)
    click_core: float = 1.0  # a click is sure of the disc as deep as it lies (x this)
    click_core_cap: float = 0.15  # ... but at most this share of the box's side
    click_window: int = 120  # the local GrabCut's window is scaled to at most this side
    click_iterations: int = 3
    click_reach: float = 2.0  # a click may change the disc this many times as deep
    click_smooth: float = 0.04  # the edge a click draws is smoothed: sigma this share of the side
    bilateral: int = 5  # the box's GrabCut reads its crop bilateral-filtered (diameter, px; 0: not)


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
    image: np.ndarray,
    box: Box,
    settings: FallbackSettings | None = None,
    points: Sequence[Click] = (),
) -> FallbackResult:
    """The mask of the object inside ``box`` (x, y, w, h) of ``image`` (H x W x 3 RGB).

    ``points`` are clicks ``(x, y, positive)``: hard seeds of GrabCut (a disc of
    definite foreground or background each). A positive click outside the box grows
    the box to hold it. The work happens on the box's surroundings scaled to at most
    ``view_side`` px a side, and the mask is scaled back, so the cost does not grow
    with the image (an 8000 x 6000 photo costs what a 640 x 480 one does).
    """
    s = settings or FallbackSettings()
    try:
        image = _as_rgb(image)
    except (ValueError, TypeError):
        raise ValueError(f"an image must be H x W x 3 (or grey), got {np.shape(image)}") from None
    height, width = image.shape[:2]
    clicks = _clean_clicks(points, height, width)

    def box_only(view: _View) -> tuple[np.ndarray, str]:
        return _box_only(view, view.box(box), s, pixel_box(box, height, width))

    view, bitmap, method, grown = _clicked(image, box, clicks, s, box_only, (BOX,))
    refused = _refused(grown, clicks, s)
    return FallbackResult(
        view.paste(bitmap, pixel_box(grown, height, width), height, width, refused), method
    )


def refine(
    image: np.ndarray,
    box: Box,
    probability: np.ndarray,
    points: Sequence[Click],
    settings: FallbackSettings | None = None,
) -> np.ndarray:
    """A model's mask (``probability`` > 0.5, image size) edited by clicks, as
    :func:`box_to_mask` edits its own box-only mask (see :func:`_edit_by_click`)."""
    s = settings or FallbackSettings()
    image = _as_rgb(image)
    height, width = image.shape[:2]
    clicks = _clean_clicks(points, height, width)
    first = _View.around(image, pixel_box(holding_clicks(box, (), height, width), height, width), s)
    start = first.crop_scaled((probability > 0.5).astype(np.uint8))
    vh, vw = start.shape
    vc0, vr0, vc1, vr1 = pixel_box(first.box(box), vh, vw)
    inside = np.zeros_like(start)
    inside[vr0:vr1, vc0:vc1] = start[vr0:vr1, vc0:vc1]
    # the model's mask is part of the key: the same clicks on another mask are new work
    tag = ("refine", hashlib.blake2b(inside.tobytes(), digest_size=16).digest())
    view, edited, _, grown = _clicked(image, box, clicks, s, lambda view: (inside, "model"), tag)
    refused = _refused(grown, clicks, s)
    return view.paste(edited, pixel_box(grown, height, width), height, width, refused)


@dataclass(frozen=True)
class _Step:
    """A click sequence's mask after its last click, on the view it was worked on."""

    bitmap: np.ndarray  # the view's size, 1 inside
    method: str  # the box-only step that started it
    grown: Box  # the box grown to hold the positive clicks so far
    frame: tuple  # the view's origin, size and scale ...
    digest: bytes  # ... and pixels: a key's image must match them to reuse the step


_STEPS: OrderedDict[tuple, _Step] = OrderedDict()
_STEPS_LOCK = threading.Lock()
_STEPS_KEPT = 64  # a few KB to 160 KB each


def _clicked(
    image: np.ndarray,
    box: Box,
    clicks: Sequence[Click],
    s: FallbackSettings,
    first: Callable[[_View], tuple[np.ndarray, str]],
    tag: tuple,
) -> tuple[_View, np.ndarray, str, Box]:
    """The mask after each click in turn: ``first`` (the box's answer) on the view of the
    box, then each click on the view of the box grown to hold the clicks so far (the mask
    carried over when that view moves); (last view, its mask, the first step's method,
    the grown box).

    Each step depends only on the one before, so the steps already worked for a prefix
    of ``clicks`` (kept by pixels, box and clicks) are reused: adding a click to a
    sequence costs one click's work, however many came before."""
    height, width = image.shape[:2]
    base = (tag, image.shape, tuple(float(v) for v in box), s)
    done, step, view = len(clicks), None, None
    while done >= 0:
        step = _steps_get((base, tuple(clicks[:done])))
        if step is not None:
            view = _View.around(image, pixel_box(step.grown, height, width), s)
            if view.frame == step.frame and view.digest() == step.digest:
                break  # this prefix was worked on these very pixels
            step = None  # other pixels under the same key: a shorter prefix may still be ours
        done -= 1
    if view is None or step is None:
        done, grown = 0, holding_clicks(box, (), height, width)
        view = _View.around(image, pixel_box(grown, height, width), s)
        bitmap, method = first(view)
        bitmap = _inside(bitmap, view.box(grown))
        _steps_put((base, ()), _Step(bitmap, method, grown, view.frame, view.digest()))
    else:
        bitmap, method, grown = step.bitmap, step.method, step.grown
    for n in range(done + 1, len(clicks) + 1):
        wider = holding_clicks(box, clicks[:n], height, width)
        if wider != grown:
            moved = _View.around(image, pixel_box(wider, height, width), s)
            bitmap, view, grown = view.moved(bitmap, moved), moved, wider
        vclicks = [view.click(c) for c in clicks[:n]]
        bitmap = _inside(_edit_by_click(view.image, view.box(grown), bitmap, vclicks, s), view.box(grown))
        _steps_put((base, tuple(clicks[:n])), _Step(bitmap, method, grown, view.frame, view.digest()))
    return view, bitmap, method, grown


def _steps_get(key: tuple) -> _Step | None:
    with _STEPS_LOCK:
        step = _STEPS.get(key)
        if step is not None:
            _STEPS.move_to_end(key)
        return step


def _steps_put(key: tuple, step: _Step) -> None:
    step.bitmap.flags.writeable = False  # shared by later calls
    with _STEPS_LOCK:
        _STEPS[key] = step
        _STEPS.move_to_end(key)
        while len(_STEPS) > _STEPS_KEPT:
            _STEPS.popitem(last=False)


def _inside(bitmap: np.ndarray, box: Box) -> np.ndarray:
    """``bitmap`` cleared outside ``box``."""
    c0, r0, c1, r1 = pixel_box(box, *bitmap.shape)
    out = np.zeros_like(bitmap)
    out[r0:r1, c0:c1] = bitmap[r0:r1, c0:c1]
    return out


def _box_only(
    view: _View, vbox: Box, s: FallbackSettings, box_px: tuple[int, int, int, int]
) -> tuple[np.ndarray, str]:
    """The box prompt's answer on the view: GrabCut if it fits, else colour, else prior."""
    vh, vw = view.image.shape[:2]
    prior = prior_mask(vbox, vh, vw, s.exponent)
    if prior.method == BOX:
        return prior.bitmap, BOX
    c0, r0, c1, r1 = box_px
    side = float(np.sqrt((c1 - c0) * (r1 - r0)))  # at full resolution
    if side < s.min_side:
        return prior.bitmap, PRIOR
    start, method = _colour_or_prior(view.image, vbox, prior, s)
    if side < s.grabcut_min_side or method != COLOUR:
        return start, method
    try:
        segment = _grabcut(view.image, vbox, start, s)
    except cv2.error:
        return start, method
    vc0, vr0, vc1, vr1 = pixel_box(vbox, vh, vw)
    if segment is not None and _fits_box(segment[vr0:vr1, vc0:vc1], s):
        return segment, GRABCUT
    return start, method


def _edit_by_click(
    image: np.ndarray, box: Box, mask: np.ndarray, clicks: Sequence[Click], s: FallbackSettings
) -> np.ndarray:
    """``mask`` edited by the last of ``clicks``, locally: the click's reach is a disc as
    many times (``click_reach``) as deep as the click lies in the area it disputes
    (its distance to the mask's edge); GrabCut runs on a window around it whose
    colour models come from that window alone, with the click's core as a hard seed
    and everything outside the reach held as it is. Only the reach can change, and
    only where it joins the click: a click fixes the error it is in and breaks
    nothing elsewhere."""
    height, width = mask.shape
    radius = _click_radius(box, 1.0, s)
    side = float(np.sqrt(max(box[2], 1.0) * max(box[3], 1.0)))
    x, y, positive = clicks[-1]
    row = int(np.clip(round(y), 0, height - 1))
    col = int(np.clip(round(x), 0, width - 1))
    if positive:
        depth = float(cv2.distanceTransform(1 - mask, cv2.DIST_L2, 5)[row, col])
    else:
        depth = float(cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 5)[row + 1, col + 1])
    reach = max(radius, int(round(s.click_reach * depth)))
    core = max(radius, int(round(min(s.click_core * depth, s.click_core_cap * side))))
    out = _local_grabcut(image, mask, (col, row), positive, reach, core, s)
    changed = (out != mask).astype(np.uint8)
    if s.click_smooth > 0 and changed.any():
        # GrabCut's edges are ragged where objects' outlines are smooth: the edge the
        # click drew (and only that: nothing far from its change) is smoothed
        sigma = max(0.5, s.click_smooth * side)
        near = cv2.dilate(changed, np.ones((3, 3), np.uint8), iterations=int(np.ceil(2 * sigma)))
        soft = cv2.GaussianBlur(out.astype(np.float32), (0, 0), sigma)
        out = np.where(near > 0, soft >= 0.5, out).astype(np.uint8)
    for cx, cy, earlier in clicks:  # every click so far keeps its seed disc
        cv2.circle(out, (int(round(cx)), int(round(cy))), radius, int(earlier), -1)
    return out


def _local_grabcut(
    image: np.ndarray,
    mask: np.ndarray,
    centre: tuple[int, int],
    positive: bool,
    reach: int,
    core: int,
    s: FallbackSettings,
) -> np.ndarray:
    """``mask`` with the disc of radius ``reach`` around ``centre`` decided anew by a
    GrabCut on the window around it (twice the reach), the ``core`` disc seeded."""
    height, width = mask.shape
    col, row = centre
    half = 2 * reach + 2
    X0, Y0 = max(0, col - half), max(0, row - half)
    X1, Y1 = min(width, col + half + 1), min(height, row + half + 1)
    window = mask[Y0:Y1, X0:X1]
    disc = np.zeros_like(window)
    cv2.circle(disc, (col - X0, row - Y0), reach, 1, -1)
    seed = np.zeros_like(window)
    cv2.circle(seed, (col - X0, row - Y0), core, 1, -1)
    labels: np.ndarray = np.where(window > 0, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    labels[disc > 0] = np.where(window[disc > 0] > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    labels[seed > 0] = cv2.GC_FGD if positive else cv2.GC_BGD
    crop = image[Y0:Y1, X0:X1]
    scale = min(1.0, s.click_window / max(crop.shape[:2]))
    if scale < 1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    decided = None
    fg, bg = (
        (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD),
        (labels == cv2.GC_BGD) | (labels == cv2.GC_PR_BGD),
    )
    if fg.sum() >= 2 and bg.sum() >= 2:
        models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(GRABCUT_SEED)
        with contextlib.suppress(cv2.error):
            # the stub wants a rect, which GC_INIT_WITH_MASK ignores (OpenCV takes None)
            cv2.grabCut(  # type: ignore[call-overload]
                np.ascontiguousarray(crop[:, :, ::-1]), labels, None, *models,
                s.click_iterations, cv2.GC_INIT_WITH_MASK,
            )  # fmt: skip
            decided = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
            if scale < 1:
                decided = cv2.resize(decided, (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_NEAREST)
    if decided is None:
        decided = window.copy()
        decided[seed > 0] = int(positive)
    # the change the click asked for: pixels of the disc turned its way, joined to it
    change = ((decided == int(positive)) & (window != int(positive)) & (disc > 0)) | (seed > 0)
    _, pieces = cv2.connectedComponents(change.astype(np.uint8), connectivity=8)
    out: np.ndarray = mask.copy()
    part = out[Y0:Y1, X0:X1]
    part[pieces == pieces[row - Y0, col - X0]] = int(positive)
    return out


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


def _context(
    box_px: tuple[int, int, int, int], margin: float, height: int, width: int
) -> tuple[int, int, int, int]:
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


def _grabcut_pixels(crop: np.ndarray, s: FallbackSettings) -> np.ndarray:
    """The crop as the box's GrabCut reads it: BGR, bilateral-filtered (texture and JPEG
    grain smoothed, edges kept), so that its colour models and edges follow the object.
    A click's GrabCut reads the pixels as they are: on filtered pixels its window's
    background model held a large flat object's colour more tightly, and far positive
    clicks grew it less (decision 0079)."""
    bgr = np.ascontiguousarray(crop[:, :, ::-1])
    if s.bilateral > 0:
        bgr = cv2.bilateralFilter(bgr, s.bilateral, 30, s.bilateral)
    return bgr


def _grabcut(
    image: np.ndarray, box: Box, start: np.ndarray, s: FallbackSettings
) -> np.ndarray | None:
    height, width = image.shape[:2]
    c0, r0, c1, r1 = box_px = pixel_box(box, height, width)
    X0, Y0, X1, Y1 = _context(box_px, s.margin, height, width)
    crop = image[Y0:Y1, X0:X1]
    scale = min(1.0, s.work_side / max(crop.shape[:2]))
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    labels: np.ndarray = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    labels[r0 - Y0 : r1 - Y0, c0 - X0 : c1 - X0] = np.where(
        start[r0:r1, c0:c1] > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD
    )
    if scale < 1:
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    if not (labels == cv2.GC_PR_FGD).any() or not (labels != cv2.GC_PR_FGD).any():
        return None
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = _grabcut_pixels(crop, s)
    # GrabCut seeds its colour models with k-means++ from OpenCV's per-thread RNG;
    # a fixed seed makes the same box on the same image give the same mask every time
    cv2.setRNGSeed(GRABCUT_SEED)
    # the stub wants a rect, which GC_INIT_WITH_MASK ignores (OpenCV takes None)
    cv2.grabCut(bgr, labels, None, *models, s.iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1:
        fg = cv2.resize(fg, (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((height, width), np.uint8)
    out[r0:r1, c0:c1] = fg[r0 - Y0 : r1 - Y0, c0 - X0 : c1 - X0]
    return _largest_pieces(out)


def _click_radius(box: Box, scale: float, s: FallbackSettings) -> int:
    """The seed disc's radius in pixels at ``scale`` (at least 1 px there)."""
    side = float(np.sqrt(max(box[2], 1.0) * max(box[3], 1.0)))
    return max(1, int(round(max(2.0, s.click_radius * side) * scale)))


def _refused(
    box: Box, clicks: Sequence[Click], s: FallbackSettings
) -> list[tuple[float, float, int]]:
    """The negative clicks as full-resolution seed discs (x, y, radius)."""
    radius = _click_radius(box, 1.0, s)
    return [(x, y, radius) for x, y, positive in clicks if not positive]


def _clean_clicks(points: Sequence[Click], height: int, width: int) -> list[Click]:
    """Clicks as (x, y, positive) floats, clamped onto the image."""
    out = []
    for point in points:
        x, y, positive = float(point[0]), float(point[1]), bool(point[2])
        if np.isfinite(x) and np.isfinite(y):
            out.append((min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0), positive))
    return out


def holding_clicks(box: Box, clicks: Sequence[Click], height: int, width: int) -> Box:
    """``box`` grown to hold every positive click outside it, with room beyond the click
    (a quarter of the box's side that way): a click out there says the box was short."""
    clicks = _clean_clicks(clicks, height, width)
    x, y, w, h = (float(v) for v in box)
    x0, y0, x1, y1 = x, y, x + w, y + h
    c0, r0, c1, r1 = pixel_box(box, height, width)
    room_x, room_y = max(2.0, 0.25 * w), max(2.0, 0.25 * h)
    for px, py, positive in clicks:
        if not positive:
            continue
        # outside: on a pixel the box's own bitmap leaves out (its centre beyond the edge)
        col, row = np.floor(px), np.floor(py)
        if col < c0:
            x0 = min(x0, col - room_x)
        elif col >= c1:
            x1 = max(x1, col + 1 + room_x)
        if row < r0:
            y0 = min(y0, row - room_y)
        elif row >= r1:
            y1 = max(y1, row + 1 + room_y)
    x0, y0 = max(x0, 0.0), max(y0, 0.0)
    x1, y1 = min(x1, float(width)), min(y1, float(height))
    return (x0, y0, x1 - x0, y1 - y0)


def _colour_or_prior(
    image: np.ndarray, box: Box, prior: FallbackResult, s: FallbackSettings
) -> tuple[np.ndarray, str]:
    """The colour posterior when it covers a plausible share of the box, else the prior."""
    height, width = image.shape[:2]
    c0, r0, c1, r1 = pixel_box(box, height, width)
    try:
        colour = _colour_posterior(image, box, s)
    except (cv2.error, ValueError, FloatingPointError):
        return prior.bitmap, prior.method
    if colour is None or colour[r0:r1, c0:c1].mean() < s.colour_min_fill:
        return prior.bitmap, prior.method
    return colour, COLOUR


@dataclass(frozen=True)
class _View:
    """The box's surroundings, cropped and scaled to at most ``view_side`` px a side."""

    image: np.ndarray
    origin: tuple[int, int]  # (x, y) of the crop in the image
    size: tuple[int, int]  # (height, width) of the crop at full resolution
    scale: float

    @classmethod
    def around(
        cls, image: np.ndarray, box_px: tuple[int, int, int, int], s: FallbackSettings
    ) -> _View:
        height, width = image.shape[:2]
        X0, Y0, X1, Y1 = _context(box_px, s.margin + 0.05, height, width)
        crop = image[Y0:Y1, X0:X1]
        scale = min(1.0, s.view_side / max(crop.shape[:2]))
        factor = min(s.view_upsample, s.view_min_side // max(crop.shape[:2]))
        if factor > 1:  # a small object: pixels large enough for GrabCut's edges
            crop = cv2.resize(
                crop,
                (crop.shape[1] * factor, crop.shape[0] * factor),
                interpolation=cv2.INTER_LINEAR,
            )
            scale = float(factor)
        elif scale < 1:
            size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            step = int(0.5 / scale)  # read every step-th pixel first: area-averaging a
            if step > 1:  # 48-megapixel crop alone costs more than the rest together
                crop = crop[::step, ::step]
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            scale_y, scale_x = crop.shape[0] / (Y1 - Y0), crop.shape[1] / (X1 - X0)
            scale = min(scale_x, scale_y)
        return cls(np.ascontiguousarray(crop), (X0, Y0), (Y1 - Y0, X1 - X0), scale)

    @property
    def frame(self) -> tuple:
        return (self.origin, self.size, self.scale, self.image.shape)

    def digest(self) -> bytes:
        return hashlib.blake2b(self.image.tobytes(), digest_size=16).digest()

    def moved(self, bitmap: np.ndarray, other: _View) -> np.ndarray:
        """A bitmap of this view on ``other`` (nothing where this view did not reach)."""
        (X0, Y0), (x0, y0) = self.origin, other.origin
        ratio = self.scale / other.scale
        # other's pixel (u, v) is image (x0 + u / other.scale, ...), this view's
        # ((x0 - X0) * self.scale + u * ratio, ...): pixel centres, half a pixel each way
        shift_x = (x0 - X0) * self.scale + 0.5 * ratio - 0.5
        shift_y = (y0 - Y0) * self.scale + 0.5 * ratio - 0.5
        matrix = np.array([[ratio, 0.0, shift_x], [0.0, ratio, shift_y]])
        vh, vw = other.image.shape[:2]
        warped = cv2.warpAffine(
            bitmap * np.uint8(255), matrix, (vw, vh),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0,
        )  # fmt: skip
        return (warped >= 128).astype(np.uint8)

    def box(self, box: Box) -> Box:
        x, y, w, h = (float(v) for v in box)
        X0, Y0 = self.origin
        return ((x - X0) * self.scale, (y - Y0) * self.scale, w * self.scale, h * self.scale)

    def click(self, click: Click) -> Click:
        """A click on the clicked pixel's centre in the view: an enlarged view draws a
        pixel as a block, and a click on the block's corner seeds too little of it."""
        X0, Y0 = self.origin
        x, y = np.floor(click[0]) + 0.5 - X0, np.floor(click[1]) + 0.5 - Y0
        return (float(x * self.scale - 0.5), float(y * self.scale - 0.5), click[2])

    def crop_scaled(self, bitmap: np.ndarray) -> np.ndarray:
        """A full-image bitmap's crop at the view's resolution."""
        X0, Y0 = self.origin
        crop = bitmap[Y0 : Y0 + self.size[0], X0 : X0 + self.size[1]]
        if self.scale == 1:
            return np.ascontiguousarray(crop)
        vh, vw = self.image.shape[:2]
        small: np.ndarray = cv2.resize(
            crop * np.uint8(255), (vw, vh), interpolation=cv2.INTER_LINEAR
        )
        return (small >= 128).astype(np.uint8)

    def paste(
        self,
        bitmap: np.ndarray,
        box_px: tuple[int, int, int, int],
        height: int,
        width: int,
        refused: Sequence[tuple[float, float, int]] = (),
    ) -> np.ndarray:
        """A view-sized bitmap back at full resolution, kept inside ``box_px``.

        Never empty: the box is the last resort, less a disc (x, y, radius) around
        each of ``refused`` (the negative clicks), so that a click that took the whole
        object out is never answered with a mask holding the clicked pixel."""
        X0, Y0 = self.origin
        if self.scale != 1:
            how = cv2.INTER_LINEAR if self.scale < 1 else cv2.INTER_AREA
            big = cv2.resize(
                bitmap * np.uint8(255), (self.size[1], self.size[0]), interpolation=how
            )
            bitmap = cv2.threshold(big, 127, 1, cv2.THRESH_BINARY)[1]
        c0, r0, c1, r1 = box_px
        out = np.zeros((height, width), np.uint8)
        out[r0:r1, c0:c1] = bitmap[r0 - Y0 : r1 - Y0, c0 - X0 : c1 - X0]
        if not out.any():  # never empty: the box is the last resort
            out[r0:r1, c0:c1] = 1
            for x, y, radius in refused:
                cv2.circle(out, (int(round(x)), int(round(y))), radius, 0, -1)
        return out


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
    return bool(fit >= s.min_fit)

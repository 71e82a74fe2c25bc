"""Replay a labelled set through the six stages with scripted annotators.

``simulate(project, truth)`` reads a COCO or LVIS JSON whose images are the project's
(matched by ``file_name``, else by the last part of ``coco_url``), seeds the queues,
and lets ``annotators`` scripted annotators claim and answer items through the same
:class:`~pipeline.stages.Pipeline` API the desktop app uses, until every queue is
empty. Each answer is taken from the truth, with the mistakes a :class:`NoiseProfile`
asks for. It is for trying settings, measuring the work each stage needs, and tests.

What the scripted annotators do:

1. spotting: spot every truly present category not yet known (a point on one of its
   instances); crowd-only categories are not spotted (no instance can be marked);
2. marking: the category fits when the truth has a non-crowd instance of it; then one
   mark (point + box) per instance;
3. segmentation: the truth mask, or a sloppy one (IoU with the truth at most
   ``SLOPPY_CEILING``, made by erosion, dilation or coarse simplification);
4. verification: accept when the mask's IoU with the truth reaches the project's
   quality bar (setting ``verify_min_iou``);
5. exhaustive: "all segmented" when every truth instance has an accepted instance,
   else the missing ones are marked;
6. negatives: present when the truth has the category in the image (crowd included;
   for LVIS truth, when it is annotated there).

A mark is tied to its truth instance by the point: the scripted marker puts it on a
pixel of that instance only (the deepest one), so any later stage finds it again.
Durations and clicks come from a nominal effort model (:func:`nominal_effort`): they
give the event log plausible figures, they are not measurements.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from . import schema as s
from .errors import GeometryError, LongtailError
from .events import Effort
from .federated import check_invariants, federated_labels, label_counts
from .geometry import Box, Mask
from .stages import (
    EXHAUSTIVE,
    MARKING,
    NEGATIVES,
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
    ExhaustiveAnswer,
    ExhaustiveItem,
    Mark,
    MarkAnswer,
    MarkingItem,
    NegativeAnswer,
    NegativeItem,
    Pipeline,
    SegmentAnswer,
    SegmentationItem,
    Spot,
    SpotAnswer,
    SpottingItem,
    StageItem,
    VerificationItem,
    VerifyAnswer,
)
from .store import Project
from .vocabulary import normalize

SLOPPY_CEILING = 0.8
"""A sloppy mask overlaps the truth by at most this IoU: clearly below any sensible bar."""

# Downstream first: finishing work in flight keeps the pipeline short.
STAGE_ORDER = (VERIFICATION, SEGMENTATION, EXHAUSTIVE, MARKING, NEGATIVES, SPOTTING)


# ---------------------------------------------------------------- noise


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


# ---------------------------------------------------------------- truth


@dataclass
class TruthInstance:
    ann_id: int
    category_id: int  # the project's category id
    mask: Mask
    bbox: Box
    is_crowd: bool
    point: tuple[float, float] | None = None  # the mark point: a pixel of this instance only
    _window: tuple[np.ndarray, int, int] | None = None

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

    Every image of the project must be in the truth; categories are matched by name
    (then synonym), without regard to case or underscores.
    """
    if isinstance(source, dict):
        document = source
    else:
        path = Path(source)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise LongtailError(f"truth file {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise LongtailError(f"truth file {path} cannot be read as JSON: {exc}") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(document.get(key), list):
            raise LongtailError(f"the truth has no {key!r} list; is it a COCO or LVIS JSON?")
    lvis = any("neg_category_ids" in im for im in document["images"])

    with project.read() as conn:
        images = conn.execute(
            select(s.images.c.id, s.images.c.file_name, s.images.c.width, s.images.c.height)
        ).all()
        categories = conn.execute(
            select(s.categories.c.id, s.categories.c.name, s.categories.c.synonyms)
        ).all()
    by_name = {r.file_name: r for r in images}
    by_base = {}
    for r in images:
        by_base.setdefault(os.path.basename(r.file_name), r)
    names: dict[str, int] = {}
    for r in categories:
        names.setdefault(normalize(r.name), r.id)
    for r in categories:
        for synonym in r.synonyms or ():
            names.setdefault(normalize(synonym), r.id)

    category_of: dict[Any, int] = {}
    unmatched_categories = []
    for c in document["categories"]:
        found = names.get(normalize(str(c.get("name", ""))))
        for synonym in c.get("synonyms") or ():
            found = found or names.get(normalize(synonym))
        if found is None:
            unmatched_categories.append(str(c.get("name")))
        else:
            category_of[c["id"]] = found

    truth_images: dict[int, TruthImage] = {}
    truth_key: dict[Any, TruthImage] = {}
    unmatched_images = 0
    for im in document["images"]:
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
            category_of[c] for c in im.get("neg_category_ids", ()) if c in category_of
        )
        image = TruthImage(row.id, row.width, row.height, [], negatives)
        truth_images[row.id] = image
        truth_key[im["id"]] = image
    missing = [r.file_name for r in images if r.id not in truth_images]
    if missing:
        raise LongtailError(
            f"{len(missing)} project images are not in the truth (e.g. {missing[0]}); "
            "simulate needs the truth of every image"
        )
    dropped = 0
    for ann in document["annotations"]:
        image = truth_key.get(ann.get("image_id"))
        if image is None:
            continue
        category_id = category_of.get(ann.get("category_id"))
        if category_id is None:
            dropped += 1
            continue
        try:
            mask = Mask.from_coco(ann["segmentation"], image.height, image.width)
        except (GeometryError, KeyError) as exc:
            raise LongtailError(f"truth annotation {ann.get('id')}: {exc}") from None
        bbox = tuple(float(v) for v in ann.get("bbox") or mask.bbox)
        image.instances.append(
            TruthInstance(int(ann["id"]), category_id, mask, bbox, bool(ann.get("iscrowd", 0)))
        )
    return Truth(
        "lvis" if lvis else "coco", truth_images, unmatched_images, unmatched_categories, dropped
    )


# ---------------------------------------------------------------- the scripted annotator


def nominal_effort(stage: int, rng: random.Random, units: int = 0) -> Effort:
    """A plausible duration and click count for an answer (``units``: spots, marks,
    polygon vertices or missing instances). Not a measurement."""
    base, per, clicks = {
        SPOTTING: (6.0, 5.0, 2),
        MARKING: (4.0, 2.5, 1),
        SEGMENTATION: (8.0, 0.4, 1),
        VERIFICATION: (2.5, 0.0, 0),
        EXHAUSTIVE: (4.0, 3.0, 1),
        NEGATIVES: (2.0, 0.0, 0),
    }[stage]
    duration = (base + per * units) * rng.uniform(0.7, 1.3)
    return Effort(round(duration, 2), 1 + clicks * units)


def sloppy_mask(mask: Mask, rng: random.Random, ceiling: float = SLOPPY_CEILING) -> Mask:
    """A careless version of ``mask`` whose IoU with it is at most ``ceiling``."""
    bitmap = mask.to_bitmap()
    scale = math.sqrt(max(1, int(bitmap.sum())))
    kind = rng.choice(("erode", "dilate", "simplify"))
    strength = 0.08
    for attempt in range(12):
        if kind == "simplify" and attempt < 3:
            try:
                candidate = mask.to_polygons(epsilon=max(1.0, strength * scale))
            except GeometryError:
                candidate = None
        else:
            if kind == "simplify":
                kind = "dilate"
            radius = max(1, round(strength * scale))
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            op = cv2.erode if kind == "erode" else cv2.dilate
            changed = op(bitmap, kernel)
            if kind == "erode" and not changed.any():
                kind = "dilate"
                continue
            candidate = Mask.from_bitmap(changed)
        if candidate is not None and candidate.area > 0 and mask.iou(candidate) <= ceiling:
            return candidate
        strength *= 1.6
    return Mask.from_bitmap(cv2.dilate(bitmap, np.ones((15, 15), np.uint8)))


class ScriptedAnnotator:
    """Answers any stage's item from the truth, with the profile's mistakes."""

    def __init__(
        self,
        truth: Truth,
        noise: NoiseProfile,
        rng: random.Random,
        category_ids: list[int],
        quality_bar: float,
    ) -> None:
        self.truth = truth
        self.noise = noise
        self.rng = rng
        self.category_ids = category_ids
        self.quality_bar = quality_bar

    def answer(self, item: StageItem) -> tuple[Any, Effort]:
        image = self.truth.images[item.image.id]
        handler = {
            SPOTTING: self.spot,
            MARKING: self.mark,
            SEGMENTATION: self.segment,
            VERIFICATION: self.verify,
            EXHAUSTIVE: self.exhaustive,
            NEGATIVES: self.negative,
        }[item.stage]
        return handler(item, image)

    def _chance(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    def spot(self, item: SpottingItem, image: TruthImage) -> tuple[Any, Effort]:
        image.ensure_points()
        known = {k.category_id for k in item.known} | set(item.excluded_category_ids)
        spots = []
        for category_id in sorted(image.present - known):
            if self._chance(self.noise.miss_category):
                continue
            first = image.of(category_id)[0]
            spots.append(Spot(category_id, *first.point))
        if self._chance(self.noise.wrong_category) and image.present:
            wrong = [c for c in self.category_ids if c not in image.anywhere and c not in known]
            if wrong:
                on = image.of(self.rng.choice(sorted(image.present)))[0]
                spots.append(Spot(self.rng.choice(wrong), *on.point))
        effort = nominal_effort(SPOTTING, self.rng, len(spots))
        return (SpotAnswer(spots) if spots else SpotAnswer(nothing_new=True)), effort

    def _mark(self, t: TruthInstance) -> Mark:
        x, y, w, h = t.bbox
        box = None
        if w > 0 and h > 0:
            box = (x, y, w, h)
        return Mark(t.point[0], t.point[1], box)

    def mark(self, item: MarkingItem, image: TruthImage) -> tuple[Any, Effort]:
        image.ensure_points()
        instances = image.of(item.category.id)
        if not instances:
            return MarkAnswer(category_fits=False), nominal_effort(MARKING, self.rng)
        taken = {id(image.match(item.category.id, m.x, m.y)) for m in item.marks if m.x is not None}
        todo = [t for t in instances if id(t) not in taken]
        kept = [t for t in todo if not self._chance(self.noise.miss_instance)]
        if todo and not kept:  # the spotted one, at least, is always marked
            kept = todo[:1]
        marks = [self._mark(t) for t in kept]
        return MarkAnswer(True, marks), nominal_effort(MARKING, self.rng, len(marks))

    def _truth_of(self, image: TruthImage, instance: Any) -> TruthInstance:
        found = image.match(instance.category_id, instance.x, instance.y)
        if found is None:
            raise LongtailError(
                f"simulate: instance {instance.id} matches no truth instance of its category"
            )
        return found

    def segment(self, item: SegmentationItem, image: TruthImage) -> tuple[Any, Effort]:
        target = self._truth_of(image, item.instance)
        mask, tool = target.mask, "polygon"
        if self._chance(self.noise.sloppy_mask):
            mask, tool = sloppy_mask(target.mask, self.rng), "brush"
        vertices = sum(len(p.exterior) for p in mask.parts) if mask.parts else 12
        return SegmentAnswer(mask, tool), nominal_effort(SEGMENTATION, self.rng, vertices)

    def verify(self, item: VerificationItem, image: TruthImage) -> tuple[Any, Effort]:
        target = self._truth_of(image, item.instance)
        iou = item.segment.mask.iou(target.mask)
        effort = nominal_effort(VERIFICATION, self.rng)
        if iou >= self.quality_bar:
            return VerifyAnswer(True), effort
        return VerifyAnswer(False, f"IoU {iou:.2f} is below the bar {self.quality_bar:g}"), effort

    def exhaustive(self, item: ExhaustiveItem, image: TruthImage) -> tuple[Any, Effort]:
        image.ensure_points()
        covered = set()
        for a in item.annotations:
            if a.instance.is_crowd:
                continue
            if a.instance.x is not None:
                found = image.match(a.instance.category_id, a.instance.x, a.instance.y)
            elif a.segment is not None:  # imported: no mark point, match by the mask
                found = image.match_mask(a.instance.category_id, a.segment.mask)
            else:
                found = None
            if found is not None:
                covered.add(id(found))
        missing = [t for t in image.of(item.category.id) if id(t) not in covered]
        effort = nominal_effort(EXHAUSTIVE, self.rng, len(missing))
        if not missing:
            return ExhaustiveAnswer(True), effort
        return ExhaustiveAnswer(False, [self._mark(t) for t in missing]), effort

    def negative(self, item: NegativeItem, image: TruthImage) -> tuple[Any, Effort]:
        present = item.category.id in image.anywhere
        return NegativeAnswer(present), nominal_effort(NEGATIVES, self.rng)


# ---------------------------------------------------------------- the run


@dataclass
class SimulationSummary:
    images: int
    annotators: int
    noise: str
    seed: int
    answers: dict[int, int]  # per stage, in this run
    elapsed_s: float
    cancelled: bool
    stalled: dict[int, int]  # items still pending per stage when the run ended
    rejected_segments: int  # redo loops
    instances_redone: int
    masks: dict[str, Any]
    labels: dict[str, int]
    truth_check: dict[str, int]
    violations: list[str]
    effort_hours: float

    @property
    def total_answers(self) -> int:
        return sum(self.answers.values())

    @property
    def answers_per_s(self) -> float:
        return self.total_answers / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def finished(self) -> bool:
        return not self.cancelled and not any(self.stalled.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["answers"] = {str(k): v for k, v in self.answers.items()}
        out["stalled"] = {str(k): v for k, v in self.stalled.items()}
        out.update(
            total_answers=self.total_answers,
            answers_per_s=round(self.answers_per_s, 2),
            finished=self.finished,
        )
        return out

    def lines(self) -> list[str]:
        names = s.STAGES
        out = [
            f"{self.images} images, {self.annotators} scripted annotators, noise {self.noise}, "
            f"seed {self.seed}",
            "",
            f"{'stage':<42}{'answers':>9}{'left':>7}",
        ]
        for stage in sorted(names):
            out.append(
                f"{stage} {names[stage]:<40}{self.answers.get(stage, 0):>9}"
                f"{self.stalled.get(stage, 0):>7}"
            )
        m = self.masks
        out += [
            "",
            f"redo loops: {self.rejected_segments} segments rejected, "
            f"{self.instances_redone} instances redrawn",
            f"accepted masks: {m['accepted']}, matched to {m['matched_truth']} of "
            f"{m['truth_instances']} truth instances; IoU with the truth mean "
            f"{_fmt(m['mean_iou'])}, min {_fmt(m['min_iou'])}, >= 0.9: {_fmt(m['share_iou_0.9'])}",
            f"federated labels: {self.labels['positive_pairs']} positive, "
            f"{self.labels['negative_pairs']} negative, "
            f"{self.labels['not_exhaustive_pairs']} not exhaustive pairs; against the truth: "
            f"{self.truth_check['missing_positives']} positives missing, "
            f"{self.truth_check['false_positives']} false positives, "
            f"{self.truth_check['wrong_negatives']} wrong negatives",
            f"invariants: {'all hold' if not self.violations else f'{len(self.violations)} broken'}",
            f"{self.total_answers} answers in {self.elapsed_s:.1f} s "
            f"({self.answers_per_s:.1f} answers/s); nominal annotator time "
            f"{self.effort_hours:.1f} h",
        ]
        if self.cancelled:
            out.append("cancelled: the answers given so far are saved")
        elif any(self.stalled.values()):
            out.append(
                "stalled: items are left that no scripted annotator may take (verification "
                "needs someone other than the author: more --annotators, or "
                "allow_self_verification)"
            )
        return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


Progress = Callable[[int, int], None]


def simulate(
    project: Project,
    truth: Truth | str | os.PathLike[str] | dict[str, Any],
    *,
    annotators: int = 3,
    noise: str | NoiseProfile = "none",
    seed: int = 0,
    progress: Progress | None = None,
    max_answers: int | None = None,
) -> SimulationSummary:
    """Run the scripted annotators until every queue is empty (or ``max_answers``).

    Ctrl-C (KeyboardInterrupt) ends the run cleanly: each answer is its own
    transaction, the item in hand is released, and the summary says ``cancelled``.
    """
    if annotators < 1:
        raise LongtailError("simulate needs at least one annotator")
    profile = noise_profile(noise)
    if not isinstance(truth, Truth):
        truth = load_truth(truth, project)
    service = Pipeline(project)
    settings = project.settings()
    with project.read() as conn:
        category_ids = list(conn.execute(select(s.categories.c.id)).scalars())
    rng = random.Random(seed)
    scripted = ScriptedAnnotator(truth, profile, rng, category_ids, settings.verify_min_iou)
    bots = [service.annotator(f"sim-{k + 1}", is_bot=True) for k in range(annotators)]
    service.seed()

    answers = dict.fromkeys(s.STAGES, 0)
    # empty[b][stage]: the stage had nothing for bot b; reset when an answer opens items there
    empty = [dict.fromkeys(s.STAGES, False) for _ in bots]
    held: StageItem | None = None
    cancelled = False
    started = time.perf_counter()
    total = 0
    remaining = sum(p.remaining for p in service.progress().values())
    try:
        while True:
            progressed = False
            for b, bot in enumerate(bots):
                for stage in STAGE_ORDER:
                    if empty[b][stage]:
                        continue
                    held = service.next_item(stage, bot)
                    if held is None:
                        empty[b][stage] = True
                        continue
                    answer, effort = scripted.answer(held)
                    result = service.answer(held, answer, effort=effort)
                    held = None
                    answers[stage] += 1
                    total += 1
                    remaining += sum(result.opened.values()) - 1
                    for opened_stage, n in result.opened.items():
                        if n:
                            for flags in empty:
                                flags[opened_stage] = False
                    progressed = True
                    break
                if progress is not None and progressed:
                    progress(total, total + max(0, remaining))
                if max_answers is not None and total >= max_answers:
                    break
            if not progressed or (max_answers is not None and total >= max_answers):
                break
    except KeyboardInterrupt:
        cancelled = True
        if held is not None:
            with contextlib.suppress(LongtailError):  # the answer was committed after all
                service.release(held)
    elapsed = time.perf_counter() - started
    return summarize(
        project,
        truth,
        answers=answers,
        elapsed=elapsed,
        cancelled=cancelled,
        annotators=annotators,
        noise=profile.name,
        seed=seed,
    )


def summarize(
    project: Project,
    truth: Truth,
    *,
    answers: dict[int, int],
    elapsed: float,
    cancelled: bool,
    annotators: int,
    noise: str,
    seed: int,
) -> SimulationSummary:
    """Compare the project's state with the truth."""
    service = Pipeline(project)
    stalled = {stage: p.remaining for stage, p in service.progress().items()}
    with project.read() as conn:
        labels = federated_labels(conn)
        counts = label_counts(conn)
        violations = [str(v) for v in check_invariants(conn)]
        rejected = conn.execute(
            select(s.segments.c.instance_id).where(s.segments.c.status == s.SEGMENT_REJECTED)
        ).scalars()
        rejected = list(rejected)
        accepted = conn.execute(
            select(
                s.segments.c.mask_kind,
                s.segments.c.mask,
                s.instances.c.image_id,
                s.instances.c.category_id,
                s.instances.c.x,
                s.instances.c.y,
            )
            .join(s.instances, s.instances.c.id == s.segments.c.instance_id)
            .where(
                s.segments.c.status == s.SEGMENT_ACCEPTED,
                s.instances.c.is_crowd.is_(False),
            )
        ).all()
        effort = conn.execute(
            select(s.events.c.duration_s).where(s.events.c.action == "answer")
        ).scalars()
        effort_s = sum(d or 0.0 for d in effort)
    ious, matched = [], set()
    for row in accepted:
        image = truth.images.get(row.image_id)
        if image is None:
            continue
        mask = Mask.from_bytes(row.mask_kind, row.mask, image.height, image.width)
        if row.x is not None:
            target = image.match(row.category_id, row.x, row.y)
        else:  # imported: no mark point
            target = image.match_mask(row.category_id, mask)
        if target is None:
            continue
        ious.append(mask.iou(target.mask))
        matched.add((row.image_id, target.ann_id))
    truth_instances = sum(
        len([t for t in im.instances if not t.is_crowd]) for im in truth.images.values()
    )
    missing = false_pos = wrong_neg = 0
    for image_id, image in truth.images.items():
        got = labels.get(image_id)
        if got is None:
            continue
        missing += len(image.present - got.positive_category_ids)
        false_pos += len(got.positive_category_ids - image.anywhere)
        wrong_neg += len(got.negative_category_ids & image.anywhere)
    masks = {
        "accepted": len(ious),
        "matched_truth": len(matched),
        "truth_instances": truth_instances,
        "mean_iou": float(np.mean(ious)) if ious else None,
        "min_iou": float(np.min(ious)) if ious else None,
        "share_iou_0.9": float(np.mean([v >= 0.9 for v in ious])) if ious else None,
    }
    return SimulationSummary(
        images=len(truth.images),
        annotators=annotators,
        noise=noise,
        seed=seed,
        answers=answers,
        elapsed_s=round(elapsed, 3),
        cancelled=cancelled,
        stalled=stalled,
        rejected_segments=len(rejected),
        instances_redone=len(set(rejected)),
        masks=masks,
        labels=counts.as_dict(),
        truth_check={
            "missing_positives": missing,
            "false_positives": false_pos,
            "wrong_negatives": wrong_neg,
        },
        violations=violations,
        effort_hours=round(effort_s / 3600.0, 2),
    )


@dataclass
class WorkerReport:
    """What one scripted annotator process did (see :func:`run_worker`)."""

    name: str
    answered: list[int]  # work item ids, in the order answered
    claim_s: list[float]  # seconds each successful claim took
    conflicts: int  # answers refused because the item was no longer needed


def run_worker(
    project_target: str | os.PathLike[str],
    truth_source: str | os.PathLike[str] | dict[str, Any],
    name: str,
    *,
    noise: str | NoiseProfile = "none",
    seed: int = 0,
    idle_timeout_s: float = 10.0,
    poll_s: float = 0.02,
    max_answers: int | None = None,
) -> WorkerReport:
    """One scripted annotator working on its own (in its own process, say) beside others,
    until no stage has open or leased work left; for concurrency tests and benchmarks.
    Seed the queues first (:meth:`Pipeline.seed`).

    A ConflictError (the item was decided meanwhile, e.g. a verification item cancelled
    by another verifier's decision) is counted and the worker goes on.
    """
    from .errors import ConflictError

    with Project.open(project_target) as project:
        truth = load_truth(truth_source, project)
        service = Pipeline(project)
        settings = project.settings()
        with project.read() as conn:
            category_ids = list(conn.execute(select(s.categories.c.id)).scalars())
        scripted = ScriptedAnnotator(
            truth,
            noise_profile(noise),
            random.Random(f"{seed}-{name}"),
            category_ids,
            settings.verify_min_iou,
        )
        bot = service.annotator(name, is_bot=True)
        report = WorkerReport(name, [], [], 0)
        idle_since = time.monotonic()
        while True:
            worked = False
            for stage in STAGE_ORDER:
                started = time.perf_counter()
                item = service.next_item(stage, bot)
                if item is None:
                    continue
                report.claim_s.append(time.perf_counter() - started)
                answer, effort = scripted.answer(item)
                try:
                    service.answer(item, answer, effort=effort)
                    report.answered.append(item.id)
                except ConflictError:
                    report.conflicts += 1
                worked = True
                break
            if worked:
                idle_since = time.monotonic()
                if max_answers is not None and len(report.answered) >= max_answers:
                    return report
                continue
            if not any(p.remaining for p in service.progress().values()):
                return report
            if time.monotonic() - idle_since > idle_timeout_s:
                return report  # what is left, nobody here may take
            time.sleep(poll_s)

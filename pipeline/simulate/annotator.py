"""The scripted annotator: answers any stage's item from the truth, with the mistakes
its noise profile asks for (see the package docstring for what it does per stage)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ..errors import LongtailError
from ..events import Effort
from ..stages import (
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
    SegmentAnswer,
    SegmentationItem,
    Spot,
    SpotAnswer,
    SpottingItem,
    StageItem,
    VerificationItem,
    VerifyAnswer,
)
from ..vocabulary import Category
from .noise import NoiseProfile, sloppy_mask
from .truth import Truth, TruthImage, TruthInstance


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
        handlers: dict[int, Callable[[Any, TruthImage], tuple[Any, Effort]]] = {
            SPOTTING: self.spot,
            MARKING: self.mark,
            SEGMENTATION: self.segment,
            VERIFICATION: self.verify,
            EXHAUSTIVE: self.exhaustive,
            NEGATIVES: self.negative,
        }
        return handlers[item.stage](item, image)

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
            spots.append(Spot(category_id, *first.mark_point))
        if self._chance(self.noise.wrong_category) and image.present:
            wrong = [c for c in self.category_ids if c not in image.anywhere and c not in known]
            if wrong:
                on = image.of(self.rng.choice(sorted(image.present)))[0]
                spots.append(Spot(self.rng.choice(wrong), *on.mark_point))
        effort = nominal_effort(SPOTTING, self.rng, len(spots))
        return (SpotAnswer(tuple(spots)) if spots else SpotAnswer(nothing_new=True)), effort

    def _mark(self, t: TruthInstance) -> Mark:
        x, y, w, h = t.bbox
        box = None
        if w > 0 and h > 0:
            box = (x, y, w, h)
        x, y = t.mark_point
        return Mark(x, y, box)

    def mark(self, item: MarkingItem, image: TruthImage) -> tuple[Any, Effort]:
        image.ensure_points()
        instances = image.of(_id(item.category))
        if not instances:
            return MarkAnswer(category_fits=False), nominal_effort(MARKING, self.rng)
        category_id = _id(item.category)
        taken = {
            id(image.match(category_id, m.x, m.y))
            for m in item.marks
            if m.x is not None and m.y is not None
        }
        todo = [t for t in instances if id(t) not in taken]
        kept = [t for t in todo if not self._chance(self.noise.miss_instance)]
        if todo and not kept:  # the spotted one, at least, is always marked
            kept = todo[:1]
        marks = [self._mark(t) for t in kept]
        return MarkAnswer(True, tuple(marks)), nominal_effort(MARKING, self.rng, len(marks))

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
            if a.instance.x is not None and a.instance.y is not None:
                found = image.match(a.instance.category_id, a.instance.x, a.instance.y)
            elif a.segment is not None:  # imported: no mark point, match by the mask
                found = image.match_mask(a.instance.category_id, a.segment.mask)
            else:
                found = None
            if found is not None:
                covered.add(id(found))
        missing = [t for t in image.of(_id(item.category)) if id(t) not in covered]
        effort = nominal_effort(EXHAUSTIVE, self.rng, len(missing))
        if not missing:
            return ExhaustiveAnswer(True), effort
        return ExhaustiveAnswer(False, tuple(self._mark(t) for t in missing)), effort

    def negative(self, item: NegativeItem, image: TruthImage) -> tuple[Any, Effort]:
        present = item.category.id in image.anywhere
        return NegativeAnswer(present), nominal_effort(NEGATIVES, self.rng)


def _id(category: Category) -> int:
    """A project category's id (every category an item shows is stored)."""
    if category.id is None:
        raise LongtailError(f"category {category.name!r} is not stored in the project")
    return category.id

"""What an annotator answers, one dataclass per stage (docs/pipeline.md).

Answers are plain values: the front end builds one from the annotator's clicks and
hands it to :meth:`pipeline.stages.Pipeline.answer`, which checks it against the
project and applies it in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from ..masks.geometry import Box, Mask
from ..store import schema as s


def _tuple(values: Iterable) -> tuple:
    return tuple(values) if not isinstance(values, tuple) else values


@dataclass(frozen=True)
class Spot:
    """One instance of a newly seen category, marked with a point."""

    category_id: int
    x: float
    y: float


@dataclass(frozen=True)
class Mark:
    """One instance marked with a point and, optionally, a box ``(x, y, w, h)``."""

    x: float
    y: float
    box: Box | None = None


@dataclass(frozen=True)
class SpotAnswer:
    """Stage 1: one point per new category, or "nothing new" (``spots`` empty)."""

    spots: tuple[Spot, ...] = ()
    nothing_new: bool = False
    stage: ClassVar[int] = s.SPOTTING

    def __post_init__(self) -> None:
        object.__setattr__(self, "spots", _tuple(self.spots))


@dataclass(frozen=True)
class MarkAnswer:
    """Stage 2: does the category fit the spotted object? If so, every instance marked."""

    category_fits: bool
    marks: tuple[Mark, ...] = ()
    stage: ClassVar[int] = s.MARKING

    def __post_init__(self) -> None:
        object.__setattr__(self, "marks", _tuple(self.marks))


@dataclass(frozen=True)
class SegmentAnswer:
    """Stage 3: the instance's mask, and the tool that made it (polygon, brush, proposal...)."""

    mask: Mask
    tool: str = "polygon"
    stage: ClassVar[int] = s.SEGMENTATION


@dataclass(frozen=True)
class VerifyAnswer:
    """Stage 4: accept the segment, or reject it (a reason helps whoever redraws it)."""

    accept: bool
    reason: str | None = None
    stage: ClassVar[int] = s.VERIFICATION


@dataclass(frozen=True)
class ExhaustiveAnswer:
    """Stage 5: are all instances of the category segmented? If not, the missing ones may
    be marked (they go back to stage 3); with no marks the pair becomes not-exhaustive."""

    all_segmented: bool
    missing_marks: tuple[Mark, ...] = field(default=())
    stage: ClassVar[int] = s.EXHAUSTIVE

    def __post_init__(self) -> None:
        object.__setattr__(self, "missing_marks", _tuple(self.missing_marks))


@dataclass(frozen=True)
class NegativeAnswer:
    """Stage 6: is the candidate category present in the image?"""

    present: bool
    stage: ClassVar[int] = s.NEGATIVES


Answer = SpotAnswer | MarkAnswer | SegmentAnswer | VerifyAnswer | ExhaustiveAnswer | NegativeAnswer

"""One claim-and-answer step: what every scripted annotator does, in one process or many."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConflictError, LongtailError
from ..stages import (
    EXHAUSTIVE,
    MARKING,
    NEGATIVES,
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
    Pipeline,
)
from ..store.database import Annotator
from .annotator import ScriptedAnnotator

# Downstream first: finishing work in flight keeps the pipeline short.
STAGE_ORDER = (VERIFICATION, SEGMENTATION, EXHAUSTIVE, MARKING, NEGATIVES, SPOTTING)


@dataclass(frozen=True)
class Step:
    """One item claimed and answered."""

    stage: int
    item_id: int
    claim_s: float  # how long the claim took
    conflicted: bool = False  # the answer was refused: the item was decided meanwhile
    opened: Mapping[int, int] = field(default_factory=dict)  # items the answer opened, per stage


def claim_and_answer(
    service: Pipeline,
    scripted: ScriptedAnnotator,
    annotator: Annotator,
    *,
    empty: set[int] | None = None,
) -> Step | None:
    """Claim the first open item in :data:`STAGE_ORDER`, answer it from the truth and
    submit the answer; None when no stage has an item for ``annotator``.

    Stages in ``empty`` are not asked; those found empty are added to it (the caller
    clears a stage again when an answer opens items there). A ConflictError (another
    annotator's decision made the item moot) comes back as a conflicted step. On any
    other error, Ctrl-C included, the claimed item is released before the error goes
    on, so that nothing stays held by a process that stopped.
    """
    for stage in STAGE_ORDER:
        if empty is not None and stage in empty:
            continue
        started = time.perf_counter()
        item = service.next_item(stage, annotator)
        claim_s = time.perf_counter() - started
        if item is None:
            if empty is not None:
                empty.add(stage)
            continue
        try:
            answer, effort = scripted.answer(item)
            result = service.answer(item, answer, effort=effort)
        except ConflictError:
            return Step(stage, item.id, claim_s, conflicted=True)
        except BaseException:
            with contextlib.suppress(LongtailError):  # the answer was committed after all
                service.release(item)
            raise
        return Step(stage, item.id, claim_s, opened=dict(result.opened))
    return None

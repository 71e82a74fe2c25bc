"""Progress per stage over time (a burn-down), from the work queues and the event log.

For each stage: the work items opened by each moment (``work_items.created_at``;
cancelled items, which were never work, are left out) and the answers given by then
(``answer`` events of the stage that were not taken back). Their difference is the
work remaining. Times fall in at most ``bins`` equal steps between the first and the
last record, so the curve costs the same for a thousand answers as for millions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .. import schema as s
from .effort import AnswerGroup, answer_groups, time_step

ev, wi = s.events, s.work_items
BINS = 120


@dataclass(frozen=True)
class StageBurnDown:
    stage: int
    name: str
    opened: tuple[int, ...]  # items opened by the end of each step (cumulative)
    answered: tuple[int, ...]  # answers given by the end of each step (cumulative)

    @property
    def remaining(self) -> tuple[int, ...]:
        return tuple(o - a for o, a in zip(self.opened, self.answered, strict=True))


@dataclass(frozen=True)
class BurnDown:
    times: tuple[float, ...]  # the end of each step, seconds since the epoch
    stages: tuple[StageBurnDown, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "times": list(self.times),
            "stages": {
                str(b.stage): {
                    "name": b.name,
                    "opened": list(b.opened),
                    "answered": list(b.answered),
                    "remaining": list(b.remaining),
                }
                for b in self.stages
            },
        }


def time_range(conn: Connection, bins: int = BINS) -> tuple[float, float, int] | None:
    """(start, step width, steps) covering every work item and answer; None when the
    project has neither. Read from indexes only: the event log by stage and time, the
    work items by id (an item's id grows with its creation time)."""
    starts, ends = [], []
    for stage in s.STAGES:
        first, last = conn.execute(
            select(func.min(ev.c.at), func.max(ev.c.at)).where(ev.c.stage == stage)
        ).one()
        if first is not None:
            starts.append(first)
            ends.append(last)
    for order in (wi.c.id.asc(), wi.c.id.desc()):
        at = conn.execute(select(wi.c.created_at).order_by(order).limit(1)).scalar()
        if at is not None:
            starts.append(at)
            ends.append(at)
    if not starts:
        return None
    t0, t1 = float(min(starts)), float(max(ends))
    bins = max(1, bins if t1 > t0 else 1)
    return t0, ((t1 - t0) / bins) or 1.0, bins


def burn_down(
    conn: Connection,
    bins: int = BINS,
    *,
    steps: tuple[float, float, int] | None = None,
    groups: list[AnswerGroup] | None = None,
) -> BurnDown:
    """Opened and answered work per stage over time (see the module docstring).
    ``steps`` (:func:`time_range`) and ``groups`` (:func:`answer_groups` binned with the
    same steps) reuse what the caller read already."""
    steps = time_range(conn, bins) if steps is None else steps
    if steps is None:
        empty = np.zeros(0, dtype=np.int64)
        return BurnDown((), tuple(_stage(stage, empty, empty) for stage in sorted(s.STAGES)))
    t0, width, bins = steps
    if groups is None:
        groups = answer_groups(conn, t0, width, bins)
    answered = {stage: np.zeros(bins, dtype=np.int64) for stage in s.STAGES}
    for g in groups:
        if g.stage in answered:
            answered[g.stage][g.step] += g.answers
    opened = {stage: np.zeros(bins, dtype=np.int64) for stage in s.STAGES}
    step = time_step(conn, wi.c.created_at, t0, width)
    for stage, k, n in conn.execute(
        select(wi.c.stage, step.label("step"), func.count())
        .where(wi.c.status != s.CANCELLED)
        .group_by(wi.c.stage, "step")
    ):
        if stage in opened:
            opened[stage][min(max(int(k), 0), bins - 1)] += int(n)
    times = tuple(t0 + width * (k + 1) for k in range(bins))
    return BurnDown(
        times,
        tuple(
            _stage(stage, np.cumsum(opened[stage]), np.cumsum(answered[stage]))
            for stage in sorted(s.STAGES)
        ),
    )


def _stage(stage: int, opened: np.ndarray, answered: np.ndarray) -> StageBurnDown:
    return StageBurnDown(
        stage, s.STAGES[stage], tuple(int(v) for v in opened), tuple(int(v) for v in answered)
    )

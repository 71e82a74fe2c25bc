"""Progress per stage over time (a burn-down), from the work queues.

For each stage: the work items opened by each moment (``work_items.created_at``;
cancelled items, which were never work, are left out) and the items answered by then
(``done_at``, written by the answer's transaction with its event; an answer taken back
clears it). Their difference is the work remaining. Times fall in at most ``bins`` equal steps between the first and the
last record, so the curve costs the same for a thousand answers as for millions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.engine import Connection

from ..store import schema as s

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
    conn: Connection, bins: int = BINS, *, steps: tuple[float, float, int] | None = None
) -> BurnDown:
    """Opened and answered work per stage over time (see the module docstring);
    ``steps`` reuses :func:`time_range`."""
    steps = time_range(conn, bins) if steps is None else steps
    if steps is None:
        empty = np.zeros(0, dtype=np.int64)
        return BurnDown((), tuple(_stage(stage, empty, empty) for stage in sorted(s.STAGES)))
    t0, width, bins = steps
    opened = {stage: np.zeros(bins, dtype=np.int64) for stage in s.STAGES}
    answered = {stage: np.zeros(bins, dtype=np.int64) for stage in s.STAGES}
    # One pass over the queues: the step an item was opened in and, once answered, the
    # step of its answer (an answer taken back clears done_at).
    rows = conn.execute(
        select(
            wi.c.stage,
            time_step(conn, wi.c.created_at, t0, width).label("opened"),
            time_step(conn, wi.c.done_at, t0, width).label("answered"),
            func.count(),
        )
        .where(wi.c.status != s.CANCELLED)
        .group_by(wi.c.stage, "opened", "answered")
    )
    for stage, k_open, k_done, n in rows:
        if stage not in opened:
            continue
        opened[stage][min(max(int(k_open), 0), bins - 1)] += int(n)
        if k_done is not None:
            answered[stage][min(max(int(k_done), 0), bins - 1)] += int(n)
    times = tuple(t0 + width * (k + 1) for k in range(bins))
    return BurnDown(
        times,
        tuple(
            _stage(stage, np.cumsum(opened[stage]), np.cumsum(answered[stage]))
            for stage in sorted(s.STAGES)
        ),
    )


def time_step(conn: Connection, column: Any, t0: float, width: float) -> Any:
    """The time step of ``column`` as a database expression (floor((t - t0) / width))."""
    offset = (column - t0) / width
    # SQLite's CAST truncates (offsets are >= 0, so it floors); PostgreSQL's rounds.
    if conn.dialect.name == "postgresql":
        offset = func.floor(offset)
    return cast(offset, Integer)


def _stage(stage: int, opened: np.ndarray, answered: np.ndarray) -> StageBurnDown:
    return StageBurnDown(
        stage, s.STAGES[stage], tuple(int(v) for v in opened), tuple(int(v) for v in answered)
    )

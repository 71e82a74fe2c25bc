"""Every statistic of a project at once, read in one consistent snapshot."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from .. import schema as s
from ..store import Project
from .agreement import Agreement, agreement
from .burndown import BurnDown, burn_down
from .coverage import Coverage, coverage
from .effort import Effort, effort
from .eventcache import cached_answer_groups
from .shape import DataShape, data_shape, positive_pair_array

Progress = Callable[[int, int], None]
"""Called with (done, total) after each part; may raise to cancel."""

PARTS = 6


@dataclass(frozen=True)
class ProjectStats:
    project: str
    computed_at: float
    seconds: float  # how long computing them took
    shape: DataShape
    coverage: Coverage
    burn_down: BurnDown
    effort: Effort
    agreement: Agreement
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready document of every number (what ``longtail stats --json`` writes)."""
        return {
            "project": self.project,
            "computed_at": self.computed_at,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "shape": self.shape.as_dict(),
            "coverage": self.coverage.as_dict(),
            "burn_down": self.burn_down.as_dict(),
            "effort": self.effort.as_dict(),
            "agreement": self.agreement.as_dict(),
        }


def compute_stats(
    project: Project, *, progress: Progress | None = None, cache: bool = True
) -> ProjectStats:
    """Every statistic of ``project`` (one read transaction, so the parts agree).
    ``cache``: keep the effort sums between runs (``pipeline.stats.eventcache``)."""
    started = time.perf_counter()

    def step(k: int) -> None:
        if progress is not None:
            progress(k, PARTS)

    with project.read() as conn:
        step(0)
        counts = {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in (
                ("images", s.images),
                ("categories", s.categories),
                ("instances", s.instances),
                ("segments", s.segments),
                ("annotators", s.annotators),
            )
        }
        pairs = positive_pair_array(conn)
        step(1)
        shape = data_shape(conn, pairs)
        step(2)
        cover = coverage(conn, pairs)
        step(3)
        progress_over_time = burn_down(conn)
        step(4)
        cost = effort(conn, cached_answer_groups(conn, project) if cache else None)
        step(5)
        agree = agreement(conn)
        step(6)
    return ProjectStats(
        project=str(project.folder) if project.folder else project.url,
        computed_at=time.time(),
        seconds=time.perf_counter() - started,
        shape=shape,
        coverage=cover,
        burn_down=progress_over_time,
        effort=cost,
        agreement=agree,
        counts=counts,
    )

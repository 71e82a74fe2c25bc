"""Every statistic of a project at once, read in one consistent snapshot."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..store import schema as s
from ..store.database import Project
from .agreement import Agreement, agreement
from .burndown import BurnDown, burn_down
from .coverage import Coverage, assemble_coverage, coverage_inputs
from .effort import Effort, effort
from .eventcache import cached_answer_groups
from .shape import DataShape, assemble_shape, positive_pair_array, shape_inputs

Progress = Callable[[int, int], None]
"""Called with (done, total) as parts finish; may raise to cancel."""


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
    project: Project,
    *,
    progress: Progress | None = None,
    cache: bool = True,
    parallel: int | None = None,
) -> ProjectStats:
    """Every statistic of ``project``.

    The parts are read at once on ``parallel`` threads (default: up to four; the
    database works outside Python's lock), each in a read transaction of its own: on a
    project being annotated meanwhile they may differ by the answers given during those
    seconds. ``cache``: keep the effort sums between runs (``pipeline.stats.eventcache``).
    """
    started = time.perf_counter()
    parts: dict[str, Callable[[Connection], Any]] = {
        "counts": _counts,
        "pairs": positive_pair_array,
        "shape": shape_inputs,
        "negatives": coverage_inputs,
        "burn_down": burn_down,
        "effort": lambda conn: effort(conn, cached_answer_groups(conn, project) if cache else None),
        "agreement": agreement,
    }
    workers = parallel or min(4, os.cpu_count() or 1)

    def read(work: Callable[[Connection], Any]) -> Any:
        with project.read() as conn:
            return work(conn)

    found: dict[str, Any] = {}
    if progress is not None:
        progress(0, len(parts))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stats") as pool:
        futures = {pool.submit(read, work): name for name, work in parts.items()}
        try:
            for done, future in enumerate(as_completed(futures), 1):
                found[futures[future]] = future.result()
                if progress is not None:
                    progress(done, len(parts))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    pairs = found["pairs"]
    return ProjectStats(
        project=str(project.folder) if project.folder else project.url,
        computed_at=time.time(),
        seconds=time.perf_counter() - started,
        shape=assemble_shape(found["shape"], pairs),
        coverage=assemble_coverage(found["negatives"], pairs),
        burn_down=found["burn_down"],
        effort=found["effort"],
        agreement=found["agreement"],
        counts=found["counts"],
    )


def _counts(conn: Connection) -> dict[str, int]:
    return {
        name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in (
            ("images", s.images),
            ("categories", s.categories),
            ("instances", s.instances),
            ("segments", s.segments),
            ("annotators", s.annotators),
        )
    }

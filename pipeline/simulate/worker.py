"""One scripted annotator in a process of its own, beside others on the same project."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Any

from ..stages import Pipeline
from ..store.database import Project
from .noise import NoiseProfile
from .run import scripted_annotator
from .step import claim_and_answer
from .truth import load_truth


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
    with Project.open(project_target) as project:
        truth = load_truth(truth_source, project)
        service = Pipeline(project)
        scripted = scripted_annotator(project, truth, noise, random.Random(f"{seed}-{name}"))
        bot = service.annotator(name, is_bot=True)
        report = WorkerReport(name, [], [], 0)
        idle_since = time.monotonic()
        while True:
            step = claim_and_answer(service, scripted, bot)
            if step is not None:
                report.claim_s.append(step.claim_s)
                if step.conflicted:
                    report.conflicts += 1
                else:
                    report.answered.append(step.item_id)
                idle_since = time.monotonic()
                if max_answers is not None and len(report.answered) >= max_answers:
                    return report
                continue
            if not any(p.remaining for p in service.progress().values()):
                return report
            if time.monotonic() - idle_since > idle_timeout_s:
                return report  # what is left, nobody here may take
            time.sleep(poll_s)

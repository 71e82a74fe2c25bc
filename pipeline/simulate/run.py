"""The simulation run: scripted annotators take turns until every queue is empty."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from ..errors import LongtailError
from ..stages import Pipeline
from ..store import schema as s
from ..store.database import Project, now
from .annotator import ScriptedAnnotator
from .noise import NoiseProfile, noise_profile
from .step import claim_and_answer
from .summary import SimulationSummary, summarize
from .truth import Truth, load_truth

Progress = Callable[[int, int], None]
LEASE_POLL_S = 0.25  # how often a run with nothing to take looks at others' leases again


def leased_elsewhere(project: Project) -> int:
    """Items held under a live lease: between two steps this run holds none, so each is
    someone else's (another simulate run, a person)."""
    wi = s.work_items
    with project.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(wi)
                .where(wi.c.status == s.LEASED, wi.c.lease_expires > now())
            ).scalar_one()
        )


@dataclass
class RunOutcome:
    """What a run did, before it is compared with the truth (:meth:`summary`)."""

    truth: Truth
    annotators: int
    noise: str
    seed: int
    answers: dict[int, int]  # per stage, in this run
    elapsed_s: float
    cancelled: bool

    @property
    def total_answers(self) -> int:
        return sum(self.answers.values())

    def summary(self, project: Project) -> SimulationSummary:
        return summarize(
            project,
            self.truth,
            answers=self.answers,
            elapsed=self.elapsed_s,
            cancelled=self.cancelled,
            annotators=self.annotators,
            noise=self.noise,
            seed=self.seed,
        )


def scripted_annotator(
    project: Project, truth: Truth, noise: str | NoiseProfile, rng: random.Random
) -> ScriptedAnnotator:
    """A scripted annotator for ``project`` with the project's quality bar."""
    with project.read() as conn:
        category_ids = list(conn.execute(select(s.categories.c.id)).scalars())
    bar = project.settings().verify_min_iou
    return ScriptedAnnotator(truth, noise_profile(noise), rng, category_ids, bar)


def run_annotators(
    project: Project,
    truth: Truth | str | os.PathLike[str] | dict[str, Any],
    *,
    annotators: int = 3,
    noise: str | NoiseProfile = "none",
    seed: int = 0,
    progress: Progress | None = None,
    max_answers: int | None = None,
) -> RunOutcome:
    """Let ``annotators`` scripted annotators take turns (one step each) until no stage
    has an item any of them may take, or ``max_answers``. Items leased by someone else
    are waited for (they are answered, or their lease runs out), never taken for a stall.

    Ctrl-C (KeyboardInterrupt) ends the run cleanly: each answer is its own
    transaction, the item in hand is released, and the outcome says ``cancelled``.
    """
    if annotators < 1:
        raise LongtailError("simulate needs at least one annotator")
    profile = noise_profile(noise)
    if not isinstance(truth, Truth):
        truth = load_truth(truth, project)
    service = Pipeline(project)
    scripted = scripted_annotator(project, truth, profile, random.Random(seed))
    bots = [service.annotator(f"sim-{k + 1}", is_bot=True) for k in range(annotators)]
    service.seed()

    answers = dict.fromkeys(s.STAGES, 0)
    # empty[b]: the stages that had nothing for bot b; cleared when an answer opens items there
    empty: list[set[int]] = [set() for _ in bots]
    cancelled = False
    started = time.perf_counter()
    total = 0
    remaining = sum(p.remaining for p in service.progress().values())
    try:
        while max_answers is None or total < max_answers:
            progressed = False
            for b, bot in enumerate(bots):
                step = claim_and_answer(service, scripted, bot, empty=empty[b])
                if step is None:
                    continue
                progressed = True
                answers[step.stage] += 1
                total += 1
                remaining += sum(step.opened.values()) - 1
                for opened_stage, n in step.opened.items():
                    if n:
                        for stages in empty:
                            stages.discard(opened_stage)
                if progress is not None:
                    progress(total, total + max(0, remaining))
                if max_answers is not None and total >= max_answers:
                    break
            if not progressed:
                # Nothing our annotators may take. Items leased by someone else (another
                # run, a person) are not a stall: wait until they are answered or their
                # lease runs out, then look again. Only what nobody may take ends it.
                if leased_elsewhere(project) == 0:
                    break
                time.sleep(LEASE_POLL_S)
                for stages in empty:
                    stages.clear()
    except KeyboardInterrupt:
        cancelled = True
    return RunOutcome(
        truth=truth,
        annotators=annotators,
        noise=profile.name,
        seed=seed,
        answers=answers,
        elapsed_s=time.perf_counter() - started,
        cancelled=cancelled,
    )


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
    """Run the scripted annotators until every queue is empty (or ``max_answers``), then
    compare the project with the truth (see :func:`run_annotators`)."""
    outcome = run_annotators(
        project,
        truth,
        annotators=annotators,
        noise=noise,
        seed=seed,
        progress=progress,
        max_answers=max_answers,
    )
    return outcome.summary(project)

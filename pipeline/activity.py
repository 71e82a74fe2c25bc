"""Throughput and agreement, per stage and per annotator, from the event log.

Every answer is an ``answer`` event with its annotator, stage, duration and clicks;
answers later taken back (an ``undo`` event names them) are left out. Agreement:

- verification: the accept rate, the share of verdict pairs on one segment that agree,
  and per verifier the share of their verdicts that agree with the segment's decision;
- segmentation: per annotator, the share of their decided segments that were accepted;
- the other stages: the rate of each yes/no answer (category fits, nothing new, all
  segmented, present), which shows how much each stage finds.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection

from .store import schema as s
from .store.database import Project

ev = s.events


@dataclass(frozen=True)
class StageActivity:
    stage: int
    name: str
    answers: int
    annotators: int
    total_s: float  # summed answer durations (of answers that reported one)
    median_s: float | None
    clicks: int
    skips: int
    undos: int

    @property
    def answers_per_hour(self) -> float | None:
        """Answers per annotator-hour of measured work."""
        return 3600.0 * self.answers / self.total_s if self.total_s > 0 else None


@dataclass(frozen=True)
class AnnotatorActivity:
    annotator_id: int
    name: str
    is_bot: bool
    answers: dict[int, int]  # per stage
    total_s: float
    clicks: int
    verdicts: int
    accept_rate: float | None  # of their verdicts
    agreement: float | None  # their verdicts that match the segment's decision
    segments_decided: int
    segments_accepted_rate: float | None  # of the segments they drew and that were decided

    @property
    def total_answers(self) -> int:
        return sum(self.answers.values())


@dataclass(frozen=True)
class Agreement:
    verification_accept_rate: float | None
    verifier_pair_agreement: float | None  # verdict pairs on one segment that agree
    category_fit_rate: float | None  # stage 2: the spotted category fits
    nothing_new_rate: float | None  # stage 1: visits that found nothing new
    all_segmented_rate: float | None  # stage 5
    present_rate: float | None  # stage 6: candidates that were present after all


@dataclass(frozen=True)
class ActivityReport:
    stages: list[StageActivity]
    annotators: list[AnnotatorActivity]
    agreement: Agreement
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": [{**asdict(a), "answers_per_hour": a.answers_per_hour} for a in self.stages],
            "annotators": [
                {**asdict(a), "answers": {str(k): v for k, v in a.answers.items()}}
                for a in self.annotators
            ],
            "agreement": asdict(self.agreement),
        }


def _rate(yes: int, total: int) -> float | None:
    return yes / total if total else None


def activity(conn: Connection) -> ActivityReport:
    """The activity report of the project (see the module docstring)."""
    undo = ev.alias("undo")
    kept = ~exists().where(undo.c.undoes == ev.c.id)
    rows = conn.execute(
        select(
            ev.c.stage,
            ev.c.annotator_id,
            ev.c.duration_s,
            ev.c.clicks,
            ev.c.payload["answer"].label("answer"),
        ).where(ev.c.action == "answer", kept)
    ).all()
    others = conn.execute(
        select(ev.c.stage, ev.c.action, func.count())
        .where(ev.c.action.in_(("skip", "undo")))
        .group_by(ev.c.stage, ev.c.action)
    ).all()
    per_stage: dict[int, list[Any]] = defaultdict(list)
    per_annotator: dict[int, list[Any]] = defaultdict(list)
    yes_no: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    keys = {
        s.SPOTTING: "nothing_new",
        s.MARKING: "category_fits",
        s.VERIFICATION: "accept",
        s.EXHAUSTIVE: "all_segmented",
        s.NEGATIVES: "present",
    }
    for row in rows:
        per_stage[row.stage].append(row)
        per_annotator[row.annotator_id].append(row)
        key = keys.get(row.stage)
        if key and isinstance(row.answer, dict) and key in row.answer:
            yes_no[key][0] += bool(row.answer[key])
            yes_no[key][1] += 1
    counted = defaultdict(int)
    for stage, action, n in others:
        counted[(stage, action)] = int(n)
    stages = []
    for stage in sorted(s.STAGES):
        answers = per_stage.get(stage, [])
        durations = [r.duration_s for r in answers if r.duration_s is not None]
        stages.append(
            StageActivity(
                stage=stage,
                name=s.STAGES[stage],
                answers=len(answers),
                annotators=len({r.annotator_id for r in answers}),
                total_s=float(sum(durations)),
                median_s=statistics.median(durations) if durations else None,
                clicks=int(sum(r.clicks or 0 for r in answers)),
                skips=counted[(stage, "skip")],
                undos=counted[(stage, "undo")],
            )
        )

    verdicts = conn.execute(
        select(
            s.verdicts.c.segment_id,
            s.verdicts.c.annotator_id,
            s.verdicts.c.accept,
            s.segments.c.status,
        ).join(s.segments, s.segments.c.id == s.verdicts.c.segment_id)
    ).all()
    by_segment: dict[int, list[bool]] = defaultdict(list)
    verifier: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, accepts, agree, decided
    for segment_id, annotator_id, accept, status in verdicts:
        by_segment[segment_id].append(bool(accept))
        v = verifier[annotator_id]
        v[0] += 1
        v[1] += bool(accept)
        if status in (s.SEGMENT_ACCEPTED, s.SEGMENT_REJECTED):
            v[3] += 1
            v[2] += bool(accept) == (status == s.SEGMENT_ACCEPTED)
    pairs = agree = 0
    for votes in by_segment.values():
        yes = sum(votes)
        no = len(votes) - yes
        pairs += len(votes) * (len(votes) - 1) // 2
        agree += yes * (yes - 1) // 2 + no * (no - 1) // 2
    drawn = conn.execute(
        select(s.segments.c.annotator_id, s.segments.c.status, func.count())
        .where(s.segments.c.status.in_((s.SEGMENT_ACCEPTED, s.SEGMENT_REJECTED)))
        .group_by(s.segments.c.annotator_id, s.segments.c.status)
    ).all()
    segmenter: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for annotator_id, status, n in drawn:
        segmenter[annotator_id][0] += int(n)
        if status == s.SEGMENT_ACCEPTED:
            segmenter[annotator_id][1] += int(n)

    people = conn.execute(select(s.annotators).order_by(s.annotators.c.id)).all()
    annotators = []
    for person in people:
        answers = per_annotator.get(person.id, [])
        v = verifier.get(person.id, [0, 0, 0, 0])
        g = segmenter.get(person.id, [0, 0])
        if not answers and not v[0] and not g[0]:
            continue
        by_stage = dict.fromkeys(sorted(s.STAGES), 0)
        for r in answers:
            by_stage[r.stage] += 1
        annotators.append(
            AnnotatorActivity(
                annotator_id=person.id,
                name=person.name,
                is_bot=bool(person.is_bot),
                answers=by_stage,
                total_s=float(sum(r.duration_s or 0.0 for r in answers)),
                clicks=int(sum(r.clicks or 0 for r in answers)),
                verdicts=v[0],
                accept_rate=_rate(v[1], v[0]),
                agreement=_rate(v[2], v[3]),
                segments_decided=g[0],
                segments_accepted_rate=_rate(g[1], g[0]),
            )
        )
    total_verdicts = sum(len(v) for v in by_segment.values())
    agreement = Agreement(
        verification_accept_rate=_rate(sum(sum(v) for v in by_segment.values()), total_verdicts),
        verifier_pair_agreement=_rate(agree, pairs),
        category_fit_rate=_rate(*yes_no["category_fits"]),
        nothing_new_rate=_rate(*yes_no["nothing_new"]),
        all_segmented_rate=_rate(*yes_no["all_segmented"]),
        present_rate=_rate(*yes_no["present"]),
    )
    return ActivityReport(stages, annotators, agreement)


def project_activity(project: Project) -> ActivityReport:
    """:func:`activity` in a read transaction of its own."""
    with project.read() as conn:
        return activity(conn)

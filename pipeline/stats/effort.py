"""Effort: seconds and clicks per answer, by stage, by annotator and, for segmentation,
by tool (proposal, polygon, brush...): what a mask costs by hand and with the model.

Every answer is an ``answer`` event carrying the duration and clicks the front end
measured (``pipeline.events.Effort``); a segmentation answer's event names its tool
(``SegmentAnswer.tool``, in the ``tool`` column since schema version 5, also stored on
the segment and in the payload). Answers later taken back (an
``undo`` event names them) are left out. Answers without a measurement count as
answers but not in the means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from ..corrections import CORRECTION
from ..store import schema as s

ev = s.events
ANSWER = "answer"


def kept_answers(action: str = ANSWER, upto: int | None = None) -> Any:
    """The events of ``action`` that were not taken back (by an undo with id <= ``upto``:
    a reader bounded by an earlier snapshot must not see later undos)."""
    undo = ev.alias("undo")
    undone = select(undo.c.undoes).where(undo.c.undoes.is_not(None))
    if upto is not None:
        # "+ 0": read the few undos from their index, not every event up to ``upto``
        undone = undone.where((undo.c.id + 0) <= upto)
    # An uncorrelated NOT IN is evaluated once (a few undos), not probed per answer.
    return (ev.c.action == action) & ev.c.id.not_in(undone)


@dataclass
class EffortRow:
    """Summed effort of a group of answers."""

    answers: int = 0
    timed: int = 0  # answers that reported a duration
    total_s: float = 0.0
    counted: int = 0  # answers that reported clicks
    clicks: int = 0

    @property
    def mean_s(self) -> float | None:
        return self.total_s / self.timed if self.timed else None

    @property
    def mean_clicks(self) -> float | None:
        return self.clicks / self.counted if self.counted else None

    def add(self, answers: int, timed: int, total_s: float, counted: int, clicks: int) -> None:
        self.answers += answers
        self.timed += timed
        self.total_s += total_s
        self.counted += counted
        self.clicks += clicks

    def as_dict(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "total_s": round(self.total_s, 3),
            "mean_s": self.mean_s,
            "mean_clicks": self.mean_clicks,
            "clicks": self.clicks,
        }


@dataclass
class Effort:
    by_stage: dict[int, EffortRow] = field(default_factory=dict)
    by_annotator: dict[tuple[int, int], EffortRow] = field(default_factory=dict)  # (who, stage)
    by_tool: dict[str, EffortRow] = field(default_factory=dict)  # segmentation answers
    corrections: EffortRow = field(default_factory=EffortRow)  # explorer corrections
    names: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "by_stage": {
                str(stage): {"name": s.STAGES[stage], **row.as_dict()}
                for stage, row in sorted(self.by_stage.items())
            },
            "by_annotator": [
                {
                    "annotator_id": who,
                    "name": self.names.get(who, str(who)),
                    "stage": stage,
                    **row.as_dict(),
                }
                for (who, stage), row in sorted(self.by_annotator.items())
            ],
            "by_tool": {tool: row.as_dict() for tool, row in sorted(self.by_tool.items())},
            "corrections": self.corrections.as_dict(),
        }


UNKNOWN_TOOL = "unknown"


@dataclass(frozen=True)
class AnswerGroup:
    """Summed answers (or corrections) of one (action, stage, annotator, tool)."""

    action: str  # "answer" or "correct"
    stage: int
    annotator_id: int | None
    tool: str | None  # segmentation answers only
    answers: int
    timed: int
    total_s: float
    counted: int
    clicks: int


def tool_column() -> Any:
    """The tool a segmentation answer names (None for the other stages)."""
    return case((ev.c.stage == s.SEGMENTATION, ev.c.tool), else_=None)


def group_key(g: AnswerGroup) -> tuple[str, int, int | None, str | None]:
    return (g.action, g.stage, g.annotator_id, g.tool)


def answer_groups(
    conn: Connection, where: Any = None, *, stage: int | None = None, upto: int | None = None
) -> list[AnswerGroup]:
    """The kept answers and the corrections (of the events matching ``where``; of one
    ``stage``), summed per stage, annotator and tool in one pass over the event log. A
    pass costs seconds on millions of events: ``pipeline.stats.eventcache`` keeps the
    sums between runs and reads the stages side by side. ``upto``: only undos with an
    id up to it count (a reader on a later snapshot than its caller's)."""
    if stage is not None:
        return _stage_groups(conn, where, stage, upto)
    query = (
        select(
            ev.c.action,
            ev.c.stage,
            ev.c.annotator_id.label("who"),
            tool_column().label("tool"),
            *_sums(),
        )
        .where(kept_answers(upto=upto) | (ev.c.action == CORRECTION), ev.c.stage.is_not(None))
        .group_by(ev.c.action, ev.c.stage, "who", "tool")
    )
    if where is not None:
        query = query.where(where)
    return [
        AnswerGroup(action, int(stage), who, used, *_values(row))
        for action, stage, who, used, *row in conn.execute(query)
    ]


def _sums() -> list[Any]:
    return [
        func.count(),
        func.count(ev.c.duration_s),
        func.coalesce(func.sum(ev.c.duration_s), 0.0),
        func.count(ev.c.clicks),
        func.coalesce(func.sum(ev.c.clicks), 0),
    ]


def _values(row: Any) -> tuple[int, int, float, int, int]:
    n, timed, total, counted, clicks = row
    return int(n), int(timed), float(total), int(counted), int(clicks)


def _stage_groups(conn: Connection, where: Any, stage: int, upto: int | None) -> list[AnswerGroup]:
    """:func:`answer_groups` of one stage. Grouped by the plain annotator, action and
    tool columns, a stage's answers are summed along the ``ix_events_effort`` index
    (stage, annotator, action, tool, duration, clicks) in its order: no sort, no table
    reads, segmentation's tools included (schema version 5)."""
    keys: list[Any] = [ev.c.annotator_id, ev.c.action, ev.c.tool]
    query = (
        select(*keys, *_sums())
        .where(kept_answers(upto=upto) | (ev.c.action == CORRECTION), ev.c.stage == stage)
        .group_by(*keys)
    )
    if where is not None:
        query = query.where(where)
    groups = []
    for who, action, tool, *row in conn.execute(query):
        # the WHERE lets only answers and corrections through
        used = tool if stage == s.SEGMENTATION else None
        groups.append(AnswerGroup(action, stage, who, used, *_values(row)))
    return groups


def effort(conn: Connection, groups: list[AnswerGroup] | None = None) -> Effort:
    """The effort figures of the project (see the module docstring); ``groups`` reuses
    :func:`answer_groups`."""
    groups = answer_groups(conn) if groups is None else groups
    result = Effort()
    for stage in s.STAGES:
        result.by_stage[stage] = EffortRow()
    for g in groups:
        values = (g.answers, g.timed, g.total_s, g.counted, g.clicks)
        if g.action == CORRECTION:
            result.corrections.add(*values)
            continue
        if g.stage not in s.STAGES:
            continue
        result.by_stage[g.stage].add(*values)
        if g.annotator_id is not None:  # an answer always has one; the type allows none
            result.by_annotator.setdefault((g.annotator_id, g.stage), EffortRow()).add(*values)
        if g.stage == s.SEGMENTATION:
            result.by_tool.setdefault(g.tool or UNKNOWN_TOOL, EffortRow()).add(*values)
    result.names = dict(conn.execute(select(s.annotators.c.id, s.annotators.c.name)).all())
    return result

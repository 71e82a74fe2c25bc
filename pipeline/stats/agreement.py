"""Agreement: how often verifiers reject, and how often exhaustive checks find instances
missing, per annotator and overall.

Read from the answers as they stand (``verdicts``, ``exhaustive_checks``): an answer
taken back is no longer there. (How often an annotator's own segments were accepted is
in ``longtail status --activity``; counting it here would read the whole segments
table, masks and all.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from ..store import schema as s


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class AnnotatorAgreement:
    annotator_id: int
    name: str
    verdicts: int  # segments they judged
    rejects: int  # of those, rejected
    exhaustive_checks: int  # stage-5 answers
    some_missing: int  # of those, "some are missing"

    @property
    def reject_rate(self) -> float | None:
        return _rate(self.rejects, self.verdicts)

    @property
    def some_missing_rate(self) -> float | None:
        return _rate(self.some_missing, self.exhaustive_checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "reject_rate": self.reject_rate,
            "some_missing_rate": self.some_missing_rate,
        }


@dataclass(frozen=True)
class Agreement:
    annotators: tuple[AnnotatorAgreement, ...]  # by annotator id

    @property
    def reject_rate(self) -> float | None:
        return _rate(
            sum(a.rejects for a in self.annotators), sum(a.verdicts for a in self.annotators)
        )

    @property
    def some_missing_rate(self) -> float | None:
        return _rate(
            sum(a.some_missing for a in self.annotators),
            sum(a.exhaustive_checks for a in self.annotators),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "reject_rate": self.reject_rate,
            "some_missing_rate": self.some_missing_rate,
            "annotators": [a.as_dict() for a in self.annotators],
        }


def agreement(conn: Connection) -> Agreement:
    """The agreement figures of the project (see the module docstring)."""
    figures: dict[int, list[int]] = defaultdict(lambda: [0] * 4)
    v, x = s.verdicts, s.exhaustive_checks
    # One group per annotator, the "no" answers summed within it: a single sort key
    # (grouping by annotator and answer sorted a million rows on two).
    for who, n, rejects in conn.execute(
        select(v.c.annotator_id, func.count(), func.sum(case((v.c.accept, 0), else_=1))).group_by(
            v.c.annotator_id
        )
    ):
        figures[who][0] += int(n)
        figures[who][1] += int(rejects)
    for who, n, missing in conn.execute(
        select(
            x.c.annotator_id, func.count(), func.sum(case((x.c.all_segmented, 0), else_=1))
        ).group_by(x.c.annotator_id)
    ):
        figures[who][2] += int(n)
        figures[who][3] += int(missing)
    names = dict(conn.execute(select(s.annotators.c.id, s.annotators.c.name)).all())
    return Agreement(
        tuple(
            AnnotatorAgreement(who, names.get(who, str(who)), *f)
            for who, f in sorted(figures.items())
        )
    )

"""Seeding: bring the work queues in line with the project's data.

Answers open their own follow-up items; :func:`seed` opens the items that no answer
will: for new images, for imported annotations, and after a setting changed. It is
idempotent (an item is opened only where none is pending) and runs in one
transaction. Per stage it opens an item for

1. every image that has not finished spotting (an image whose latest visits already
   reach ``spot_done_after`` "nothing new" answers in a row finishes instead);
2. every ``spotted`` pair;
3. every instance (crowd regions aside) that is ``marked`` or ``redo``;
4. every pending segment with no pending verification item;
5. every ``confirmed`` pair whose exhaustiveness is unknown and whose instances are
   all accepted (imported pairs included, unless ``verify_imported`` is false);
6. every image that finished spotting with no pending candidate: one sampling round
   (:func:`pipeline.stages.negatives.refill`: only images without any round yet while
   other images still wait for spotting).

Imported images take part in spotting like any other (the spotter sees the imported
categories as already known). ``spot_imported=False`` declares images that carry
imported annotations and have no visits as spotted instead, so that they go straight
to stages 5 and 6.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Exists

from ..store import schema as s
from ..store.database import now
from ..store.settings import ProjectSettings
from . import negatives
from .common import PENDING_WORK, item_row
from .journal import Journal
from .segmentation import REDO_PRIORITY, verification_slot

wi = s.work_items
ic = s.image_categories
inst = s.instances


@dataclass
class SeedReport:
    """Work items opened per stage, and images declared spotted."""

    opened: dict[int, int] = field(default_factory=lambda: dict.fromkeys(s.STAGES, 0))
    declared_spotted: int = 0

    @property
    def total(self) -> int:
        return sum(self.opened.values())


def _pending(stage: int, *match: ColumnElement[bool]) -> Exists:
    return exists().where(wi.c.stage == stage, wi.c.status.in_(PENDING_WORK), *match)


def seed(
    conn: Connection,
    settings: ProjectSettings,
    *,
    image_ids: Iterable[int] | None = None,
    spot_imported: bool = True,
    verify_imported: bool = True,
) -> SeedReport:
    """Open the missing work items (see the module docstring); returns what was opened."""
    journal = Journal(conn, record=False)
    report = SeedReport()
    ids = None if image_ids is None else sorted(set(image_ids))

    def only(column: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        return [] if ids is None else [column.in_(ids)]

    finished = exists().where(s.spotting_finished.c.image_id == s.images.c.id)

    # -- images declared spotted: imported annotations, no visits
    if not spot_imported:
        # an image imported without annotations may have implicit negatives alone (an
        # EXISTS on the simple view, not on pair_labels: SQLite takes a correlated
        # condition into a join view, not into a UNION ALL one)
        implicit = s.implicit_negatives
        imported = (
            exists().where(ic.c.image_id == s.images.c.id, ic.c.source == s.SOURCE_IMPORTED)
            | exists().where(
                implicit.c.image_id == s.images.c.id, implicit.c.source == s.SOURCE_IMPORTED
            )
            | exists().where(inst.c.image_id == s.images.c.id, inst.c.source == s.SOURCE_IMPORTED)
        )
        visited = exists().where(s.spot_visits.c.image_id == s.images.c.id)
        declared = conn.execute(
            select(s.images.c.id).where(imported, ~visited, ~finished, *only(s.images.c.id))
        ).scalars()
        rows = [{"image_id": i, "reason": "declared", "finished_at": now()} for i in declared]
        if rows:
            conn.execute(s.spotting_finished.insert(), rows)
        report.declared_spotted = len(rows)

    # -- stage 1
    report.opened[s.SPOTTING] += open_spotting(journal, settings, ids)

    # -- stage 2
    spotted = conn.execute(
        select(ic.c.image_id, ic.c.category_id).where(
            ic.c.state == s.SPOTTED,
            ~_pending(
                s.MARKING, wi.c.image_id == ic.c.image_id, wi.c.category_id == ic.c.category_id
            ),
            *only(ic.c.image_id),
        )
    ).all()
    rows = [item_row(s.MARKING, i, category_id=c) for i, c in spotted]
    report.opened[s.MARKING] += journal.insert_many(wi, rows)

    # -- stage 3
    unsegmented = conn.execute(
        select(inst.c.id, inst.c.image_id, inst.c.category_id, inst.c.status).where(
            inst.c.status.in_((s.MARKED, s.REDO)),
            inst.c.is_crowd.is_(False),
            ~_pending(s.SEGMENTATION, wi.c.instance_id == inst.c.id),
            *only(inst.c.image_id),
        )
    ).all()
    rows = [
        item_row(
            s.SEGMENTATION,
            r.image_id,
            category_id=r.category_id,
            instance_id=r.id,
            priority=REDO_PRIORITY if r.status == s.REDO else 0.0,
        )
        for r in unsegmented
    ]
    report.opened[s.SEGMENTATION] += journal.insert_many(wi, rows)

    # -- stage 4
    seg = s.segments
    verdicts = (
        select(func.count())
        .where(s.verdicts.c.segment_id == seg.c.id)
        .scalar_subquery()
        .label("verdicts")
    )
    unjudged = conn.execute(
        select(
            seg.c.id.label("segment_id"),
            seg.c.annotator_id.label("author_id"),
            verdicts,
            inst.c.id,
            inst.c.image_id,
            inst.c.category_id,
        )
        .join(inst, inst.c.id == seg.c.instance_id)
        .where(
            seg.c.status == s.PENDING,
            inst.c.status == s.SEGMENTED,
            ~_pending(s.VERIFICATION, wi.c.segment_id == seg.c.id),
            *only(inst.c.image_id),
        )
    ).all()
    rows = [
        verification_slot(settings, r, r.segment_id, r.author_id)
        for r in unjudged
        for _ in range(max(1, settings.verifiers_per_segment - r.verdicts))
    ]
    report.opened[s.VERIFICATION] += journal.insert_many(wi, rows)

    # -- stage 5
    not_accepted = exists().where(
        inst.c.image_id == ic.c.image_id,
        inst.c.category_id == ic.c.category_id,
        inst.c.is_crowd.is_(False),
        inst.c.status != s.ACCEPTED,
    )
    has_instances = exists().where(
        inst.c.image_id == ic.c.image_id,
        inst.c.category_id == ic.c.category_id,
        inst.c.is_crowd.is_(False),
    )
    conditions = [
        ic.c.state == s.CONFIRMED,
        ic.c.exhaustive.is_(None),
        has_instances,
        ~not_accepted,
        ~_pending(
            s.EXHAUSTIVE, wi.c.image_id == ic.c.image_id, wi.c.category_id == ic.c.category_id
        ),
        *only(ic.c.image_id),
    ]
    if not verify_imported:
        conditions.append(ic.c.source != s.SOURCE_IMPORTED)
    due = conn.execute(select(ic.c.image_id, ic.c.category_id).where(and_(*conditions))).all()
    rows = [item_row(s.EXHAUSTIVE, i, category_id=c) for i, c in due]
    report.opened[s.EXHAUSTIVE] += journal.insert_many(wi, rows)

    # -- stage 6
    report.opened[s.NEGATIVES] += negatives.refill(journal, settings, ids)
    return report


def open_spotting(
    journal: Journal, settings: ProjectSettings, image_ids: list[int] | None = None
) -> int:
    """Stage-1 items for the images (of ``image_ids``) that have not finished spotting and
    have none pending; an image whose latest visits already reach ``spot_done_after``
    "nothing new" answers in a row finishes instead. Returns the items opened."""
    conn = journal.conn
    finished = exists().where(s.spotting_finished.c.image_id == s.images.c.id)
    unqueued = select(s.images.c.id).where(
        ~finished, ~_pending(s.SPOTTING, wi.c.image_id == s.images.c.id)
    )
    if image_ids is not None:
        unqueued = unqueued.where(s.images.c.id.in_(image_ids))
    waiting = list(conn.execute(unqueued).scalars())
    if not waiting:
        return 0
    # each waiting image's visits, newest first: the "nothing new" run and the last visitor
    visits: dict[int, list[tuple[bool, int]]] = {}
    visited = select(
        s.spot_visits.c.image_id, s.spot_visits.c.nothing_new, s.spot_visits.c.annotator_id
    )
    for image_id, nothing_new, annotator_id in conn.execute(
        visited.where(s.spot_visits.c.image_id.in_(unqueued)).order_by(
            s.spot_visits.c.image_id, s.spot_visits.c.id.desc()
        )
    ):
        visits.setdefault(image_id, []).append((bool(nothing_new), annotator_id))
    done_after = settings.spot_done_after
    rows, done = [], []
    for image_id in waiting:
        history = visits.get(image_id, [])
        in_row = 0
        for nothing_new, _ in history[:done_after]:
            if not nothing_new:
                break
            in_row += 1
        if history and in_row >= done_after:
            done.append({"image_id": image_id, "reason": "visits", "finished_at": now()})
            continue
        last_visitor = history[0][1] if history else None
        rows.append(item_row(s.SPOTTING, image_id, excluded_annotator=last_visitor))
    journal.insert_many(s.spotting_finished, done)
    return journal.insert_many(wi, rows)

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

from sqlalchemy import and_, exists, select
from sqlalchemy.engine import Connection

from .. import schema as s
from ..settings import ProjectSettings
from ..store import now
from . import negatives
from .common import PENDING_WORK, add_item
from .journal import Journal
from .segmentation import REDO_PRIORITY, add_verification_slot
from .spotting import nothing_new_in_row

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


def _pending(stage: int, *match: object) -> object:
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

    def only(column: object) -> list[object]:
        return [] if ids is None else [column.in_(ids)]  # type: ignore[attr-defined]

    finished = exists().where(s.spotting_finished.c.image_id == s.images.c.id)

    # -- images declared spotted: imported annotations, no visits
    if not spot_imported:
        imported = exists().where(
            ic.c.image_id == s.images.c.id, ic.c.source == s.SOURCE_IMPORTED
        ) | exists().where(inst.c.image_id == s.images.c.id, inst.c.source == s.SOURCE_IMPORTED)
        visited = exists().where(s.spot_visits.c.image_id == s.images.c.id)
        declared = conn.execute(
            select(s.images.c.id).where(imported, ~visited, ~finished, *only(s.images.c.id))
        ).scalars()
        rows = [{"image_id": i, "reason": "declared", "finished_at": now()} for i in declared]
        if rows:
            conn.execute(s.spotting_finished.insert(), rows)
        report.declared_spotted = len(rows)

    # -- stage 1
    waiting = conn.execute(
        select(s.images.c.id).where(
            ~finished, ~_pending(s.SPOTTING, wi.c.image_id == s.images.c.id), *only(s.images.c.id)
        )
    ).scalars()
    waiting = list(waiting)
    visited_ids = set(
        conn.execute(
            select(s.spot_visits.c.image_id).distinct().where(*only(s.spot_visits.c.image_id))
        ).scalars()
    )
    fresh = []
    for image_id in waiting:
        if image_id not in visited_ids:
            fresh.append(
                {
                    "stage": s.SPOTTING,
                    "image_id": image_id,
                    "status": s.OPEN,
                    "priority": 0.0,
                    "attempts": 0,
                    "created_at": now(),
                }
            )
            continue
        done_after = settings.spot_done_after
        if nothing_new_in_row(conn, image_id, done_after) >= done_after:
            journal.insert(
                s.spotting_finished, image_id=image_id, reason="visits", finished_at=now()
            )
            continue
        last_visitor = conn.execute(
            select(s.spot_visits.c.annotator_id)
            .where(s.spot_visits.c.image_id == image_id)
            .order_by(s.spot_visits.c.id.desc())
            .limit(1)
        ).scalar()
        add_item(journal, s.SPOTTING, image_id=image_id, excluded_annotator=last_visitor)
        report.opened[s.SPOTTING] += 1
    if fresh:
        conn.execute(wi.insert(), fresh)
        report.opened[s.SPOTTING] += len(fresh)

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
    for image_id, category_id in spotted:
        add_item(journal, s.MARKING, image_id=image_id, category_id=category_id)
    report.opened[s.MARKING] += len(spotted)

    # -- stage 3
    unsegmented = conn.execute(
        select(inst.c.id, inst.c.image_id, inst.c.category_id, inst.c.status).where(
            inst.c.status.in_((s.MARKED, s.REDO)),
            inst.c.is_crowd.is_(False),
            ~_pending(s.SEGMENTATION, wi.c.instance_id == inst.c.id),
            *only(inst.c.image_id),
        )
    ).all()
    for row in unsegmented:
        add_item(
            journal,
            s.SEGMENTATION,
            image_id=row.image_id,
            category_id=row.category_id,
            instance_id=row.id,
            priority=REDO_PRIORITY if row.status == s.REDO else 0.0,
        )
    report.opened[s.SEGMENTATION] += len(unsegmented)

    # -- stage 4
    seg = s.segments
    unjudged = conn.execute(
        select(
            seg.c.id.label("segment_id"),
            seg.c.annotator_id.label("author_id"),
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
    for row in unjudged:
        verdicts = conn.execute(
            select(s.verdicts.c.id).where(s.verdicts.c.segment_id == row.segment_id)
        ).all()
        for _ in range(max(1, settings.verifiers_per_segment - len(verdicts))):
            add_verification_slot(journal, settings, row, row.segment_id, row.author_id)
            report.opened[s.VERIFICATION] += 1

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
    for image_id, category_id in due:
        add_item(journal, s.EXHAUSTIVE, image_id=image_id, category_id=category_id)
    report.opened[s.EXHAUSTIVE] += len(due)

    # -- stage 6
    report.opened[s.NEGATIVES] += negatives.refill(journal, settings, ids)
    return report

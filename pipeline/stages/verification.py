"""Stage 4, segment verification: ``verifiers_per_segment`` work items per segment.

Each verifier accepts or rejects the segment (with a reason). An annotator judges a
segment at most once, never holds two of its items, and does not judge their own
segment unless ``allow_self_verification`` is set. The segment is decided as soon as
the outcome is certain:

- rejected once ``reject_votes_to_redo`` verifiers rejected it: the instance goes back
  to stage 3 (status ``redo``);
- accepted once so many accepted that the rejections still possible cannot reach
  ``reject_votes_to_redo`` (accepts >= k - r + 1): the instance is ``accepted``, and
  when it was the last of its (image, category) pair the pair enters stage 5.

Items of a decided segment that nobody answered are cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ..annotations import InstanceMark, Segment, instance_from_row, segment_from_row
from ..errors import ConflictError, NotFoundError
from ..store import schema as s
from ..store.database import now
from ..store.settings import ProjectSettings
from ..vocabulary import Category, category_from_row
from . import exhaustive
from .answers import VerifyAnswer
from .common import Answering, add_item, cancel, category_row, pending_items
from .segmentation import REDO_PRIORITY, add_verification_slot, instance_row
from .views import StageItem

STAGE = s.VERIFICATION
wi = s.work_items


@dataclass(frozen=True)
class VerificationItem(StageItem):
    category: Category
    instance: InstanceMark
    segment: Segment
    quality_bar: float  # the project's verify_min_iou, as guidance


_other = wi.alias("other")


def claim_filter(annotator_id: int) -> ColumnElement[bool]:
    """Segments this annotator has not judged and holds no other item of."""
    other = _other
    judged = exists().where(
        s.verdicts.c.segment_id == wi.c.segment_id, s.verdicts.c.annotator_id == annotator_id
    )
    holding = exists().where(
        and_(
            other.c.segment_id == wi.c.segment_id,
            other.c.status == s.LEASED,
            other.c.lease_owner == annotator_id,
        )
    )
    return ~judged & ~holding


def segment_row(conn: Connection, segment_id: int) -> Any:
    row = conn.execute(select(s.segments).where(s.segments.c.id == segment_id)).first()
    if row is None:
        raise NotFoundError(f"segment {segment_id} does not exist")
    return row


def build_view(
    conn: Connection, base: dict[str, Any], settings: ProjectSettings
) -> VerificationItem:
    item, image = base["work_item"], base["image"]
    instance = instance_row(conn, item.instance_id)
    segment = segment_row(conn, item.segment_id)
    return VerificationItem(
        **base,
        category=category_from_row(category_row(conn, instance.category_id)),
        instance=instance_from_row(instance),
        segment=segment_from_row(segment, image.height, image.width),
        quality_bar=settings.verify_min_iou,
    )


def apply(ctx: Answering, answer: VerifyAnswer) -> None:
    conn, settings, me = ctx.conn, ctx.settings, ctx.annotator.id
    segment = segment_row(conn, ctx.item.require("segment_id"))
    if segment.status != s.PENDING:
        raise ConflictError(f"segment {segment.id} was decided already ({segment.status})")
    if segment.annotator_id == me and not settings.allow_self_verification:
        raise ConflictError("an annotator does not verify their own segment in this project")
    judged = conn.execute(
        select(s.verdicts.c.id).where(
            s.verdicts.c.segment_id == segment.id, s.verdicts.c.annotator_id == me
        )
    ).first()
    if judged is not None:
        raise ConflictError(f"you have judged segment {segment.id} already")
    reason = (answer.reason or "").strip() or None
    ctx.journal.insert(
        s.verdicts,
        segment_id=segment.id,
        annotator_id=me,
        accept=bool(answer.accept),
        reason=reason,
        created_at=now(),
    )
    votes: dict[bool, int] = dict(
        conn.execute(
            select(s.verdicts.c.accept, func.count())
            .where(s.verdicts.c.segment_id == segment.id)
            .group_by(s.verdicts.c.accept)
        ).all()
    )
    accepts, rejects = int(votes.get(True, 0)), int(votes.get(False, 0))
    k, r = settings.verifiers_per_segment, settings.reject_votes_to_redo
    instance = instance_row(conn, segment.instance_id)
    decision = None
    if rejects >= r:
        decision = s.SEGMENT_REJECTED
        ctx.journal.update(s.segments, segment.id, status=s.SEGMENT_REJECTED)
        ctx.journal.update(s.instances, instance.id, status=s.REDO)
        cancel(ctx.journal, pending_items(conn, STAGE, segment_id=segment.id))
        add_item(
            ctx.journal,
            s.SEGMENTATION,
            image_id=instance.image_id,
            category_id=instance.category_id,
            instance_id=instance.id,
            priority=REDO_PRIORITY,
        )
        ctx.notes.append("the segment was rejected: the instance goes back to segmentation")
    elif accepts >= k - r + 1:
        decision = s.SEGMENT_ACCEPTED
        ctx.journal.update(s.segments, segment.id, status=s.SEGMENT_ACCEPTED)
        ctx.journal.update(s.instances, instance.id, status=s.ACCEPTED)
        cancel(ctx.journal, pending_items(conn, STAGE, segment_id=segment.id))
        ctx.notes.append("the segment was accepted")
        if exhaustive.maybe_open(ctx.journal, instance.image_id, instance.category_id):
            ctx.notes.append("all instances of the category are accepted: stage 5 is next")
    elif not pending_items(conn, STAGE, segment_id=segment.id):
        # More verdicts are needed than items remain (verifiers_per_segment was raised).
        add_verification_slot(ctx.journal, settings, instance, segment.id, segment.annotator_id)
    ctx.summary.update(
        accept=bool(answer.accept), reason=reason, segment_id=segment.id, decision=decision
    )

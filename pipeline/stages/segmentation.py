"""Stage 3, instance segmentation: one work item per marked instance (and per redo).

The annotator draws the instance's mask; each attempt is a new segment version
(status ``pending``) and opens ``verifiers_per_segment`` stage-4 items. The author
is excluded from them unless ``allow_self_verification`` is set. An instance whose
segment was rejected comes back here (status ``redo``), ahead of first attempts, and
the view shows the earlier versions with the verifiers' reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .. import schema as s
from ..annotations import (
    InstanceMark,
    Segment,
    instance_from_row,
    next_version,
    segment_from_row,
    segment_values,
)
from ..errors import ConflictError, LongtailError, NotFoundError
from ..settings import ProjectSettings
from ..store import now
from ..vocabulary import Category, category_from_row
from .answers import SegmentAnswer
from .common import Answering, category_row, item_row
from .journal import Journal
from .views import StageItem

STAGE = s.SEGMENTATION
REDO_PRIORITY = -1.0  # a redo goes ahead of first attempts: it holds up its pair


@dataclass(frozen=True)
class Verdict:
    annotator_id: int
    accept: bool
    reason: str | None


@dataclass(frozen=True)
class SegmentAttempt:
    """An earlier version of the instance's mask and what the verifiers said."""

    segment: Segment
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class SegmentationItem(StageItem):
    category: Category
    instance: InstanceMark  # the point (and box) to segment
    attempts: tuple[SegmentAttempt, ...]  # earlier versions, oldest first
    others: tuple[InstanceMark, ...]  # the other marks of the category in the image


def instance_row(conn: Connection, instance_id: int) -> Any:
    row = conn.execute(select(s.instances).where(s.instances.c.id == instance_id)).first()
    if row is None:
        raise NotFoundError(f"instance {instance_id} does not exist")
    return row


def verdicts_of(conn: Connection, segment_ids: list[int]) -> dict[int, list[Verdict]]:
    found: dict[int, list[Verdict]] = {i: [] for i in segment_ids}
    if segment_ids:
        rows = conn.execute(
            select(s.verdicts)
            .where(s.verdicts.c.segment_id.in_(segment_ids))
            .order_by(s.verdicts.c.id)
        )
        for r in rows:
            found[r.segment_id].append(Verdict(r.annotator_id, bool(r.accept), r.reason))
    return found


def build_view(
    conn: Connection, base: dict[str, Any], settings: ProjectSettings
) -> SegmentationItem:
    del settings
    item, image = base["work_item"], base["image"]
    instance = instance_row(conn, item.instance_id)
    rows = conn.execute(
        select(s.segments)
        .where(s.segments.c.instance_id == instance.id)
        .order_by(s.segments.c.version)
    ).all()
    verdicts = verdicts_of(conn, [r.id for r in rows])
    attempts = tuple(
        SegmentAttempt(segment_from_row(r, image.height, image.width), tuple(verdicts[r.id]))
        for r in rows
    )
    others = conn.execute(
        select(s.instances)
        .where(
            s.instances.c.image_id == instance.image_id,
            s.instances.c.category_id == instance.category_id,
            s.instances.c.id != instance.id,
        )
        .order_by(s.instances.c.id)
    ).all()
    return SegmentationItem(
        **base,
        category=category_from_row(category_row(conn, instance.category_id)),
        instance=instance_from_row(instance),
        attempts=attempts,
        others=tuple(instance_from_row(r) for r in others),
    )


def apply(ctx: Answering, answer: SegmentAnswer) -> None:
    instance = instance_row(ctx.conn, ctx.item.instance_id)
    if instance.status not in (s.MARKED, s.REDO):
        raise ConflictError(f"instance {instance.id} does not wait for a mask ({instance.status})")
    mask = answer.mask
    if (mask.height, mask.width) != (ctx.image.height, ctx.image.width):
        raise LongtailError(
            f"the mask is {mask.width}x{mask.height} but the image is "
            f"{ctx.image.width}x{ctx.image.height}"
        )
    mask.check()  # an RLE from a tool or a model must cover the image exactly
    if mask.area == 0:
        raise LongtailError("the mask is empty; draw the instance, or skip the item")
    version = next_version(ctx.conn, instance.id)
    segment_id = ctx.journal.insert(
        s.segments,
        instance_id=instance.id,
        version=version,
        annotator_id=ctx.annotator.id,
        status=s.PENDING,
        tool=answer.tool,
        source=s.SOURCE_PIPELINE,
        created_at=now(),
        **segment_values(mask),
    )
    ctx.journal.update(s.instances, instance.id, status=s.SEGMENTED)
    open_verification(ctx.journal, ctx.settings, instance, segment_id, ctx.annotator.id)
    ctx.summary.update(segment_id=segment_id, version=version, tool=answer.tool, area=mask.area)


def open_verification(
    journal: Journal,
    settings: ProjectSettings,
    instance: Any,
    segment_id: int,
    author_id: int | None,
) -> None:
    """Open the stage-4 items of a new segment (its author excluded unless allowed)."""
    for _ in range(settings.verifiers_per_segment):
        add_verification_slot(journal, settings, instance, segment_id, author_id)


def add_verification_slot(
    journal: Journal,
    settings: ProjectSettings,
    instance: Any,
    segment_id: int,
    author_id: int | None,
) -> int:
    return journal.insert(
        s.work_items, **verification_slot(settings, instance, segment_id, author_id)
    )


def verification_slot(
    settings: ProjectSettings, instance: Any, segment_id: int, author_id: int | None
) -> dict[str, Any]:
    """The columns of one stage-4 item (its author excluded unless allowed)."""
    return item_row(
        s.VERIFICATION,
        instance.image_id,
        category_id=instance.category_id,
        instance_id=instance.id,
        segment_id=segment_id,
        excluded_annotator=None if settings.allow_self_verification else author_id,
    )

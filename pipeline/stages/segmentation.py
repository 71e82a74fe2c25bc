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

from ..annotations import (
    InstanceMark,
    Segment,
    instance_from_row,
    next_version,
    segment_from_row,
    segment_values,
)
from ..errors import ConflictError, LongtailError, NotFoundError
from ..masks.geometry import Mask
from ..store import schema as s
from ..store.database import now
from ..store.settings import ProjectSettings
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
    instance = instance_row(ctx.conn, ctx.item.require("instance_id"))
    if instance.status not in (s.MARKED, s.REDO):
        raise ConflictError(f"instance {instance.id} does not wait for a mask ({instance.status})")
    written = new_segment_version(
        ctx.journal,
        ctx.settings,
        instance,
        ctx.image,
        answer.mask,
        author_id=ctx.annotator.id,
        tool=answer.tool,
        empty_advice="; draw the instance, or skip the item",
    )
    ctx.summary.update(
        segment_id=written.segment_id,
        version=written.version,
        tool=answer.tool,
        area=answer.mask.area,
    )


@dataclass(frozen=True)
class SegmentVersion:
    """What :func:`new_segment_version` wrote."""

    segment_id: int
    version: int
    verification_items: tuple[int, ...]  # the stage-4 items opened for it


def new_segment_version(
    journal: Journal,
    settings: ProjectSettings,
    instance: Any,
    image: Any,
    mask: Mask,
    *,
    author_id: int | None,
    tool: str | None,
    where: str = "",
    empty_advice: str = "",
) -> SegmentVersion:
    """The one writer of "a new version of an instance's mask" (stage 3 and corrections):
    the mask must have the image's size, be well formed and cover something (errors start
    with ``where``); it is stored ``pending`` as the instance's next version, the instance
    becomes ``segmented`` and its stage-4 items open (author excluded unless allowed).
    Superseding older versions is the caller's (a correction replaces an accepted one)."""
    if (mask.height, mask.width) != (image.height, image.width):
        raise LongtailError(
            f"{where}the mask is {mask.width}x{mask.height} but image {image.id} is "
            f"{image.width}x{image.height}"
        )
    mask.check()  # an RLE from a tool or a model must cover the image exactly
    if mask.area == 0:
        raise LongtailError(f"{where}the mask is empty{empty_advice}")
    version = next_version(journal.conn, instance.id)
    segment_id = journal.insert(
        s.segments,
        instance_id=instance.id,
        version=version,
        annotator_id=author_id,
        status=s.PENDING,
        tool=tool,
        source=s.SOURCE_PIPELINE,
        created_at=now(),
        **segment_values(mask),
    )
    journal.update(s.instances, instance.id, status=s.SEGMENTED)
    before = set(journal.created(s.work_items))
    open_verification(journal, settings, instance, segment_id, author_id)
    opened = tuple(i for i in journal.created(s.work_items) if i not in before)
    return SegmentVersion(segment_id, version, opened)


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

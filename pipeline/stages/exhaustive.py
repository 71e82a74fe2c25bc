"""Stage 5, exhaustive annotations verification: one work item per (image, category).

A confirmed pair enters the stage once every one of its instances (crowd regions
aside) is accepted. The annotator sees all its accepted masks and answers:

- "all instances segmented": the pair is ``exhaustive`` (True);
- "some are missing" with marks on the missing ones: they enter stage 3, and once
  they are accepted the pair comes back here for another round;
- "some are missing" without marks: the pair is ``not exhaustive`` (False), final.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..annotations import Annotation, load_image_annotations
from ..errors import ConflictError, LongtailError
from ..store import schema as s
from ..store.database import now
from ..store.settings import ProjectSettings
from ..vocabulary import Category, category_from_row
from .answers import ExhaustiveAnswer
from .common import (
    Answering,
    add_item,
    all_instances_accepted,
    category_row,
    has_pending,
    insert_mark,
    pair_row,
    require_state,
    set_pair,
)
from .journal import Journal
from .views import StageItem

STAGE = s.EXHAUSTIVE


@dataclass(frozen=True)
class ExhaustiveItem(StageItem):
    category: Category
    annotations: tuple[Annotation, ...]  # every instance of the category with its mask
    round: int  # 1, then 2 after a "some are missing" answer that marked instances...


def build_view(conn: Connection, base: dict[str, Any], settings: ProjectSettings) -> ExhaustiveItem:
    del settings
    item = base["work_item"]
    annotations = tuple(
        a
        for a in load_image_annotations(conn, item.image_id)
        if a.instance.category_id == item.category_id
    )
    earlier = conn.execute(
        select(func.count()).where(
            s.exhaustive_checks.c.image_id == item.image_id,
            s.exhaustive_checks.c.category_id == item.category_id,
        )
    ).scalar_one()
    return ExhaustiveItem(
        **base,
        category=category_from_row(category_row(conn, item.category_id)),
        annotations=annotations,
        round=int(earlier) + 1,
    )


def maybe_open(journal: Journal, image_id: int, category_id: int) -> bool:
    """Open the pair's stage-5 item if it is due (see the module docstring)."""
    conn = journal.conn
    pair = pair_row(conn, image_id, category_id)
    if pair is None or pair.state != s.CONFIRMED or pair.exhaustive is not None:
        return False
    if not all_instances_accepted(conn, image_id, category_id):
        return False
    if has_pending(conn, STAGE, image_id=image_id, category_id=category_id):
        return False
    add_item(journal, STAGE, image_id=image_id, category_id=category_id)
    return True


def apply(ctx: Answering, answer: ExhaustiveAnswer) -> None:
    image_id, category_id = ctx.image.id, ctx.item.require("category_id")
    pair = pair_row(ctx.conn, image_id, category_id)
    require_state(pair, (s.CONFIRMED,), "this category is not a confirmed one of the image")
    if pair.exhaustive is not None:
        raise ConflictError("this pair's exhaustiveness was answered already")
    if not all_instances_accepted(ctx.conn, image_id, category_id):
        raise ConflictError("some instances of this category are still being segmented")
    if answer.all_segmented and answer.missing_marks:
        raise LongtailError('"all instances segmented" cannot come with missing instances')
    ctx.journal.insert(
        s.exhaustive_checks,
        image_id=image_id,
        category_id=category_id,
        annotator_id=ctx.annotator.id,
        all_segmented=bool(answer.all_segmented),
        created_at=now(),
    )
    if answer.all_segmented:
        set_pair(ctx.journal, image_id, category_id, exhaustive=True)
    elif answer.missing_marks:
        for mark in answer.missing_marks:
            insert_mark(ctx, category_id, mark.x, mark.y, mark.box)
        ctx.notes.append(f"{len(answer.missing_marks)} missing instances go to segmentation")
    else:
        set_pair(ctx.journal, image_id, category_id, exhaustive=False)
        ctx.notes.append("the pair is marked not exhaustive")
    ctx.summary.update(all_segmented=bool(answer.all_segmented), missing=len(answer.missing_marks))

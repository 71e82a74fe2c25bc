"""Stage 2, exhaustive instance marking: one work item per (image, spotted category).

The annotator first confirms that the category fits the spotted object (its
definition is shown). If it does not, the pair becomes ``rejected`` and is no
positive. If it does, they mark every instance with a point and optionally a box;
the pair becomes ``confirmed`` and each mark gets a stage-3 item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..annotations import InstanceMark, instance_from_row
from ..errors import LongtailError
from ..store import schema as s
from ..store.settings import ProjectSettings
from ..vocabulary import Category, category_from_row
from .answers import MarkAnswer
from .common import Answering, category_row, insert_mark, pair_row, require_state, set_pair
from .views import StageItem

STAGE = s.MARKING


@dataclass(frozen=True)
class MarkingItem(StageItem):
    category: Category  # name, synonyms and the definition to confirm against
    spot: tuple[float, float] | None  # where it was spotted (None: said present in stage 6)
    marks: tuple[InstanceMark, ...]  # instances of the pair that exist already (imported)


def build_view(conn: Connection, base: dict[str, Any], settings: ProjectSettings) -> MarkingItem:
    del settings
    item = base["work_item"]
    category = category_from_row(category_row(conn, item.category_id))
    spot = conn.execute(
        select(s.spots.c.x, s.spots.c.y).where(
            s.spots.c.image_id == item.image_id, s.spots.c.category_id == item.category_id
        )
    ).first()
    marks = conn.execute(
        select(s.instances)
        .where(
            s.instances.c.image_id == item.image_id,
            s.instances.c.category_id == item.category_id,
        )
        .order_by(s.instances.c.id)
    ).all()
    return MarkingItem(
        **base,
        category=category,
        spot=(spot.x, spot.y) if spot is not None and spot.x is not None else None,
        marks=tuple(instance_from_row(r) for r in marks),
    )


def apply(ctx: Answering, answer: MarkAnswer) -> None:
    image_id, category_id = ctx.image.id, ctx.item.require("category_id")
    require_state(
        pair_row(ctx.conn, image_id, category_id),
        (s.SPOTTED,),
        "this category no longer waits for marking",
    )
    if not answer.category_fits:
        if answer.marks:
            raise LongtailError("a category that does not fit cannot have instance marks")
        set_pair(ctx.journal, image_id, category_id, state=s.REJECTED, exhaustive=None)
        ctx.notes.append("the category was rejected for this image")
    else:
        if not answer.marks:
            raise LongtailError("mark every instance of the category (at least the spotted one)")
        for mark in answer.marks:
            insert_mark(ctx, category_id, mark.x, mark.y, mark.box)
        set_pair(ctx.journal, image_id, category_id, state=s.CONFIRMED)
        ctx.notes.append(f"{len(answer.marks)} instances go to segmentation")
    ctx.summary.update(category_fits=bool(answer.category_fits), marks=len(answer.marks))

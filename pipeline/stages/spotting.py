"""Stage 1, object spotting: one work item per image visit.

An annotator sees every category already known in the image (spotted, confirmed, or
imported) and marks one instance of each new category they see, or says "nothing
new". Each spotted category becomes a ``spotted`` pair with a stage-2 item at once.
The image leaves the stage after ``spot_done_after`` "nothing new" answers in a row
(a visit that spots something resets the count: the next visitor sees more). The
next visit of an image prefers another annotator (the item excludes the last visitor,
but a visitor with no other spotting work left may take it: a team gets fresh eyes,
a single annotator is not blocked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import LongtailError
from ..store import schema as s
from ..store.database import now
from ..store.settings import ProjectSettings
from . import negatives
from .answers import SpotAnswer
from .common import Answering, category_row, check_point, set_pair
from .journal import Journal
from .views import StageItem

STAGE = s.SPOTTING
pl = s.pair_labels  # an imported exhaustive image's implicit negatives are excluded too


@dataclass(frozen=True)
class KnownCategory:
    """A category already known to be in the image, with a point on one instance."""

    category_id: int
    name: str
    state: str  # spotted or confirmed
    point: tuple[float, float] | None
    source: str  # pipeline or imported


@dataclass(frozen=True)
class SpottingItem(StageItem):
    known: tuple[KnownCategory, ...]
    # Categories that may not be spotted again here: rejected in stage 2 or verified absent.
    excluded_category_ids: frozenset[int]
    visits: int
    nothing_new_in_row: int
    done_after: int


def known_categories(conn: Connection, image_id: int) -> tuple[list[KnownCategory], set[int]]:
    """The image's present categories with a point each, and the excluded ones."""
    pairs = conn.execute(
        select(pl.c.category_id, pl.c.state, pl.c.source, s.categories.c.name)
        .join(s.categories, s.categories.c.id == pl.c.category_id)
        .where(pl.c.image_id == image_id)
        .order_by(pl.c.updated_at, pl.c.category_id)
    ).all()
    points: dict[int, tuple[float, float]] = {}
    for row in conn.execute(
        select(s.spots.c.category_id, s.spots.c.x, s.spots.c.y).where(
            s.spots.c.image_id == image_id, s.spots.c.x.is_not(None)
        )
    ):
        points[row.category_id] = (row.x, row.y)
    for mark in conn.execute(
        select(s.instances).where(s.instances.c.image_id == image_id).order_by(s.instances.c.id)
    ):
        if mark.category_id in points:
            continue
        if mark.x is not None:
            points[mark.category_id] = (mark.x, mark.y)
        elif mark.box_w is not None:
            points[mark.category_id] = (mark.box_x + mark.box_w / 2, mark.box_y + mark.box_h / 2)
    known: list[KnownCategory] = []
    excluded: set[int] = set()
    for pair in pairs:
        if pair.state in (s.SPOTTED, s.CONFIRMED):
            known.append(
                KnownCategory(
                    pair.category_id,
                    pair.name,
                    pair.state,
                    points.get(pair.category_id),
                    pair.source,
                )
            )
        else:
            excluded.add(pair.category_id)
    return known, excluded


def nothing_new_in_row(conn: Connection, image_id: int, limit: int) -> int:
    """How many of the image's latest visits (up to ``limit``) said "nothing new" in a row."""
    answers = conn.execute(
        select(s.spot_visits.c.nothing_new)
        .where(s.spot_visits.c.image_id == image_id)
        .order_by(s.spot_visits.c.id.desc())
        .limit(limit)
    ).scalars()
    count = 0
    for nothing_new in answers:
        if not nothing_new:
            break
        count += 1
    return count


def build_view(conn: Connection, base: dict[str, Any], settings: ProjectSettings) -> SpottingItem:
    image_id = base["image"].id
    known, excluded = known_categories(conn, image_id)
    visits = conn.execute(
        select(s.spot_visits.c.id).where(s.spot_visits.c.image_id == image_id)
    ).all()
    return SpottingItem(
        **base,
        known=tuple(known),
        excluded_category_ids=frozenset(excluded),
        visits=len(visits),
        nothing_new_in_row=nothing_new_in_row(conn, image_id, settings.spot_done_after),
        done_after=settings.spot_done_after,
    )


def apply(ctx: Answering, answer: SpotAnswer) -> None:
    conn, image = ctx.conn, ctx.image
    if answer.spots and answer.nothing_new:
        raise LongtailError("an answer cannot both spot categories and say nothing new")
    if not answer.spots and not answer.nothing_new:
        raise LongtailError('spot at least one new category, or answer "nothing new"')
    visit_id = ctx.journal.insert(
        s.spot_visits,
        image_id=image.id,
        annotator_id=ctx.annotator.id,
        nothing_new=not answer.spots,
        created_at=now(),
    )
    known, excluded = known_categories(conn, image.id)
    taken = {k.category_id for k in known} | excluded
    for spot in answer.spots:
        category = category_row(conn, spot.category_id)
        if spot.category_id in taken:
            raise LongtailError(
                f"category {category.name!r} is already known in this image; spot new ones only"
            )
        check_point(image, spot.x, spot.y, "spot")
        taken.add(spot.category_id)
        ctx.journal.insert(
            s.spots,
            image_id=image.id,
            category_id=spot.category_id,
            annotator_id=ctx.annotator.id,
            visit_id=visit_id,
            x=float(spot.x),
            y=float(spot.y),
            created_at=now(),
        )
        set_pair(ctx.journal, image.id, spot.category_id, state=s.SPOTTED)
        ctx.add_item(s.MARKING, category_id=spot.category_id)
    ctx.summary.update(nothing_new=not answer.spots, spots=[sp.category_id for sp in answer.spots])
    done_after = ctx.settings.spot_done_after
    if not answer.spots and nothing_new_in_row(conn, image.id, done_after) >= done_after:
        sampled = finish(ctx.journal, ctx.settings, image.id, "visits")
        ctx.notes.append(f"the image finished spotting; {sampled} negative candidates sampled")
        ctx.summary["finished"] = True
    else:
        ctx.add_item(STAGE, excluded_annotator=ctx.annotator.id)


def finish(journal: Journal, settings: ProjectSettings, image_id: int, reason: str) -> int:
    """The image leaves stage 1; its first round of negative candidates is sampled."""
    journal.insert(s.spotting_finished, image_id=image_id, reason=reason, finished_at=now())
    return negatives.sample_round(journal, settings, [image_id])

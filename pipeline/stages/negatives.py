"""Stage 6, negative labels: is a candidate category absent from the image?

Candidates are sampled per image, in rounds of ``negative_candidates_per_image``.
The first round comes when the image finishes spotting. Further rounds (:func:`refill`)
come when the stage-6 queue runs empty while categories still lack negatives, or from
:func:`pipeline.stages.seeding.seed`, and only once no image waits for spotting: until
then a further round would pile candidates onto the few images that finished first,
while LVIS spreads each category's negatives over the whole set. (Images that never
had a round, such as imported ones declared spotted, get theirs at any time.)
A category is a candidate for an image when

- the image has no (image, category) pair yet (not spotted, rejected or checked, nor
  a negative of an import exhaustive over the category), and
- the category still needs negatives: its verified negatives plus its pending
  candidates are fewer than ``negatives_per_category``.

Rarer categories go first: rarity is the number of images where the category is
known present so far (pairs spotted or confirmed), fewest first; ties are broken by
a fixed pseudo-random order per image, so that images sample different categories.
The work item's priority is that count, so stage 6 is also answered rarest first.

"Absent" makes a verified negative (state ``negative``); "present" turns the category
into a spotted one (a spot without a point) that enters stage 2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection

from ..errors import ConflictError
from ..store import schema as s
from ..store.database import now
from ..store.settings import ProjectSettings
from ..vocabulary import Category, category_from_row
from .answers import NegativeAnswer
from .common import (
    PENDING_WORK,
    Answering,
    category_row,
    item_row,
    pair_row,
    set_pair,
)
from .journal import Journal
from .views import StageItem

STAGE = s.NEGATIVES
ic = s.image_categories
pl = s.pair_labels  # with the implicit negatives of imported exhaustive images
implicit = s.implicit_negatives
wi = s.work_items


@dataclass(frozen=True)
class NegativeItem(StageItem):
    category: Category


def build_view(conn: Connection, base: dict[str, Any], settings: ProjectSettings) -> NegativeItem:
    del settings
    category = category_from_row(category_row(conn, base["work_item"].category_id))
    return NegativeItem(**base, category=category)


def apply(ctx: Answering, answer: NegativeAnswer) -> None:
    image_id, category_id = ctx.image.id, ctx.item.require("category_id")
    pair = pair_row(ctx.conn, image_id, category_id)
    if pair is not None:
        raise ConflictError(f"the category is already known in this image ({pair.state})")
    ctx.journal.insert(
        s.negative_checks,
        image_id=image_id,
        category_id=category_id,
        annotator_id=ctx.annotator.id,
        present=bool(answer.present),
        created_at=now(),
    )
    if answer.present:
        ctx.journal.insert(
            s.spots,
            image_id=image_id,
            category_id=category_id,
            annotator_id=ctx.annotator.id,
            created_at=now(),
        )
        set_pair(ctx.journal, image_id, category_id, state=s.SPOTTED)
        ctx.add_item(s.MARKING, category_id=category_id)
        ctx.notes.append("the category is present: it goes to instance marking")
    else:
        set_pair(ctx.journal, image_id, category_id, state=s.NEGATIVE)
    ctx.summary["present"] = bool(answer.present)


# ---------------------------------------------------------------- sampling


def _mix(a: int, b: int = 0) -> int:
    """A fixed pseudo-random 32-bit number from two integers (no global random state)."""
    x = (a * 0x9E3779B1 + b * 0x85EBCA77 + 0x27D4EB2F) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x


class CandidateSampler:
    """Category counts loaded once, kept current while sampling many images."""

    def __init__(self, conn: Connection, settings: ProjectSettings) -> None:
        self.conn = conn
        self.quota = settings.negatives_per_category
        self.per_image = settings.negative_candidates_per_image
        category_ids = conn.execute(select(s.categories.c.id).order_by(s.categories.c.id))
        negatives = self._count_pairs(ic, (s.NEGATIVE,))  # the stored ones; implicit below
        present = self._count_pairs(ic, (s.SPOTTED, s.CONFIRMED))
        pending: dict[int, int] = dict(
            conn.execute(
                select(wi.c.category_id, func.count())
                .where(wi.c.stage == STAGE, wi.c.status.in_(PENDING_WORK))
                .group_by(wi.c.category_id)
            ).all()
        )
        self.present = present
        self.need: dict[int, int] = {}
        buckets: dict[int, list[int]] = defaultdict(list)
        for (cid,) in category_ids:
            need = self.quota - negatives.get(cid, 0) - pending.get(cid, 0)
            if need > 0:
                need -= self._implicit_negatives(cid, need)
            if need > 0:
                self.need[cid] = need
                buckets[present.get(cid, 0)].append(cid)
        # Rarest first: buckets of equal known-present counts, in ascending order.
        self.buckets = [buckets[k] for k in sorted(buckets)]

    def _count_pairs(self, pairs: Any, states: tuple[str, ...]) -> dict[int, int]:
        return dict(
            self.conn.execute(
                select(pairs.c.category_id, func.count())
                .where(pairs.c.state.in_(states))
                .group_by(pairs.c.category_id)
            ).all()
        )

    def _implicit_negatives(self, category_id: int, up_to: int) -> int:
        """The category's implicit negatives (imported exhaustive images), counted up to
        ``up_to``: only whether the quota is reached matters here, and a COCO import
        has thousands per category (counting them all: 2 s at 50k images)."""
        some = (
            select(implicit.c.image_id)
            .where(implicit.c.category_id == category_id)
            .limit(up_to)
            .subquery()
        )
        return int(self.conn.execute(select(func.count()).select_from(some)).scalar_one())

    def taken(self, image_id: int) -> set[int]:
        """Categories the image already has a pair or a pending candidate for."""
        pairs = self.conn.execute(select(pl.c.category_id).where(pl.c.image_id == image_id))
        items = self.conn.execute(
            select(wi.c.category_id).where(
                wi.c.image_id == image_id, wi.c.stage == STAGE, wi.c.status.in_(PENDING_WORK)
            )
        )
        return set(pairs.scalars()) | set(items.scalars())

    def sample(self, image_id: int) -> list[tuple[int, float]]:
        """Up to ``per_image`` candidates for the image: (category id, priority)."""
        if self.per_image <= 0 or not self.need:
            return []
        taken = self.taken(image_id)
        chosen: list[tuple[int, float]] = []
        for bucket in self.buckets:
            if not bucket:
                continue
            start = _mix(image_id, len(bucket)) % len(bucket)
            for offset in range(len(bucket)):
                cid = bucket[(start + offset) % len(bucket)]
                if self.need.get(cid, 0) <= 0 or cid in taken:
                    continue
                chosen.append((cid, float(self.present.get(cid, 0))))
                if len(chosen) == self.per_image:
                    break
            if len(chosen) == self.per_image:
                break
        for cid, _ in chosen:
            self.need[cid] -= 1
            if self.need[cid] == 0:
                del self.need[cid]
                for bucket in self.buckets:
                    if cid in bucket:
                        bucket.remove(cid)
                        break
        return chosen


def sample_round(journal: Journal, settings: ProjectSettings, image_ids: Iterable[int]) -> int:
    """One round of candidates for each image; returns how many work items were opened."""
    image_ids = list(image_ids)
    if not image_ids or settings.negatives_per_category <= 0:
        return 0
    sampler = CandidateSampler(journal.conn, settings)
    rows = []
    for image_id in image_ids:
        for category_id, priority in sampler.sample(image_id):
            rows.append(item_row(STAGE, image_id, category_id=category_id, priority=priority))
        if not sampler.need:
            break
    return journal.insert_many(wi, rows)


def refill(
    journal: Journal, settings: ProjectSettings, image_ids: Iterable[int] | None = None
) -> int:
    """A further round for every image (of ``image_ids``) that finished spotting and has
    no pending candidate (see the module docstring); returns how many items were opened."""
    conn = journal.conn
    if settings.negatives_per_category <= 0 or settings.negative_candidates_per_image <= 0:
        return 0
    finished = s.spotting_finished.c.image_id
    no_pending = ~exists().where(
        wi.c.image_id == finished, wi.c.stage == STAGE, wi.c.status.in_(PENDING_WORK)
    )
    query = select(finished).where(no_pending)
    if image_ids is not None:
        query = query.where(finished.in_(sorted(set(image_ids))))
    spotting_open = conn.execute(
        select(exists().where(wi.c.stage == s.SPOTTING, wi.c.status.in_(PENDING_WORK)))
    ).scalar()
    if spotting_open:
        query = query.where(~exists().where(wi.c.image_id == finished, wi.c.stage == STAGE))
    return sample_round(journal, settings, conn.execute(query.order_by(finished)).scalars())

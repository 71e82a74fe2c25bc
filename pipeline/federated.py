"""Federated labels: each image's positives, verified negatives and not-exhaustive set.

Derived from the answers (docs/pipeline.md, "Federated labels"), never stored twice:

- positive (P_c): the pair is ``confirmed`` and has at least one accepted instance
  (crowd regions never count) with an accepted segment;
- negative (N_c): the pair is ``negative`` (verified absent in stage 6, or imported so):
  a row of image_categories, or an implicit negative of an image an import made
  exhaustive over its categories; both are read through the ``pair_labels`` view
  (pipeline/store/schema.py), the one definition of a negative;
- not exhaustive: a positive pair whose exhaustiveness was answered "some are missing"
  (``exhaustive`` False);
- every other pair (spotted, confirmed but not yet accepted, rejected) and every
  pair without a row is unverified: neither positive nor negative.

:func:`pair_state` is the one place that turns these facts into a :class:`PairState`;
the LVIS export, the training snapshot (and through it the loss and the held-out
evaluation) all read :func:`federated_labels`, which calls it. A *pending* pair — one
with an instance that is not accepted yet — is never a negative and always counts as
not exhaustive: the missing instance is there, only not finished.

:func:`check_invariants` checks that the stored states allow this reading: negatives
and positives disjoint, not-exhaustive a subset of positives, accepted instances only
on confirmed pairs with exactly one accepted segment, and no work item twice in a queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from .store import schema as s
from .store.columns import integer_columns
from .store.database import Project

ic = s.image_categories  # the explicit pairs: every state but the implicit negatives
inst = s.instances
seg = s.segments
wi = s.work_items


class PairState(str, Enum):
    """What one (image, category) pair says; see :func:`pair_state`."""

    EXHAUSTIVE = "exhaustive"  # positive, answered "every instance is marked"
    POSITIVE = "positive"  # positive, exhaustiveness not asked (read as exhaustive, as LVIS)
    NOT_EXHAUSTIVE = "not exhaustive"  # answered (or imported) "some are missing"
    PENDING = "pending"  # an instance of it is not accepted yet: counts as not exhaustive
    NEGATIVE = "verified negative"  # verified absent
    UNVERIFIED = "unverified"  # spotted, confirmed without an instance, rejected, no row

    @property
    def is_positive(self) -> bool:
        return self in (PairState.EXHAUSTIVE, PairState.POSITIVE)

    @property
    def counts_not_exhaustive(self) -> bool:
        return self in (PairState.NOT_EXHAUSTIVE, PairState.PENDING)


def pair_state(
    state: str | None, exhaustive: bool | None, accepted: bool, pending: bool
) -> PairState:
    """The one rule: a pair's stored ``state`` and ``exhaustive`` flag, whether it has an
    accepted non-crowd instance with an accepted segment, and whether it has a non-crowd
    instance that is not accepted yet (``pending``)."""
    if state == s.NEGATIVE:
        return PairState.NEGATIVE
    if state not in (s.SPOTTED, s.CONFIRMED):
        return PairState.UNVERIFIED
    if pending:
        return PairState.PENDING
    if exhaustive is False:
        return PairState.NOT_EXHAUSTIVE
    if state == s.CONFIRMED and accepted:
        return PairState.EXHAUSTIVE if exhaustive else PairState.POSITIVE
    return PairState.UNVERIFIED


@dataclass(frozen=True)
class FederatedLabels:
    """The federated label sets of one image (category ids).

    ``not_exhaustive_category_ids`` holds the pairs answered "some are missing" and the
    pending ones; ``pending_category_ids`` the pending ones alone. A pending pair with an
    accepted instance is also in ``positive_category_ids`` (its accepted masks train)."""

    image_id: int
    positive_category_ids: frozenset[int]
    negative_category_ids: frozenset[int]
    not_exhaustive_category_ids: frozenset[int]
    pending_category_ids: frozenset[int] = field(default_factory=frozenset)

    def as_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "positive_category_ids": sorted(self.positive_category_ids),
            "neg_category_ids": sorted(self.negative_category_ids),
            "not_exhaustive_category_ids": sorted(self.not_exhaustive_category_ids),
        }


@dataclass(frozen=True)
class Violation:
    """One place where the stored states break an invariant."""

    rule: str
    image_id: int | None
    category_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"image {self.image_id}" if self.image_id is not None else "project"
        if self.category_id is not None:
            where += f", category {self.category_id}"
        return f"{self.rule}: {where}: {self.detail}"


def _accepted_instance(image_col: Any, category_col: Any) -> Any:
    """EXISTS an accepted, non-crowd instance of the pair with an accepted segment."""
    return exists().where(
        inst.c.image_id == image_col,
        inst.c.category_id == category_col,
        inst.c.is_crowd.is_(False),
        inst.c.status == s.ACCEPTED,
        exists().where(seg.c.instance_id == inst.c.id, seg.c.status == s.SEGMENT_ACCEPTED),
    )


def positive_pairs() -> Select:
    """(image_id, category_id, exhaustive) of every positive pair."""
    return select(ic.c.image_id, ic.c.category_id, ic.c.exhaustive).where(
        ic.c.state == s.CONFIRMED, _accepted_instance(ic.c.image_id, ic.c.category_id)
    )


def pair_states(
    conn: Connection, image_ids: Iterable[int] | None = None, *, split: str | None = None
) -> dict[tuple[int, int], PairState]:
    """:func:`pair_state` of every pair of the given images (or split) that is not
    unverified, by (image id, category id)."""
    ids = None if image_ids is None else sorted(set(image_ids))
    states, _, negatives = _read_pairs(conn, ids, split)
    negative = PairState.NEGATIVE
    for image_id, category_ids in negatives.items():
        for category_id in category_ids:
            states[(image_id, category_id)] = negative
    return states


def _read_pairs(
    conn: Connection, ids: list[int] | None, split: str | None
) -> tuple[dict[tuple[int, int], PairState], set[tuple[int, int]], dict[int, Set[int]]]:
    """The states of the pairs that are not unverified (the negatives aside), the pairs
    with an accepted instance, and each image's verified negatives (:func:`_negatives`;
    a negative pair is a negative whatever else is stored of it, :func:`pair_state`)."""
    negatives = _negatives(conn, ids, split)
    rows: dict[tuple[int, int], tuple[str, bool | None]] = {}
    told = select(ic.c.image_id, ic.c.category_id, ic.c.state, ic.c.exhaustive).where(
        ic.c.exhaustive.is_not(None)  # only stored rows have the flag
    )
    for image_id, category_id, state, exhaustive in conn.execute(_only_images(told, ids, split)):
        rows[(image_id, category_id)] = (state, exhaustive)
    accepted: set[tuple[int, int]] = set()
    for image_id, category_id, exhaustive in conn.execute(
        _only_images(positive_pairs(), ids, split)
    ):
        accepted.add((image_id, category_id))
        rows[(image_id, category_id)] = (s.CONFIRMED, exhaustive)
    unfinished = (
        select(inst.c.image_id, inst.c.category_id, ic.c.state, ic.c.exhaustive)
        .join(ic, and_(ic.c.image_id == inst.c.image_id, ic.c.category_id == inst.c.category_id))
        .where(inst.c.status != s.ACCEPTED, inst.c.is_crowd.is_(False))
        .distinct()
    )
    pending = set()
    for image_id, category_id, state, exhaustive in conn.execute(
        _only_images(unfinished, ids, split, inst.c.image_id)
    ):
        pending.add((image_id, category_id))
        rows[(image_id, category_id)] = (state, exhaustive)
    states = {
        key: pair_state(state, exhaustive, key in accepted, key in pending)
        for key, (state, exhaustive) in rows.items()
    }
    known: dict[tuple[int, int], PairState] = {
        key: value for key, value in states.items() if value is not PairState.UNVERIFIED
    }
    return known, accepted, negatives


def _negatives(conn: Connection, ids: list[int] | None, split: str | None) -> dict[int, Set[int]]:
    """Each image's verified negatives: its explicit negative rows, and on an image an
    import made exhaustive, the categories of its set with no row and no instance there
    (``s.IMPLICIT_NEGATIVES_SQL``'s two NOT EXISTS, worked out here from each set's
    members less the image's taken pairs). A COCO import's are millions of pairs: the
    database listing them through the view took 3.2 s at 3.6M, and a row each cost
    1.5 s of Python per 400k, so the explicit rows come as one string per image and the
    implicit ones are never listed by the database."""
    listed = func.aggregate_strings(cast(ic.c.category_id, String), ",")
    grouped = select(ic.c.image_id, listed).where(ic.c.state == s.NEGATIVE)
    negatives: dict[int, Set[int]] = {
        image_id: set(map(int, category_ids.split(",")))
        for image_id, category_ids in conn.execute(
            _only_images(grouped, ids, split).group_by(ic.c.image_id)
        )
    }
    e, m = s.exhaustive_images, s.category_set_members
    listed = func.aggregate_strings(cast(m.c.category_id, String), ",")
    members: dict[int, frozenset[int]] = {
        set_id: frozenset(map(int, category_ids.split(",")))
        for set_id, category_ids in conn.execute(select(m.c.set_id, listed).group_by(m.c.set_id))
    }
    if not members:
        return negatives
    images, sets = integer_columns(
        conn, _only_images(select(e.c.image_id, e.c.set_id), ids, split, e.c.image_id)
    )
    pairs = _taken_pairs()
    query = select(pairs.c.image_id, pairs.c.category_id).join(e, e.c.image_id == pairs.c.image_id)
    taken_images, taken_categories = integer_columns(
        conn, _only_images(query, ids, split, e.c.image_id)
    )
    taken: dict[int, set[int]] = {}
    for image_id, category_id in zip(taken_images.tolist(), taken_categories.tolist(), strict=True):
        found = taken.get(image_id)
        if found is None:
            taken[image_id] = {category_id}
        else:
            found.add(category_id)
    nothing: set[int] = set()
    for image_id, set_id in zip(images.tolist(), sets.tolist(), strict=True):
        implicit = members[set_id] - taken.get(image_id, nothing)
        if implicit:
            explicit = negatives.get(image_id)
            negatives[image_id] = implicit if explicit is None else implicit | explicit
    return negatives


def _taken_pairs() -> Any:
    """The (image, category) pairs with a row or an instance, each once: on an exhaustive
    image, the categories of its set that are no implicit negative
    (``s.IMPLICIT_NEGATIVES_SQL``'s two NOT EXISTS, read from the other side)."""
    return (
        select(ic.c.image_id, ic.c.category_id)
        .union(select(inst.c.image_id, inst.c.category_id))
        .subquery()
    )


def federated_labels(
    conn: Connection, image_ids: Iterable[int] | None = None, *, split: str | None = None
) -> dict[int, FederatedLabels]:
    """The labels of the given images (every image when None; or one split's), by image
    id, as :func:`pair_state` reads each pair."""
    ids = None if image_ids is None else sorted(set(image_ids))
    states, accepted, negatives = _read_pairs(conn, ids, split)
    sets: dict[int, dict[str, set[int]]] = {}
    negative, pending = PairState.NEGATIVE, PairState.PENDING
    not_exhaustive = {state for state in PairState if state.counts_not_exhaustive}
    for key, state in states.items():
        image_id, category_id = key
        kinds = sets.get(image_id)  # (setdefault would build four sets for every pair)
        if kinds is None:
            kinds = sets[image_id] = {"pos": set(), "neg": set(), "nel": set(), "pen": set()}
        if state is negative:
            kinds["neg"].add(category_id)
        # Positive: confirmed with an accepted instance, whatever its exhaustiveness
        # (a pending pair's accepted masks train too).
        if key in accepted:
            kinds["pos"].add(category_id)
        if state in not_exhaustive:
            kinds["nel"].add(category_id)
        if state is pending:
            kinds["pen"].add(category_id)
    image_query = _only_images(select(s.images.c.id), ids, split, s.images.c.id)
    empty: dict[str, set[int]] = {}
    out = {}
    no_negatives: set[int] = set()
    for image_id in conn.execute(image_query.order_by(s.images.c.id)).scalars():
        kinds = sets.get(image_id, empty)
        out[image_id] = FederatedLabels(
            image_id,
            frozenset(kinds.get("pos", ())),
            frozenset(negatives.get(image_id, no_negatives) | kinds.get("neg", no_negatives)),
            frozenset(kinds.get("nel", ())),
            frozenset(kinds.get("pen", ())),
        )
    return out


def _only_images(
    query: Select, ids: list[int] | None, split: str | None, image_col: Any = ic.c.image_id
) -> Select:
    if ids is not None:
        query = query.where(image_col.in_(ids))
    if split is not None:
        query = query.where(image_col.in_(select(s.images.c.id).where(s.images.c.split == split)))
    return query


def project_labels(
    project: Project, image_ids: Iterable[int] | None = None
) -> dict[int, FederatedLabels]:
    """:func:`federated_labels` in a read transaction of its own."""
    with project.read() as conn:
        return federated_labels(conn, image_ids)


@dataclass(frozen=True)
class LabelCounts:
    positive_pairs: int
    negative_pairs: int
    not_exhaustive_pairs: int
    exhaustive_pairs: int
    unverified_pairs: int  # spotted, or confirmed without an accepted instance yet
    rejected_pairs: int
    positive_images: int
    categories_with_positives: int
    categories_with_negatives: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def negative_counts(conn: Connection) -> dict[int, int]:
    """|N_c| of every category with a verified negative: its explicit rows plus its
    implicit negatives, the latter counted without listing them. A category's implicit
    negatives are the images of the sets it is in, less those of its (image, category)
    pairs that have a row or an instance (``s.IMPLICIT_NEGATIVES_SQL``'s two NOT EXISTS).
    That walks the rows and the instances once, not every pair of every exhaustive
    image: 3.0 -> 0.4 s at 3.6M implicit negatives and 500k instances."""
    counts: dict[int, int] = dict(
        conn.execute(
            select(ic.c.category_id, func.count())
            .where(ic.c.state == s.NEGATIVE)
            .group_by(ic.c.category_id)
        ).all()
    )
    e, m = s.exhaustive_images, s.category_set_members
    per_set = select(e.c.set_id, func.count().label("n")).group_by(e.c.set_id).subquery()
    in_sets = conn.execute(
        select(m.c.category_id, func.sum(per_set.c.n))
        .join(per_set, per_set.c.set_id == m.c.set_id)
        .group_by(m.c.category_id)
    ).all()
    if not in_sets:
        return counts
    taken_pairs = _taken_pairs()
    taken: dict[int, int] = dict(
        conn.execute(
            select(taken_pairs.c.category_id, func.count())
            .join(e, e.c.image_id == taken_pairs.c.image_id)
            .join(m, and_(m.c.set_id == e.c.set_id, m.c.category_id == taken_pairs.c.category_id))
            .group_by(taken_pairs.c.category_id)
        ).all()
    )
    for category_id, total in in_sets:
        implicit = int(total) - taken.get(category_id, 0)
        if implicit:
            counts[category_id] = counts.get(category_id, 0) + implicit
    return counts


def pair_state_counts(conn: Connection, negatives: dict[int, int] | None = None) -> dict[str, int]:
    """How many pairs are in each state (``pair_labels``' states), the negatives those
    of :func:`negative_counts` (``negatives``, where the caller has them)."""
    states: dict[str, int] = {
        state: int(n)
        for state, n in conn.execute(select(ic.c.state, func.count()).group_by(ic.c.state))
    }
    # the explicit negative rows are among negative_counts': the total replaces them
    negative = sum((negative_counts(conn) if negatives is None else negatives).values())
    if negative:
        states[s.NEGATIVE] = negative
    return states


def label_counts(conn: Connection) -> LabelCounts:
    """How many pairs of each federated kind the project holds."""
    positive = positive_pairs().subquery()
    pos = conn.execute(
        select(
            func.count(),
            func.count(func.distinct(positive.c.image_id)),
            func.count(func.distinct(positive.c.category_id)),
        ).select_from(positive)
    ).one()
    flags: dict[bool | None, int] = dict(
        conn.execute(
            select(positive.c.exhaustive, func.count()).group_by(positive.c.exhaustive)
        ).all()
    )
    negatives = negative_counts(conn)
    states = pair_state_counts(conn, negatives)
    present = int(states.get(s.SPOTTED, 0)) + int(states.get(s.CONFIRMED, 0))
    return LabelCounts(
        positive_pairs=int(pos[0]),
        negative_pairs=int(states.get(s.NEGATIVE, 0)),
        not_exhaustive_pairs=int(flags.get(False, 0)),
        exhaustive_pairs=int(flags.get(True, 0)),
        unverified_pairs=present - int(pos[0]),
        rejected_pairs=int(states.get(s.REJECTED, 0)),
        positive_images=int(pos[1]),
        categories_with_positives=int(pos[2]),
        categories_with_negatives=len(negatives),
    )


def check_invariants(conn: Connection) -> list[Violation]:
    """Every violation of the federated invariants and the pipeline's bookkeeping."""
    found: list[Violation] = []

    def add(rule: str, rows: Iterable[Any], detail: str) -> None:
        for row in rows:
            found.append(Violation(rule, row[0], row[1] if len(row) > 1 else None, detail))

    # negatives and positives are disjoint (an implicit negative has no instance at all,
    # by its definition: the explicit rows are the ones to check)
    add(
        "negative-and-positive",
        conn.execute(
            select(ic.c.image_id, ic.c.category_id).where(
                ic.c.state == s.NEGATIVE, _accepted_instance(ic.c.image_id, ic.c.category_id)
            )
        ),
        "verified absent, yet it has an accepted instance",
    )
    # not-exhaustive is a subset of positives
    add(
        "not-exhaustive-not-positive",
        conn.execute(
            select(ic.c.image_id, ic.c.category_id).where(
                ic.c.exhaustive.is_(False),
                ~and_(
                    ic.c.state == s.CONFIRMED,
                    _accepted_instance(ic.c.image_id, ic.c.category_id),
                ),
            )
        ),
        "marked not exhaustive but it is no positive",
    )
    # instances belong to confirmed pairs
    pair_state = (
        select(ic.c.state)
        .where(ic.c.image_id == inst.c.image_id, ic.c.category_id == inst.c.category_id)
        .scalar_subquery()
    )
    add(
        "instance-without-confirmed-pair",
        conn.execute(
            select(inst.c.image_id, inst.c.category_id)
            .where(inst.c.is_crowd.is_(False))
            .where(func.coalesce(pair_state, "none") != s.CONFIRMED)
            .distinct()
        ),
        "an instance of a category that is not confirmed in the image",
    )
    # accepted instances have exactly one accepted segment, and it is the latest version
    accepted_segments = (
        select(func.count())
        .where(seg.c.instance_id == inst.c.id, seg.c.status == s.SEGMENT_ACCEPTED)
        .scalar_subquery()
    )
    latest_status = (
        select(seg.c.status)
        .where(seg.c.instance_id == inst.c.id)
        .order_by(seg.c.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    add(
        "accepted-instance-segments",
        conn.execute(
            select(inst.c.image_id, inst.c.category_id).where(
                inst.c.status == s.ACCEPTED,
                (accepted_segments != 1) | (latest_status != s.SEGMENT_ACCEPTED),
            )
        ),
        "an accepted instance needs exactly one accepted segment, its latest version",
    )
    add(
        "accepted-segment-of-unaccepted-instance",
        conn.execute(
            select(inst.c.image_id, inst.c.category_id).where(
                inst.c.status != s.ACCEPTED, accepted_segments > 0
            )
        ),
        "an instance that is not accepted has an accepted segment",
    )
    # an exhaustiveness answer needs every instance accepted
    add(
        "exhaustive-with-unaccepted-instances",
        conn.execute(
            select(ic.c.image_id, ic.c.category_id).where(
                ic.c.exhaustive.is_not(None),
                exists().where(
                    inst.c.image_id == ic.c.image_id,
                    inst.c.category_id == ic.c.category_id,
                    inst.c.is_crowd.is_(False),
                    inst.c.status != s.ACCEPTED,
                ),
            )
        ),
        "exhaustiveness was answered while instances are still being segmented",
    )
    # no work twice in a queue (stage 4 has several items per segment by design)
    pending = wi.c.status.in_((s.OPEN, s.LEASED))
    for stage, keys in (
        (s.SPOTTING, (wi.c.image_id,)),
        (s.MARKING, (wi.c.image_id, wi.c.category_id)),
        (s.SEGMENTATION, (wi.c.image_id, wi.c.instance_id)),
        (s.EXHAUSTIVE, (wi.c.image_id, wi.c.category_id)),
        (s.NEGATIVES, (wi.c.image_id, wi.c.category_id)),
    ):
        add(
            f"duplicate-stage-{stage}-item",
            conn.execute(
                select(*keys)
                .where(wi.c.stage == stage, pending)
                .group_by(*keys)
                .having(func.count() > 1)
            ),
            f"more than one pending stage-{stage} item for the same work",
        )
    return found


def project_violations(project: Project) -> list[Violation]:
    """:func:`check_invariants` in a read transaction of its own."""
    with project.read() as conn:
        return check_invariants(conn)

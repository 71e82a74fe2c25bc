"""Shared work queues with leases.

Each stage is a queue of work items. An annotator claims the next open item of a
stage and holds it for ``lease_seconds``; they renew it while working, release it
to skip, or complete it with their answer. A lease that runs out (a crashed client)
returns the item to the queue. Claims are safe across processes: on SQLite the claim
runs in a ``BEGIN IMMEDIATE`` transaction (one writer at a time), on PostgreSQL the
candidate row is taken with ``SELECT ... FOR UPDATE SKIP LOCKED``; the same code
serves both, and the final UPDATE is guarded by the item's status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ..errors import ConflictError, NotFoundError
from . import schema as s
from .database import Project, now

wi = s.work_items


@dataclass(frozen=True)
class WorkItem:
    id: int
    stage: int
    image_id: int
    category_id: int | None
    instance_id: int | None
    segment_id: int | None
    status: str
    priority: float
    lease_owner: int | None
    lease_expires: float | None
    attempts: int

    def require(self, key: Literal["category_id", "instance_id", "segment_id"]) -> int:
        """The item's category, instance or segment id, which its stage always sets."""
        value: int | None = getattr(self, key)
        if value is None:
            raise ConflictError(f"work item {self.id} (stage {self.stage}) has no {key}")
        return value


def item_from_row(row: Any) -> WorkItem:
    return WorkItem(
        id=row.id,
        stage=row.stage,
        image_id=row.image_id,
        category_id=row.category_id,
        instance_id=row.instance_id,
        segment_id=row.segment_id,
        status=row.status,
        priority=row.priority,
        lease_owner=row.lease_owner,
        lease_expires=row.lease_expires,
        attempts=row.attempts,
    )


def add_items(conn: Connection, items: Iterable[dict[str, Any]]) -> int:
    """Open new work items (dicts of work_items columns: stage, image_id, ...)."""
    created = now()
    rows = [
        {"status": s.OPEN, "priority": 0.0, "attempts": 0, "created_at": created, **i}
        for i in items
    ]
    if rows:
        conn.execute(wi.insert(), rows)
    return len(rows)


def expire_leases(conn: Connection, at: float | None = None) -> int:
    """Return items whose lease ran out to the queue; returns how many."""
    at = now() if at is None else at
    result = conn.execute(
        wi.update()
        .where(wi.c.status == s.LEASED, wi.c.lease_expires < at)
        # lease_owner stays: the last holder may still answer until someone else claims
        .values(status=s.OPEN, lease_expires=None)
    )
    return int(result.rowcount or 0)


def claim_in(
    conn: Connection,
    stage: int,
    annotator_id: int,
    *,
    lease_seconds: float,
    where: ColumnElement[bool] | None = None,
    at: float | None = None,
    honour_exclusion: bool = True,
) -> WorkItem | None:
    """Claim the next open item of ``stage`` inside the caller's write transaction.

    Items go in priority order (lower first), then by id. An item that excludes the
    annotator is skipped (unless ``honour_exclusion`` is false: a stage whose exclusion
    is only a preference asks again without it); ``where`` adds a stage's own condition
    on ``work_items``.
    """
    at = now() if at is None else at
    expire_leases(conn, at)
    conditions = [wi.c.stage == stage, wi.c.status == s.OPEN]
    if honour_exclusion:
        conditions.append(
            or_(wi.c.excluded_annotator.is_(None), wi.c.excluded_annotator != annotator_id)
        )
    if where is not None:
        conditions.append(where)
    candidate = conn.execute(
        select(wi.c.id)
        .where(*conditions)
        .order_by(wi.c.priority, wi.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar()
    if candidate is None:
        return None
    row = conn.execute(
        wi.update()
        .where(wi.c.id == candidate, wi.c.status == s.OPEN)
        .values(
            status=s.LEASED,
            lease_owner=annotator_id,
            lease_expires=at + lease_seconds,
            attempts=wi.c.attempts + 1,
        )
        .returning(*wi.c)
    ).first()
    return item_from_row(row) if row is not None else None


def claim_next(
    project: Project,
    stage: int,
    annotator_id: int,
    *,
    lease_seconds: float | None = None,
    where: ColumnElement[bool] | None = None,
) -> WorkItem | None:
    """Claim the next open item of ``stage`` for ``annotator_id`` (None when the queue is empty)."""
    if lease_seconds is None:
        lease_seconds = project.settings().lease_seconds
    with project.write() as conn:
        return claim_in(conn, stage, annotator_id, lease_seconds=lease_seconds, where=where)


def _held(conn: Connection, item_id: int, annotator_id: int) -> Any:
    """The item, still the annotator's. A lease that ran out but that nobody else has
    claimed since is still theirs: expiry only matters once someone else claims it."""
    row = conn.execute(select(wi).where(wi.c.id == item_id)).first()
    if row is None:
        raise NotFoundError(f"work item {item_id} does not exist")
    if row.lease_owner == annotator_id and row.status in (s.LEASED, s.OPEN):
        return row
    if row.status == s.DONE:
        raise ConflictError(f"work item {item_id} is already done")
    raise ConflictError(
        f"work item {item_id} is not held by this annotator (it was released, or its lease "
        "ran out and someone else claimed it)"
    )


def renew(
    project: Project, item_id: int, annotator_id: int, *, lease_seconds: float | None = None
) -> WorkItem:
    """Extend the annotator's lease on an item they hold."""
    if lease_seconds is None:
        lease_seconds = project.settings().lease_seconds
    with project.write() as conn:
        _held(conn, item_id, annotator_id)
        row = conn.execute(
            wi.update()
            .where(wi.c.id == item_id)
            .values(status=s.LEASED, lease_expires=now() + lease_seconds)
            .returning(*wi.c)
        ).first()
    return item_from_row(row)


def release(project: Project, item_id: int, annotator_id: int) -> None:
    """Give an item back to the queue unanswered (skip)."""
    with project.write() as conn:
        release_in(conn, item_id, annotator_id)


def release_in(conn: Connection, item_id: int, annotator_id: int, *, to_back: bool = False) -> None:
    """:func:`release` inside the caller's transaction. ``to_back`` also moves the item
    behind every other item of its stage (a skipped item should not come straight back)."""
    row = _held(conn, item_id, annotator_id)
    values: dict[str, Any] = {"status": s.OPEN, "lease_owner": None, "lease_expires": None}
    if to_back:
        last = conn.execute(
            select(func.max(wi.c.priority)).where(wi.c.stage == row.stage, wi.c.status == s.OPEN)
        )
        values["priority"] = max(float(last.scalar() or 0.0), row.priority) + 1.0
    conn.execute(wi.update().where(wi.c.id == item_id).values(**values))


def complete_in(conn: Connection, item_id: int, annotator_id: int) -> WorkItem:
    """Mark an item the annotator holds as done, inside the answer's transaction."""
    _held(conn, item_id, annotator_id)
    row = conn.execute(
        wi.update()
        .where(wi.c.id == item_id, wi.c.status != s.DONE, wi.c.lease_owner == annotator_id)
        .values(status=s.DONE, done_by=annotator_id, done_at=now(), lease_expires=None)
        .returning(*wi.c)
    ).first()
    if row is None:  # cannot happen inside one write transaction, but never answer twice
        raise ConflictError(f"work item {item_id} was taken by someone else")
    return item_from_row(row)


def stage_counts(conn: Connection, at: float | None = None) -> dict[int, dict[str, int]]:
    """Open / leased / done items per stage; a lease that ran out counts as open."""
    at = now() if at is None else at
    expired = and_(wi.c.status == s.LEASED, wi.c.lease_expires < at)
    state = case((expired, s.OPEN), else_=wi.c.status)
    rows = conn.execute(
        select(wi.c.stage, state.label("state"), func.count()).group_by(wi.c.stage, "state")
    ).all()
    counts = {stage: {s.OPEN: 0, s.LEASED: 0, s.DONE: 0} for stage in s.STAGES}
    for stage, status, n in rows:
        if status in counts[stage]:
            counts[stage][status] += int(n)
    return counts

"""What every stage shares: the answer's context, (image, category) pairs, work items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.engine import Connection

from ..annotations import instance_values
from ..errors import ConflictError, LongtailError, NotFoundError
from ..masks.geometry import Box
from ..store import schema as s
from ..store.database import Annotator, now
from ..store.settings import ProjectSettings
from ..store.workqueue import WorkItem
from .journal import Journal

ic = s.image_categories
wi = s.work_items
PENDING_WORK = (s.OPEN, s.LEASED)
"""Work item states that still wait for an answer."""


@dataclass
class Answering:
    """Everything a stage needs to apply one answer inside its transaction."""

    conn: Connection
    journal: Journal
    settings: ProjectSettings
    annotator: Annotator
    item: WorkItem
    image: Any  # the images row
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def add_item(self, stage: int, **columns: Any) -> int:
        return add_item(self.journal, stage, image_id=self.image.id, **columns)


# ---------------------------------------------------------------- locks

SEEDING_LOCK = 0x4C54_0004  # "LT" 4: one advisory lock for whoever opens queue items
"""PostgreSQL advisory lock taken by seeding and by queues that fill themselves."""


def lock_image(conn: Connection, image_id: int) -> None:
    """Serialize the answers (and undos) that touch one image.

    An answer reads and writes rows of its own image only (its pairs, instances,
    segments, work items), so taking the image row first orders every such
    transaction the same way: on PostgreSQL two verifiers of one segment cannot
    deadlock, and the second sees the first's decision. On SQLite every write
    transaction holds the database's write lock already (FOR UPDATE is left out).
    """
    conn.execute(select(s.images.c.id).where(s.images.c.id == image_id).with_for_update()).first()


def lock_seeding(conn: Connection) -> None:
    """Serialize the code that opens items where none are pending (seed, refills), so that
    two PostgreSQL sessions do not both open the same one. SQLite needs nothing."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SEEDING_LOCK})")


# ---------------------------------------------------------------- rows


def image_row(conn: Connection, image_id: int) -> Any:
    row = conn.execute(select(s.images).where(s.images.c.id == image_id)).first()
    if row is None:
        raise NotFoundError(f"image {image_id} is not in the project")
    return row


def category_row(conn: Connection, category_id: int) -> Any:
    row = conn.execute(select(s.categories).where(s.categories.c.id == category_id)).first()
    if row is None:
        raise NotFoundError(f"category {category_id} is not in the project")
    return row


def check_point(image: Any, x: float, y: float, what: str = "point") -> None:
    """Refuse a point outside the image (a user error the front end should not send)."""
    if not (0 <= x <= image.width and 0 <= y <= image.height):
        raise LongtailError(
            f"the {what} ({x:g}, {y:g}) lies outside the {image.width}x{image.height} image"
        )


def check_box(image: Any, box: Box) -> None:
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise LongtailError(f"a box needs a positive width and height, got {w:g}x{h:g}")
    check_point(image, x, y, "box corner")
    check_point(image, x + w, y + h, "box corner")


# ---------------------------------------------------------------- (image, category) pairs


def pair_row(conn: Connection, image_id: int, category_id: int) -> Any:
    """The pair's label (None: no label): its image_categories row, or the implicit
    negative of an image an import made exhaustive (the ``pair_labels`` view)."""
    pl = s.pair_labels
    return conn.execute(
        select(pl).where(pl.c.image_id == image_id, pl.c.category_id == category_id)
    ).first()


def stored_pair(conn: Connection, image_id: int, category_id: int) -> Any:
    """The pair's image_categories row (None: none, perhaps an implicit negative)."""
    return conn.execute(
        select(ic).where(ic.c.image_id == image_id, ic.c.category_id == category_id)
    ).first()


def set_pair(journal: Journal, image_id: int, category_id: int, **values: Any) -> None:
    """Create or change the federated state of one (image, category) pair. Decided on
    the stored row: an answer on an implicit negative inserts a row, which wins over
    it; undoing that answer deletes the row and the implicit negative is back, as the
    import left it."""
    values["updated_at"] = now()
    if stored_pair(journal.conn, image_id, category_id) is None:
        values.setdefault("exhaustive", None)
        values.setdefault("source", s.SOURCE_PIPELINE)
        journal.insert(ic, image_id=image_id, category_id=category_id, **values)
    else:
        journal.update(ic, {"image_id": image_id, "category_id": category_id}, **values)


def insert_mark(ctx: Answering, category_id: int, x: float, y: float, box: Box | None) -> int:
    """A new instance mark (status marked) and its stage-3 work item; returns its id."""
    check_point(ctx.image, x, y, "mark")
    if box is not None:
        check_box(ctx.image, box)
    instance_id = ctx.journal.insert(
        s.instances,
        **instance_values(
            ctx.image.id, category_id, point=(x, y), box=box, annotator_id=ctx.annotator.id
        ),
    )
    ctx.add_item(s.SEGMENTATION, category_id=category_id, instance_id=instance_id)
    return instance_id


# ---------------------------------------------------------------- work items


def item_row(stage: int, image_id: int, **columns: Any) -> dict[str, Any]:
    """The columns of a new open work item."""
    values = {
        "stage": stage,
        "image_id": image_id,
        "category_id": None,
        "instance_id": None,
        "segment_id": None,
        "excluded_annotator": None,
        "status": s.OPEN,
        "priority": 0.0,
        "attempts": 0,
        "created_at": now(),
    }
    values.update(columns)
    return values


def add_item(journal: Journal, stage: int, *, image_id: int, **columns: Any) -> int:
    """Open one work item; returns its id."""
    return journal.insert(wi, **item_row(stage, image_id, **columns))


def pending_items(conn: Connection, stage: int, **match: Any) -> list[Any]:
    """Work items of ``stage`` still waiting for an answer that match the given columns."""
    conditions = [wi.c.stage == stage, wi.c.status.in_(PENDING_WORK)]
    conditions += [wi.c[k] == v for k, v in match.items()]
    return list(conn.execute(select(wi).where(*conditions).order_by(wi.c.id)).all())


def has_pending(conn: Connection, stage: int, **match: Any) -> bool:
    conditions = [wi.c.stage == stage, wi.c.status.in_(PENDING_WORK)]
    conditions += [wi.c[k] == v for k, v in match.items()]
    return bool(conn.execute(select(exists().where(*conditions))).scalar())


def cancel(journal: Journal, rows: list[Any]) -> int:
    """Cancel work items that are no longer needed (a holder's answer will be refused)."""
    for row in rows:
        journal.update(wi, row.id, status=s.CANCELLED, lease_expires=None)
    return len(rows)


def require_state(row: Any, allowed: tuple[str, ...], what: str) -> None:
    if row is None or row.state not in allowed:
        state = "none" if row is None else row.state
        raise ConflictError(f"{what} (the pair's state is {state})")


def all_instances_accepted(conn: Connection, image_id: int, category_id: int) -> bool:
    """True when the pair has instances (crowd regions aside) and every one is accepted."""
    inst = s.instances
    counts = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((inst.c.status == s.ACCEPTED, 1), else_=0)), 0),
        ).where(
            and_(
                inst.c.image_id == image_id,
                inst.c.category_id == category_id,
                inst.c.is_crowd.is_(False),
            )
        )
    ).one()
    total, accepted = int(counts[0]), int(counts[1])
    return total > 0 and total == accepted

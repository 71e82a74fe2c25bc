"""Undo an annotator's last answer, while nothing downstream depends on it.

The rule: an annotator may take back their latest answer that is not undone yet
(repeatedly: each undo goes one answer further back) when

1. nobody has answered anything on the same image since (later answers on the image
   may have seen or built on it: the next spotter saw its spots, a verifier's vote
   counted with it, a stage-5 item opened because of it), and
2. every work item the answer opened is still unclaimed (or its lease ran out).

Undo reverts the answer's journal (rows it inserted are deleted, rows it changed get
their old values back, the items it opened disappear), gives the answered work item
back to the annotator (leased again, so they can answer it anew), and appends an
``undo`` event naming the answer's event. The log stays append-only; activity
figures leave undone answers out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.engine import Connection

from ..errors import ConflictError, LongtailError
from ..events import log_event
from ..store import schema as s
from ..store.database import now
from ..store.settings import ProjectSettings
from ..store.workqueue import WorkItem, item_from_row
from .common import lock_image
from .journal import created_in, revert

ev = s.events
wi = s.work_items
ANSWER = "answer"
UNDO = "undo"


def not_undone() -> Any:
    undo = ev.alias("undo")
    return ~exists().where(undo.c.undoes == ev.c.id)


def latest_answer(conn: Connection, annotator_id: int) -> Any:
    """The annotator's latest answer event that was not undone, or None."""
    return conn.execute(
        select(ev)
        .where(ev.c.annotator_id == annotator_id, ev.c.action == ANSWER, not_undone())
        .order_by(ev.c.id.desc())
        .limit(1)
    ).first()


def undo_problem(
    conn: Connection, event: Any, at: float | None = None, *, lock: bool = False
) -> str | None:
    """Why the answer ``event`` cannot be undone, or None when it can. ``lock`` (inside
    the undo's own transaction) holds the image and the follow-up items while it looks."""
    at = now() if at is None else at
    if lock:
        lock_image(conn, event.image_id)
    later = conn.execute(
        select(ev.c.id)
        .where(
            ev.c.image_id == event.image_id,
            ev.c.id > event.id,
            ev.c.action == ANSWER,
            not_undone(),
        )
        .limit(1)
    ).first()
    if later is not None:
        return "someone has answered on this image since; the answer may have been built on"
    journal = (event.payload or {}).get("journal")
    if journal is None:
        return "this answer cannot be undone (it was recorded without its changes)"
    created = created_in(journal, wi)
    if created:
        query = select(wi).where(wi.c.id.in_(created))
        rows = conn.execute(query.with_for_update() if lock else query).all()
        if len(rows) != len(created):
            return "a work item this answer opened no longer exists"
        for row in rows:
            expired = row.status == s.LEASED and (row.lease_expires or 0) < at
            if row.status != s.OPEN and not expired:
                what = "answered" if row.status == s.DONE else row.status
                return f"work that follows from this answer was already {what} (stage {row.stage})"
    item = conn.execute(select(wi).where(wi.c.id == event.work_item_id)).first()
    if item is None or item.status != s.DONE:
        return "the answered work item is gone"
    return None


def undo_last(conn: Connection, annotator_id: int, settings: ProjectSettings) -> WorkItem:
    """Undo the annotator's last answer (see the module docstring); returns its work
    item, leased to them again. Raises LongtailError when there is nothing to undo and
    ConflictError when the answer has consequences already."""
    event = latest_answer(conn, annotator_id)
    if event is None:
        raise LongtailError("there is no answer of yours to undo")
    problem = undo_problem(conn, event, lock=True)
    if problem is not None:
        raise ConflictError(f"cannot undo: {problem}")
    revert(conn, event.payload["journal"])
    row = conn.execute(
        wi.update()
        .where(wi.c.id == event.work_item_id)
        .values(
            status=s.LEASED,
            lease_owner=annotator_id,
            lease_expires=now() + settings.lease_seconds,
            done_by=None,
            done_at=None,
        )
        .returning(*wi.c)
    ).first()
    undo_id = log_event(
        conn,
        UNDO,
        annotator_id=annotator_id,
        stage=event.stage,
        work_item_id=event.work_item_id,
        image_id=event.image_id,
        category_id=event.category_id,
        payload={"event_id": event.id},
    )
    conn.execute(ev.update().where(ev.c.id == undo_id).values(undoes=event.id))
    return item_from_row(row)

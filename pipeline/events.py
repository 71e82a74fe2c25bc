"""The event log: every answer, with who gave it, when, how long it took, how many clicks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from .store import schema as s
from .store.database import inserted_id, now
from .store.notify import announce


@dataclass(frozen=True)
class Effort:
    """What an answer cost its annotator, as the front end measured it."""

    duration_s: float | None = None
    clicks: int | None = None


def log_event(
    conn: Connection,
    action: str,
    *,
    annotator_id: int | None = None,
    stage: int | None = None,
    work_item_id: int | None = None,
    image_id: int | None = None,
    category_id: int | None = None,
    effort: Effort | None = None,
    payload: dict[str, Any] | None = None,
    tool: str | None = None,
    at: float | None = None,
) -> int:
    """Append one event inside the caller's transaction; returns its id. ``tool``: the
    tool a segmentation answer or correction was made with (the effort by tool)."""
    effort = effort or Effort()
    result = conn.execute(
        s.events.insert().values(
            at=now() if at is None else at,
            annotator_id=annotator_id,
            stage=stage,
            action=action,
            work_item_id=work_item_id,
            image_id=image_id,
            category_id=category_id,
            duration_s=effort.duration_s,
            clicks=effort.clicks,
            payload=payload,
            tool=tool,
        )
    )
    event_id = inserted_id(result)
    announce(
        conn,
        action,
        stage=stage,
        annotator_id=annotator_id,
        image_id=image_id,
        work_item_id=work_item_id,
        event_id=event_id,
    )
    return event_id

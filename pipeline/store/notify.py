"""Live updates: tell every open session when someone changed the project.

- PostgreSQL: every logged event (answer, undo, skip, release...) and every seeding
  sends ``NOTIFY longtail`` inside its own transaction, so the note goes out at commit
  and never for a change that was rolled back; a watcher ``LISTEN``s on a connection of
  its own and hears it within milliseconds.
- SQLite: there is no server to notify through, so a watcher polls instead: every
  ``interval`` seconds it reads the events logged since its last look (one indexed
  query) and whether new work items were opened.

Either way the callback receives the same :class:`Change` values, on the watcher's
own thread (a GUI hands them to its thread, e.g. through a queued Qt signal)::

    watcher = watch(project, on_change)   # a daemon thread; on_change(Change)
    ...
    watcher.stop()

A session may ignore its own changes by ``change.annotator_id``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from . import schema as s
from .database import Project

CHANNEL = "longtail"
QUEUES = "queues"
"""Change kind: work items were opened outside an answer (seeding, new images)."""
RECONNECTED = "reconnected"
"""Change kind: the watcher lost its server connection and has it back; changes made
meanwhile were not heard, so a listener should refresh everything."""

POLL_INTERVAL_S = 1.0
LISTEN_TICK_S = 0.25  # how soon a PostgreSQL watcher notices stop()
RECONNECT_S = 2.0
POLL_BATCH = 1000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One change another session (or this one) made."""

    kind: str  # an event action ('answer', 'undo', 'skip', 'release', ...), QUEUES, RECONNECTED
    stage: int | None = None
    annotator_id: int | None = None
    image_id: int | None = None
    work_item_id: int | None = None
    event_id: int | None = None


Callback = Callable[[Change], None]


def announce(
    conn: Connection,
    kind: str,
    *,
    stage: int | None = None,
    annotator_id: int | None = None,
    image_id: int | None = None,
    work_item_id: int | None = None,
    event_id: int | None = None,
) -> None:
    """Tell the watchers about a change, inside the transaction that makes it
    (PostgreSQL; SQLite watchers poll, so nothing is sent there)."""
    if conn.dialect.name != "postgresql":
        return
    change = Change(kind, stage, annotator_id, image_id, work_item_id, event_id)
    payload = json.dumps({k: v for k, v in asdict(change).items() if v is not None})
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


def watch(project: Project, callback: Callback, *, interval: float = POLL_INTERVAL_S) -> Watcher:
    """Start watching ``project``: ``callback`` gets every change from now on (see the
    module docstring). ``interval`` is the SQLite polling period."""
    watcher = Watcher(project, callback, interval=interval)
    watcher.start()
    return watcher


class Watcher:
    """A daemon thread delivering a project's changes to one callback."""

    def __init__(
        self, project: Project, callback: Callback, *, interval: float = POLL_INTERVAL_S
    ) -> None:
        self.project = project
        self.callback = callback
        self.interval = interval
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="longtail-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the watcher hears changes (PostgreSQL: LISTEN is in place)."""
        return self._listening.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop; no callback runs once this returns (unless the callback is stuck)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        if self.project.engine.dialect.name == "postgresql":
            self._listen()
        else:
            self._poll()

    def _deliver(self, change: Change) -> None:
        if self._stop.is_set():
            return
        try:
            self.callback(change)
        except Exception:  # one bad callback must not end the watching
            log.exception("a change callback failed (%s)", change.kind)

    def _poll(self) -> None:
        events, items = s.events, s.work_items
        with self.project.read() as conn:
            last_event, last_item = _marks(conn)
        self._listening.set()
        while not self._stop.wait(self.interval):
            try:
                with self.project.read() as conn:
                    rows = conn.execute(
                        select(
                            events.c.id,
                            events.c.action,
                            events.c.stage,
                            events.c.annotator_id,
                            events.c.image_id,
                            events.c.work_item_id,
                        )
                        .where(events.c.id > last_event)
                        .order_by(events.c.id)
                        .limit(POLL_BATCH)
                    ).all()
                    top_item = conn.execute(select(func.max(items.c.id))).scalar() or 0
            except Exception:  # a busy or vanished database: try again next time
                log.warning("polling the project for changes failed", exc_info=True)
                continue
            for row in rows:
                last_event = row.id
                self._deliver(
                    Change(
                        row.action,
                        row.stage,
                        row.annotator_id,
                        row.image_id,
                        row.work_item_id,
                        row.id,
                    )
                )
            if top_item > last_item and not rows:
                self._deliver(Change(QUEUES))
            last_item = max(last_item, top_item)

    def _listen(self) -> None:
        lost = False
        while not self._stop.is_set():
            try:
                raw = self.project.engine.raw_connection()
            except Exception:
                log.warning("the change watcher cannot reach the server", exc_info=True)
                lost = True
                self._stop.wait(RECONNECT_S)
                continue
            try:
                raw.rollback()  # the pool's ping may have opened a transaction
                pg: Any = raw.driver_connection
                pg.autocommit = True
                pg.execute(f"LISTEN {CHANNEL}")
                self._listening.set()
                if lost:
                    self._deliver(Change(RECONNECTED))
                    lost = False
                while not self._stop.is_set():
                    for note in pg.notifies(timeout=LISTEN_TICK_S):
                        self._deliver(_parse(note.payload))
            except Exception:
                if not self._stop.is_set():
                    log.warning("the change watcher lost its connection", exc_info=True)
                    lost = True
                    self._stop.wait(RECONNECT_S)
            finally:
                raw.invalidate()  # a LISTENing connection never goes back to the pool


def _marks(conn: Connection) -> tuple[int, int]:
    last_event = conn.execute(select(func.max(s.events.c.id))).scalar() or 0
    last_item = conn.execute(select(func.max(s.work_items.c.id))).scalar() or 0
    return int(last_event), int(last_item)


def _parse(payload: str) -> Change:
    try:
        values = json.loads(payload)
        return Change(**{k: values.get(k) for k in Change.__dataclass_fields__ if k in values})
    except (ValueError, TypeError):
        return Change(QUEUES)  # someone else's note on our channel: refresh anyway

"""The effort sums, kept between runs: the event log is append-only, so sums over it
can be brought up to date by reading only the events added since.

Summing millions of answers costs seconds (the database sorts them all to group them);
a refresh a minute later reads the few hundred new ones. What is kept: the sums per
(action, stage, annotator, tool), the id and time of the last event read (a different
log, e.g. a restored copy of the project, does not match and is read afresh), and the
ids of the answers taken back by then. A new ``undo`` event whose answer was summed
before subtracts that answer. The sums live in memory for the process (the GUI's
refreshes) and in ``stats-cache.json`` next to a SQLite project's database (the next
``longtail stats``); deleting that file only costs one full read.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from ..formats.jsonio import atomic_write_bytes
from ..store import schema as s
from ..store.database import Project
from .effort import CORRECTION, AnswerGroup, answer_groups, group_key, tool_column

ev = s.events
CACHE_NAME = "stats-cache.json"
VERSION = 1
Key = tuple[str, int, Any, Any]  # action, stage, annotator id, tool


@dataclass
class EventSums:
    last_id: int = 0
    last_at: float | None = None
    groups: dict[Key, list[float]] = field(default_factory=dict)
    undone: set[int] = field(default_factory=set)

    def add(self, key: Key, values: list[float], sign: int = 1) -> None:
        row = self.groups.setdefault(key, [0, 0, 0.0, 0, 0])
        for k, v in enumerate(values):
            row[k] += sign * v

    def as_groups(self) -> list[AnswerGroup]:
        return [
            AnswerGroup(a, st, who, tool, int(v[0]), int(v[1]), float(v[2]), int(v[3]), int(v[4]))
            for (a, st, who, tool), v in self.groups.items()
            if v[0] > 0
        ]

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": VERSION,
                "last_id": self.last_id,
                "last_at": self.last_at,
                "groups": [[list(k), v] for k, v in self.groups.items()],
                "undone": sorted(self.undone),
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> EventSums | None:
        try:
            doc = json.loads(data)
            if doc.get("version") != VERSION:
                return None
            return cls(
                int(doc["last_id"]),
                doc["last_at"],
                {tuple(k): list(v) for k, v in doc["groups"]},
                set(doc["undone"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


_MEMORY: dict[str, EventSums] = {}
_LOCK = threading.Lock()


SIDE_BY_SIDE_FROM = 100_000
"""New events from which the stages are read side by side, one thread each."""


def cached_answer_groups(conn: Connection, project: Project) -> list[AnswerGroup]:
    """:func:`pipeline.stats.effort.answer_groups`, reading only the events added since
    the last call for this project (see the module docstring). On PostgreSQL, whose ids
    may commit out of order (an event with a smaller id can appear after a larger one
    was read), everything is read each time."""
    if conn.dialect.name != "sqlite":
        return read_groups(conn, project, None, None)
    key = project.url
    path = project.folder / CACHE_NAME if project.folder is not None else None
    with _LOCK:
        sums = _MEMORY.get(key)
        if sums is None and path is not None and path.is_file():
            sums = EventSums.from_json(path.read_bytes())
        if sums is None or not _same_log(conn, sums):
            sums = EventSums()
        changed = _catch_up(conn, project, sums)
        _MEMORY[key] = sums
        if changed and path is not None:
            # a read-only project folder: the memory copy still serves
            with contextlib.suppress(OSError):
                atomic_write_bytes(path, sums.to_json())
        return sums.as_groups()


def forget(project: Project) -> None:
    """Drop the kept sums (memory and file) of ``project``."""
    with _LOCK:
        _MEMORY.pop(project.url, None)
    if project.folder is not None:
        (project.folder / CACHE_NAME).unlink(missing_ok=True)


def _same_log(conn: Connection, sums: EventSums) -> bool:
    if sums.last_id == 0:
        return True
    at = conn.execute(select(ev.c.at).where(ev.c.id == sums.last_id)).scalar()
    return at is not None and at == sums.last_at


def read_groups(
    conn: Connection, project: Project, after: int | None, upto: int | None
) -> list[AnswerGroup]:
    """The answer groups of the events with ``after`` < id <= ``upto`` (None: no bound).
    Many events: one thread per stage, each on a connection of its own (the database
    works outside Python's lock), so a large log is read on every core."""
    where = []
    # "+ 0": the stage index, not the id, picks the rows of each stage
    if after is not None:
        where.append((ev.c.id + 0) > after)
    if upto is not None:
        where.append((ev.c.id + 0) <= upto)
    bound = and_(*where) if where else None
    first = conn.execute(select(func.min(ev.c.id))).scalar() or 0
    if (upto or 0) - max(after or 0, first) < SIDE_BY_SIDE_FROM:
        return answer_groups(conn, where=bound, upto=upto)

    def one_stage(stage: int) -> list[AnswerGroup]:
        # A later snapshot than the caller's: undos committed since are left out too
        # (the caller's catch-up subtracts them once, when it reads them).
        with project.read() as own:
            return answer_groups(own, where=bound, stage=stage, upto=upto)

    workers = min(len(s.STAGES), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="effort") as pool:
        return [g for part in pool.map(one_stage, sorted(s.STAGES)) for g in part]


def _catch_up(conn: Connection, project: Project, sums: EventSums) -> bool:
    last = conn.execute(select(func.max(ev.c.id))).scalar()
    if last is None or last <= sums.last_id:
        return False
    since = ev.c.id > sums.last_id
    # Bounded by the last id this transaction sees: the stage threads read their own
    # snapshots, and SQLite hands out ids in commit order (one writer at a time).
    for g in read_groups(conn, project, sums.last_id, int(last)):
        sums.add(group_key(g), [g.answers, g.timed, g.total_s, g.counted, g.clicks])
    # answers summed before and taken back since: subtract them
    targets = [
        t
        for t in conn.execute(
            select(ev.c.undoes).where(since, ev.c.undoes.is_not(None), ev.c.undoes <= sums.last_id)
        ).scalars()
        if t not in sums.undone
    ]
    if targets:
        rows = conn.execute(
            select(
                ev.c.action,
                ev.c.stage,
                ev.c.annotator_id,
                tool_column().label("tool"),
                ev.c.duration_s,
                ev.c.clicks,
            ).where(and_(ev.c.id.in_(targets), ev.c.action != CORRECTION))
        )
        for action, stage, who, tool, duration, clicks in rows:
            values = [1, duration is not None, duration or 0.0, clicks is not None, clicks or 0]
            sums.add((action, stage, who, tool), values, sign=-1)
    sums.undone.update(
        conn.execute(select(ev.c.undoes).where(since, ev.c.undoes.is_not(None))).scalars()
    )
    sums.last_id = int(last)
    sums.last_at = conn.execute(select(ev.c.at).where(ev.c.id == last)).scalar()
    return True


__all__ = ["CACHE_NAME", "cached_answer_groups", "forget"]

"""The journal of one answer: every row it inserted or changed, so that undo can take it back.

Stage code writes through a :class:`Journal` instead of the connection. The journal
performs the write and remembers it as a small JSON-ready operation; the answer's
event stores the list (``payload["journal"]``) and :func:`revert` replays it backwards.
Seeding writes through a journal that records nothing (``Journal(conn, record=False)``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from ..store import schema as s
from ..store.database import inserted_id

# The tables an answer may write, by name (the journal stores names, not objects).
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        s.spot_visits,
        s.spots,
        s.spotting_finished,
        s.image_categories,
        s.instances,
        s.segments,
        s.verdicts,
        s.exhaustive_checks,
        s.negative_checks,
        s.work_items,
    )
}

Key = dict[str, Any]
"""A row's primary key as {column: value}: {"id": 7}, or {"image_id": 1, "category_id": 3}."""


class Journal:
    """Writes rows and remembers each write (see the module docstring)."""

    def __init__(self, conn: Connection, *, record: bool = True) -> None:
        self.conn = conn
        self.record = record
        self.ops: list[list[Any]] = []

    def insert(self, table: Table, **values: Any) -> int:
        """Insert one row; returns its id (0 for a table whose key is not ``id``)."""
        # Parameters, not .values(): the compiled statement is cached per column set.
        result = self.conn.execute(table.insert(), values)
        if "id" in table.c:
            row_id = inserted_id(result)
            key: Key = {"id": row_id}
        else:
            row_id = 0
            key = {c.name: values[c.name] for c in table.primary_key.columns}
        if self.record:
            self.ops.append(["insert", table.name, key])
        return row_id

    def insert_many(self, table: Table, rows: list[dict[str, Any]]) -> int:
        """Insert rows whose ids nobody needs back (one statement when not recording)."""
        if not rows:
            return 0
        if self.record:
            for row in rows:
                self.insert(table, **row)
        else:
            self.conn.execute(table.insert(), rows)
        return len(rows)

    def update(self, table: Table, key: Key | int, **values: Any) -> None:
        """Change columns of one existing row, remembering what they held."""
        key = {"id": key} if isinstance(key, int) else key
        where = [table.c[k] == v for k, v in key.items()]
        if self.record:
            old = self.conn.execute(select(*(table.c[k] for k in values)).where(*where)).first()
            if old is None:
                raise LookupError(f"no {table.name} row {key}")
            before = dict(old._mapping)
            changed = {k: v for k, v in values.items() if before[k] != v}
            if not changed:
                return
            self.ops.append(["update", table.name, key, {k: before[k] for k in changed}])
            values = changed
        self.conn.execute(table.update().where(*where).values(**values))

    def created(self, table: Table) -> list[int]:
        """Ids of the rows of ``table`` this journal inserted."""
        return [op[2]["id"] for op in self.ops if op[0] == "insert" and op[1] == table.name]


def created_in(ops: list[list[Any]], table: Table) -> list[int]:
    """Ids of the rows of ``table`` that a stored journal inserted."""
    return [op[2]["id"] for op in ops if op[0] == "insert" and op[1] == table.name]


def revert(conn: Connection, ops: list[list[Any]]) -> None:
    """Take back a stored journal: newest operation first."""
    for op in reversed(ops):
        kind, name, key = op[0], op[1], op[2]
        table = TABLES[name]
        where = [table.c[k] == v for k, v in key.items()]
        if kind == "insert":
            conn.execute(table.delete().where(*where))
        elif kind == "update":
            conn.execute(table.update().where(*where).values(**op[3]))
        else:  # pragma: no cover - journals are written by this module only
            raise ValueError(f"unknown journal operation {kind!r}")

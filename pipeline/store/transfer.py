"""Copy a project between SQLite and PostgreSQL, in either direction (``longtail migrate``).

All or nothing: the destination's schema and every row are written in one transaction,
and that transaction commits only after the destination was checked against the
source: per table, the same number of rows and the same content checksum. An error, a
mismatch or Ctrl-C rolls everything back (PostgreSQL's schema changes are
transactional too); a SQLite destination folder the migration made is removed again.

The source is read in one snapshot (a REPEATABLE READ transaction on PostgreSQL, the
read transaction on SQLite), so a team may keep working meanwhile: answers given after
the snapshot are simply not copied. Ids are kept, so exports give the same ids, and
PostgreSQL's id sequences are moved past the copied ids. JSON columns travel as their
stored text (SQLite keeps a top-level JSON number as a number; the checksums compare
JSON by value). Rows go in through PostgreSQL's COPY, with foreign keys and indexes
made once after the data (as pg_restore does), or SQLite's executemany.

Paths: a SQLite project stores image paths (and model checkpoints) relative to its
folder; a PostgreSQL project has no folder, so they become absolute on the way there,
and relative to the new folder on the way into a SQLite project (as the project itself
would store them). The checksums compare the rows as they must arrive.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import os
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    cast,
    func,
    inspect,
    select,
    text,
    type_coerce,
)
from sqlalchemy.engine import Connection

from .. import text as text_policy
from ..errors import LongtailError
from ..team import postgres as teamdb
from ..team import roles
from . import schema as s
from .credentials import shown
from .database import DB_NAME, Project, _engine, _locate, remove_sqlite_files, unfinished_sqlite

Progress = Callable[[int, int], None]
BATCH_ROWS = 5000
PATH_COLUMNS = {"images": "path", "models": "checkpoint"}
"""Columns holding a path relative to the project folder (or absolute)."""


class MigrationError(LongtailError):
    """A migration that was refused or rolled back; the destination is as it was."""


@dataclass(frozen=True)
class TableCheck:
    """One table's row count and content checksum (see :class:`Checksum`)."""

    rows: int
    checksum: str


@dataclass(frozen=True)
class MigrationReport:
    source: str
    destination: str
    tables: dict[str, TableCheck]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.tables[name].rows} {name}"
            for name in ("images", "categories", "instances", "segments", "events")
            if name in self.tables
        )
        return (
            f"copied {shown(self.source)} to {shown(self.destination)}: {self.rows} rows in "
            f"{len(self.tables)} tables ({counts}); counts and checksums verified "
            f"({self.seconds:.1f} s)"
        )


def migrate(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    by: str | None = None,
) -> MigrationReport:
    """Copy the project at ``source`` into the new project ``destination`` (a folder to
    create, or an empty PostgreSQL database) and verify it; see the module docstring.
    Copying a whole project is an admin's action (:mod:`pipeline.team.roles`)."""
    started = time.perf_counter()
    dst_url, dst_folder = _locate(destination)
    with Project.open(source) as src:
        roles.require(src, roles.MIGRATE, by)
        if (dst_folder is None and shown(dst_url) == src.url) or (
            dst_folder is not None and dst_folder == src.folder
        ):
            raise MigrationError("the source and the destination are the same project")
        made_folder = _prepare_folder(dst_folder)
        try:
            dst = Project(_engine(dst_url), dst_folder, dst_url)
        except BaseException:
            _remove_sqlite(dst_folder, made_folder)
            raise
        try:
            tables = _copy(src, dst, progress)
        except BaseException:
            dst.close()
            _remove_sqlite(dst_folder, made_folder)
            raise
        dst.close()
    return MigrationReport(
        os.fspath(source), os.fspath(destination), tables, time.perf_counter() - started
    )


# ---------------------------------------------------------------- the copy


def _copy(src: Project, dst: Project, progress: Progress | None) -> dict[str, TableCheck]:
    rewrite = _path_rewriter(src, dst)
    with _snapshot(src) as read, dst.write() as write:
        _check_empty(write, dst)
        check_text_policy(read)  # before anything is written: both backends hold every row
        s.metadata.create_all(write)
        deferred = _defer_checks(write)
        totals = {
            t.name: int(read.execute(select(func.count()).select_from(t)).scalar_one())
            for t in s.metadata.sorted_tables
        }
        total, done = 2 * sum(totals.values()), 0
        # Into PostgreSQL the check is computed during the copy here and by the server
        # there (ColumnDigest); into SQLite, which has no hash function, by reading back.
        on_server = write.dialect.name == "postgresql"
        expected: dict[str, TableCheck] = {}
        for table in s.metadata.sorted_tables:
            digest: Checksum | ColumnDigest = ColumnDigest(table) if on_server else Checksum(table)
            rows = 0
            insert = _writer(write, table)
            for batch in _batches(read, table):
                if table.name in PATH_COLUMNS:
                    batch = [rewrite(table.name, row) for row in batch]
                digest.add(batch)
                insert(batch)
                rows += len(batch)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
            expected[table.name] = TableCheck(rows, digest.hexdigest())
        _restore_checks(write, deferred)
        _advance_sequences(write)
        found: dict[str, TableCheck] = {}
        for table in s.metadata.sorted_tables:
            found[table.name] = (
                server_table_check(write, table) if on_server else _table_check(write, table)
            )
            done += found[table.name].rows
            if progress is not None:
                progress(done, total)
        wrong = [
            f"{name} ({expected[name].rows} rows copied, {found[name].rows} found)"
            if expected[name].rows != found[name].rows
            else f"{name} (content differs)"
            for name in expected
            if expected[name] != found[name]
        ]
        if wrong:
            raise MigrationError(
                "the copy does not match the source, so nothing was kept: " + "; ".join(wrong)
            )
        teamdb.secure_new_project(write)  # PostgreSQL: the connecting login is its admin
    return found


@contextmanager
def _snapshot(project: Project) -> Iterator[Connection]:
    """A read transaction that sees one moment of the source."""
    if project.engine.dialect.name != "postgresql":
        with project.read() as conn:
            yield conn
        return
    with project.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _names(table: Table) -> list[str]:
    return [c.name for c in table.columns]


def _read_columns(table: Table, dialect: str) -> list[Any]:
    """The table's columns as read for copying: JSON as its stored text (PostgreSQL's
    json keeps the text it was given; psycopg would parse it, so cast it back)."""
    columns: list[Any] = []
    for c in table.columns:
        if not isinstance(c.type, JSON):
            columns.append(c)
        elif dialect == "postgresql":
            columns.append(cast(c, Text).label(c.name))
        else:
            columns.append(type_coerce(c, Text).label(c.name))
    return columns


def _batches(conn: Connection, table: Table) -> Iterator[list[tuple[Any, ...]]]:
    # Integer keys in order: rows that point at earlier rows of their table (an undo
    # event names the answer it took back) arrive after them.
    order = list(table.primary_key.columns)
    query = select(*_read_columns(table, conn.dialect.name)).order_by(*order)
    if conn.dialect.name == "postgresql":
        # A server-side cursor (not all rows at once), for this statement only: the
        # connection's own options would change every later statement on it.
        result = conn.execute(
            query, execution_options={"stream_results": True, "yield_per": BATCH_ROWS}
        )
    else:
        result = conn.execute(query)
    texts = _json_positions(table)
    while batch := result.fetchmany(BATCH_ROWS):
        if not texts:
            yield [tuple(row) for row in batch]
            continue
        rows = []
        for row in batch:
            values = list(row)
            for at in texts:
                # SQLite gives a JSON column its NUMERIC affinity: a top-level number
                # comes back as a number, not as the text that was stored.
                if values[at] is not None and not isinstance(values[at], str):
                    values[at] = json.dumps(values[at])
            rows.append(tuple(values))
        yield rows


def _json_positions(table: Table) -> list[int]:
    return [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]


def _writer(conn: Connection, table: Table) -> Callable[[list[tuple[Any, ...]]], None]:
    """How rows go into the destination, inside its transaction: PostgreSQL's COPY (ten
    times an INSERT's speed), SQLite's executemany; both straight to the driver, with
    JSON columns as text (COPY parses it as json; SQLite stores the text)."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in _names(table))
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        sql = f"COPY {quote(table.name)} ({columns}) FROM STDIN"

        def copy(rows: list[tuple[Any, ...]]) -> None:
            with driver.cursor() as cursor, cursor.copy(sql) as stream:
                for row in rows:
                    stream.write_row(row)

        return copy
    marks = ", ".join("?" * len(table.columns))
    sql = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})"
    return lambda rows: driver.executemany(sql, rows)


def _defer_checks(conn: Connection) -> list[str]:
    """PostgreSQL: drop the new tables' foreign keys and plain indexes before the rows
    arrive (as pg_restore does); returns the statements that bring them back. Checking
    a foreign key and growing an index row by row is most of a COPY's time; doing both
    once at the end, in the same transaction, is several times faster and checks the
    same. SQLite needs (and allows) none of it inside a transaction."""
    if conn.dialect.name != "postgresql":
        return []
    keys = conn.execute(
        text(
            "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),"
            " format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,"
            " pg_get_constraintdef(c.oid))"
            " FROM pg_constraint c WHERE c.contype = 'f'"
            " AND c.connamespace = current_schema()::regnamespace"
        )
    ).all()
    indexes = conn.execute(
        text(
            "SELECT format('DROP INDEX %I', i.indexname), i.indexdef FROM pg_indexes i"
            " WHERE i.schemaname = current_schema() AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        )
    ).all()
    for drop, _ in [*keys, *indexes]:
        conn.execute(text(drop))
    return [create for _, create in indexes] + [add for _, add in keys]


def _restore_checks(conn: Connection, statements: list[str]) -> None:
    if statements:  # PostgreSQL: index builds sort in memory rather than on disk
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for statement in statements:
        conn.execute(text(statement))


def _advance_sequences(conn: Connection) -> None:
    """Move PostgreSQL's id sequences past the copied ids (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for table in s.metadata.sorted_tables:
        if "id" not in table.c or not table.c.id.primary_key:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )


def _check_empty(conn: Connection, dst: Project) -> None:
    names = inspect(conn).get_table_names()
    if names:
        where = shown(dst.url if dst.folder is None else str(dst.folder))
        if "meta" in names:
            raise MigrationError(f"{where} already holds a longtail project")
        raise MigrationError(
            f"{where} is not empty (it has tables: {', '.join(sorted(names)[:5])}); "
            "migrate into a new, empty database"
        )


# ---------------------------------------------------------------- paths


def _path_rewriter(src: Project, dst: Project) -> Callable[[str, tuple[Any, ...]], tuple[Any, ...]]:
    """How a row's stored paths change between the two projects (module docstring)."""
    if src.folder == dst.folder:
        return lambda _table, row: row
    positions = {
        table: _names(s.metadata.tables[table]).index(column)
        for table, column in PATH_COLUMNS.items()
    }

    def move(path: str) -> str:
        absolute = src.resolve(path)
        if dst.folder is None:
            return str(absolute)
        try:
            return os.path.relpath(absolute, dst.folder)
        except ValueError:  # another drive on Windows
            return str(absolute)

    def rewrite(table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
        at = positions.get(table)
        if at is None or row[at] is None:
            return row
        return (*row[:at], move(row[at]), *row[at + 1 :])

    return rewrite


# ---------------------------------------------------------------- checksums


class Checksum:
    """A SHA-256 of a table's rows in key order, each row spelled by ``repr`` (floats
    round-trip exactly, bytes are escaped, a bool is not an int): the same whichever
    database the rows came from. Integer keys sort alike everywhere; a table with a text
    key (meta, settings: a handful of rows) is sorted here, as collations differ. JSON
    columns count by value, not spelling: SQLite keeps a top-level ``600.0`` as the
    number 600 (the column's NUMERIC affinity)."""

    def __init__(self, table: Table) -> None:
        self.sha = hashlib.sha256()
        self.json = set(_json_positions(table))
        self.held: list[str] | None = (
            None if all(isinstance(c.type, Integer) for c in table.primary_key.columns) else []
        )

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        if self.json:
            rows = [
                tuple(
                    _canonical_json(v) if at in self.json and v is not None else v
                    for at, v in enumerate(row)
                )
                for row in rows
            ]
        if self.held is not None:
            self.held.extend(map(repr, rows))
        elif rows:
            self.sha.update(("\n".join(map(repr, rows)) + "\n").encode())

    def hexdigest(self) -> str:
        if self.held:
            self.sha.update(("\n".join(sorted(self.held)) + "\n").encode())
            self.held = []
        return self.sha.hexdigest()


def _canonical_json(text: str) -> str:
    def same_number(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, list):
            return [same_number(v) for v in value]
        if isinstance(value, dict):
            return {k: same_number(v) for k, v in value.items()}
        return value

    return json.dumps(same_number(json.loads(text)), sort_keys=True, separators=(",", ":"))


def table_checks(project: Project) -> dict[str, TableCheck]:
    """Every table's row count and checksum, as the migration compares them (e.g. to
    show that a refused action left a project unchanged)."""
    with project.read() as conn:
        return {table.name: _table_check(conn, table) for table in s.metadata.sorted_tables}


def _table_check(conn: Connection, table: Table) -> TableCheck:
    digest, rows = Checksum(table), 0
    for batch in _batches(conn, table):
        digest.add(batch)
        rows += len(batch)
    return TableCheck(rows, digest.hexdigest())


DIGEST_WINDOW = 65_536  # key values per digest window: bounds the server's aggregates
_SEP, _NULL = "\x1e", "\x1f"  # between two values of a text column; a NULL


class ColumnDigest:
    """A table's digest computed alike in Python, on the rows as they are sent, and by
    PostgreSQL (:func:`server_table_check`) on the rows as stored: no row is read back
    (that made a migration 2.3-3.9x slower than a plain COPY, issue 17).

    Numbers need no order: each integer or float column adds the sum, over its rows, of
    the value's 64 bits (a float's IEEE bits, PostgreSQL's ``float8send``, so no number is
    spelled by two printers) XOR the row's first key, plus 2^64 per non-NULL value. Text,
    JSON, bytes and booleans are cut into windows of :data:`DIGEST_WINDOW` values of the
    first key column; in each window a column's values in key order make one MD5 (text
    and JSON as stored, UTF-8), which adds its first 60 bits. Python works on whole
    columns of a batch at once (``struct``, ``map``, ``str.join``), never value by value
    where no NULL is in the way.
    """

    def __init__(self, table: Table) -> None:
        self.kinds = [_digest_kind(c.type) for c in table.columns]
        first_key = list(table.primary_key.columns)[0]
        # A text key (meta, settings: a handful of rows) is one window, sorted here by
        # code point, as PostgreSQL's "C" collation sorts it.
        self.key_at: int | None = (
            list(table.columns).index(first_key) if isinstance(first_key.type, Integer) else None
        )
        self.held: list[tuple[Any, ...]] | None = [] if self.key_at is None else None
        self.window: int | None = None
        self.hashes: list[Any] = []
        self.total = 0
        # numbers go into ``total`` without windows when the table has an integer key
        self.by_sum = [kind in "if" and self.key_at is not None for kind in self.kinds]

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        if self.held is not None:
            self.held.extend(rows)
            return
        at = self.key_at
        assert at is not None
        start = 0
        while start < len(rows):
            window = rows[start][at] // DIGEST_WINDOW
            end = start
            if rows[-1][at] // DIGEST_WINDOW == window:
                end = len(rows)
            else:
                while end < len(rows) and rows[end][at] // DIGEST_WINDOW == window:
                    end += 1
            self._feed(window, rows[start:end])
            start = end

    def _feed(self, window: int, rows: list[tuple[Any, ...]]) -> None:
        fresh = window != self.window
        if fresh:
            self._close()
            self.window = window
            self.hashes = [hashlib.md5() for _ in self.kinds]
        columns = list(zip(*rows, strict=True))
        keys = columns[self.key_at] if self.key_at is not None else ()
        for kind, column, digest, by_sum in zip(
            self.kinds, columns, self.hashes, self.by_sum, strict=True
        ):
            if by_sum:
                self.total += _number_sum(kind, column, keys)
                continue
            if kind in "ty" and not fresh:
                digest.update(b"\x1e")
            digest.update(_column_bytes(kind, column))

    def _close(self) -> None:
        if self.window is not None:
            self.total += sum(
                int(h.hexdigest()[:15], 16)
                for h, by_sum in zip(self.hashes, self.by_sum, strict=True)
                if not by_sum
            )
        self.window = None

    def hexdigest(self) -> str:
        if self.held is not None:
            held, self.held = sorted(self.held, key=lambda row: row[0]), None
            if held:
                self.window = -1
                self.hashes = [hashlib.md5() for _ in self.kinds]
                for kind, column, digest in zip(
                    self.kinds, zip(*held, strict=True), self.hashes, strict=True
                ):
                    digest.update(_column_bytes(kind, column))
        self._close()
        return f"{self.total:x}"


def _digest_kind(kind: Any) -> str:
    if isinstance(kind, Boolean):
        return "b"
    if isinstance(kind, Integer):
        return "i"
    if isinstance(kind, Float):
        return "f"
    if isinstance(kind, LargeBinary):
        return "y"
    if isinstance(kind, (String, JSON)):
        return "t"
    raise TypeError(f"no digest for the column type {kind!r}")


_BOOL_HEX = {True: "1", False: "0", None: "n"}  # 1 and 0 hash as True and False
_PACK = {"i": struct.Struct(">q"), "f": struct.Struct(">d")}


def _column_bytes(kind: str, column: tuple[Any, ...]) -> bytes:
    """One batch of one column, as the server's aggregate spells it (see the class)."""
    if kind == "t":
        values = column if None not in column else [_NULL if v is None else v for v in column]
        return _SEP.join(values).encode("utf-8")
    if kind == "y":
        blobs = column if None not in column else [b"\x1f" if v is None else v for v in column]
        return b"\x1e".join(bytes(v) for v in blobs)
    if kind == "b":
        return "".join(map(_BOOL_HEX.__getitem__, column)).encode("ascii")
    if None not in column:
        return struct.pack(f">{len(column)}{'q' if kind == 'i' else 'd'}", *column).hex().encode()
    pack = _PACK[kind].pack
    return "".join("n" if v is None else pack(v).hex() for v in column).encode()


_NOT_NULL = 2**64  # what each non-NULL number adds besides its bits XOR its key


def _number_sum(kind: str, column: tuple[Any, ...], keys: tuple[Any, ...]) -> int:
    """Sum over the rows of (the value's 64 bits XOR the row's key), plus 2^64 per
    non-NULL value, as :func:`_server_number_sum` computes it."""
    if None in column:
        present = [v is not None for v in column]
        column = tuple(itertools.compress(column, present))
        keys = tuple(itertools.compress(keys, present))
    if not column:
        return 0
    if kind == "f":
        n = len(column)
        column = struct.unpack(f">{n}q", struct.pack(f">{n}d", *column))
    total: int = sum(map(operator.xor, column, keys)) + _NOT_NULL * len(column)
    return total


def _server_number_sum(kind: str, column: str, key: str) -> str:
    bits = (
        f"{column}::int8"
        if kind == "i"
        else f"('x' || encode(float8send({column}::float8), 'hex'))::bit(64)::int8"
    )
    return f"(COALESCE(sum({bits} # {key}::int8), 0) + count({column}) * {_NOT_NULL}::numeric)"


def _server_aggregate(kind: str, column: str, order: str) -> str:
    """The SQL of one column's MD5 in one window, as :func:`_column_bytes` makes it."""
    if kind == "t":
        value = f"COALESCE({column}::text, chr(31))"
        joined = f"convert_to(string_agg({value}, chr(30) ORDER BY {order}), 'UTF8')"
    elif kind == "y":
        value = f"COALESCE({column}, '\\x1f'::bytea)"
        joined = f"string_agg({value}, '\\x1e'::bytea ORDER BY {order})"
    elif kind == "b":
        value = f"CASE WHEN {column} IS NULL THEN 'n' WHEN {column} THEN '1' ELSE '0' END"
        joined = f"convert_to(string_agg({value}, '' ORDER BY {order}), 'UTF8')"
    else:
        send = "int8send({}::int8)" if kind == "i" else "float8send({}::float8)"
        value = f"COALESCE(encode({send.format(column)}, 'hex'), 'n')"
        joined = f"convert_to(string_agg({value}, '' ORDER BY {order}), 'UTF8')"
    return f"('x' || substr(md5({joined}), 1, 15))::bit(60)::int8::numeric"


def server_table_check(conn: Connection, table: Table) -> TableCheck:
    """The table's row count and :class:`ColumnDigest`, computed by PostgreSQL itself."""
    quote = conn.dialect.identifier_preparer.quote
    keys = list(table.primary_key.columns)
    digest = ColumnDigest(table)
    if digest.key_at is None:
        order, group = f'{quote(keys[0].name)} COLLATE "C"', ""
    else:
        order = ", ".join(quote(k.name) for k in keys)
        group = f" GROUP BY {quote(keys[0].name)} / {DIGEST_WINDOW}"
    sums = " + ".join(
        _server_number_sum(kind, quote(c.name), quote(keys[0].name))
        if by_sum
        else _server_aggregate(kind, quote(c.name), order)
        for kind, c, by_sum in zip(digest.kinds, table.columns, digest.by_sum, strict=True)
    )
    rows, total = conn.exec_driver_sql(
        f"SELECT COALESCE(sum(n), 0), COALESCE(sum(h), 0) FROM "
        f"(SELECT count(*) AS n, {sums} AS h FROM {quote(table.name)}{group}) AS windows"
    ).one()
    return TableCheck(int(rows), f"{int(total):x}")


# ---------------------------------------------------------------- the text policy

# (table, column, the text policy's kind); JSON lists are checked item by item.
POLICY_COLUMNS = (
    ("annotators", "name", "annotator"),
    ("categories", "name", "category"),
    ("categories", "synonyms", "synonym"),
    ("categories", "synset", "synset"),
    ("categories", "definition", "definition"),
    ("images", "split", "split"),
    ("images", "file_name", "file_name"),
)
SHOWN_OFFENDERS = 10


def check_text_policy(conn: Connection) -> None:
    """MigrationError listing the rows whose text breaks :mod:`pipeline.text` (the limits
    both backends hold), before anything is written."""
    offenders: list[str] = []
    count = 0
    for table_name, column, kind in POLICY_COLUMNS:
        table = s.metadata.tables[table_name]
        rows = conn.execute(select(table.c.id, table.c[column]).order_by(table.c.id))
        for row_id, value in rows:
            values = value if isinstance(value, list) else [value]
            for item in values:
                reason = text_policy.problem(kind, item)
                if reason is None:
                    continue
                count += 1
                if len(offenders) < SHOWN_OFFENDERS:
                    offenders.append(f"{table_name} id {row_id}: {reason}")
    if offenders:
        more = f"; and {count - len(offenders)} more" if count > len(offenders) else ""
        raise MigrationError(
            f"{count} value{'s' if count != 1 else ''} of the source break the text policy "
            "both backends hold, so nothing was written (fix them in the source first): "
            + "; ".join(offenders)
            + more
        )


# ---------------------------------------------------------------- SQLite destination


def _prepare_folder(folder: Path | None) -> bool:
    """Check a SQLite destination folder; True when the migration creates it."""
    if folder is None:
        return False
    if folder.exists() and not folder.is_dir():
        raise MigrationError(f"{folder} is a file, not a folder")
    if (folder / DB_NAME).exists():
        if not unfinished_sqlite(folder / DB_NAME):
            raise MigrationError(f"{folder} already holds a longtail project")
        remove_sqlite_files(folder)  # what a killed migrate or init left: replaced
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    return made


def _remove_sqlite(folder: Path | None, made_folder: bool) -> None:
    if folder is None:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        (folder / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    if made_folder:
        shutil.rmtree(folder, ignore_errors=True)

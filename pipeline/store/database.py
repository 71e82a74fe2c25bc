"""The project store: one project, one database.

A project is a folder holding ``longtail.db`` (SQLite, WAL, foreign keys on) or a
PostgreSQL URL; the same SQLAlchemy Core code serves both. Every user action is one
committed transaction: use :meth:`Project.write` for changes (on SQLite it takes the
write lock at ``BEGIN IMMEDIATE``, so read-then-write code cannot race another
process) and :meth:`Project.read` for consistent reads.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.pool import QueuePool

from .. import __version__
from ..errors import (
    DamagedProjectError,
    DiskFullError,
    LongtailError,
    NotAllowedError,
    NotAProjectError,
    ReadOnlyProjectError,
    SchemaVersionError,
)
from ..team import postgres as teamdb
from . import schema as s
from .credentials import scrub, server_engine, shown
from .migrations import MIGRATIONS, Migration, MigrationDeferred
from .settings import ProjectSettings

DB_NAME = "longtail.db"
PROJECT_MARK = "longtail-project"
# meta key present while init or migrate fills a new project ("pid@host"); see create().
BUILDING_MARK = "building"



def now() -> float:
    return time.time()


def inserted_id(result: CursorResult[Any]) -> int:
    """The id of the one row an INSERT wrote."""
    key = result.inserted_primary_key
    if key is None:  # only for statements that are not single-row INSERTs
        raise ValueError("the statement inserted no row with a primary key")
    return int(key[0])


SETTINGS_CHECKS: list[Callable[[Connection, Project], None]] = []
"""Run inside :meth:`Project.update_settings`'s transaction before anything changes; each
raises to refuse. :mod:`pipeline.team.roles` adds its admin rule on import: the rule builds on
the store, so the store does not import it."""


@dataclass(frozen=True)
class Annotator:
    id: int
    name: str
    is_bot: bool = False


class Project:
    """An open project. Thread-safe: connections come from the engine's pool."""

    def __init__(
        self, engine: Engine, folder: Path | None, url: str, *, read_only: bool = False
    ) -> None:
        self.engine = engine
        self.folder = folder
        self.url = shown(url)  # never the password: this is what gets shown and passed on
        # Opened from a folder this process cannot write (a read-only mount, say):
        # reads work, every write raises ReadOnlyProjectError.
        self.read_only = read_only

    # ------------------------------------------------------------ opening, creating

    @classmethod
    def create(
        cls,
        target: str | os.PathLike[str],
        *,
        settings: ProjectSettings | None = None,
        exist_ok: bool = False,
        building: bool = False,
    ) -> Project:
        """A new, empty project in folder ``target`` (created) or at a database URL.

        The database must be empty: a PostgreSQL database with other tables is refused
        with their names (nothing is written into them). A database file left by a
        killed ``init`` or ``migrate`` (no tables, or still marked as being built) is
        recognised and replaced. ``building``: the project stays marked as unfinished
        (``open`` refuses it) until :meth:`finish_building`, so a command that fills it
        in several transactions leaves all or nothing.
        """
        url, folder = _locate(target)
        if folder is not None:
            db = folder / DB_NAME
            if db.exists() and not exist_ok:
                if not unfinished_sqlite(db):
                    raise LongtailError(f"{folder} already holds a longtail project")
                remove_sqlite_files(folder)  # a killed run's leftover: replaced
            if folder.exists() and not folder.is_dir():
                raise LongtailError(f"{folder} is a file, not a folder")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LongtailError(f"cannot create the folder {folder}: {exc.strerror}") from None
            if not _writable(folder):
                raise ReadOnlyProjectError(
                    f"{folder} is read-only: a project cannot be created there"
                )
        project = cls(_engine(url), folder, url)
        try:
            with project.write() as conn:
                project._create_in(conn, target, settings, exist_ok, building)
        except BaseException:
            project.close()
            raise
        return project

    def _create_in(
        self,
        conn: Connection,
        target: str | os.PathLike[str],
        settings: ProjectSettings | None,
        exist_ok: bool,
        building: bool,
    ) -> None:
        if folder_less := self.folder is None:
            _replace_unfinished_server_project(conn, target)
        names = set(inspect(conn).get_table_names())
        if names and (folder_less or _read_version(conn, target) is None):
            if "meta" in names and read_meta(conn, "application") == PROJECT_MARK:
                if exist_ok:
                    return
                raise LongtailError(f"{shown(target)} already holds a longtail project")
            listed = ", ".join(sorted(names)[:12]) + (" ..." if len(names) > 12 else "")
            raise LongtailError(
                f"{shown(target)} is not empty: it has {len(names)} tables of another "
                f"application ({listed}); a project needs an empty database (createdb a "
                "new one)"
            )
        if _read_version(conn, target) is None:
            _migrate(conn, 0, MIGRATIONS)
            conn.execute(
                s.meta.insert(),
                [
                    {"key": "application", "value": PROJECT_MARK},
                    {"key": "created_at", "value": repr(now())},
                    {"key": "created_by", "value": __version__},
                ],
            )
            values = (settings or ProjectSettings()).as_dict()
            conn.execute(s.settings.insert(), [{"key": k, "value": v} for k, v in values.items()])
            if building:
                write_meta(conn, BUILDING_MARK, f"{os.getpid()}@{socket.gethostname()}")

    def discard_unfinished(self) -> None:
        """Remove the project :meth:`create` made with ``building=True`` (a command that
        filled it failed): its database files, or on a server its tables. Closes it."""
        if self.folder is not None:
            self.close()
            remove_sqlite_files(self.folder)
            return
        try:
            with self.write() as conn:
                if read_meta(conn, BUILDING_MARK) is not None:
                    s.metadata.drop_all(conn)
        finally:
            self.close()

    def finish_building(self) -> None:
        """The project :meth:`create` made with ``building=True`` is complete: it opens."""
        with self.write() as conn:
            conn.execute(s.meta.delete().where(s.meta.c.key == BUILDING_MARK))

    @classmethod
    def open(
        cls,
        target: str | os.PathLike[str],
        *,
        migrations: Sequence[Migration] | None = None,
        read_only: bool | None = None,
    ) -> Project:
        """Open an existing project; an older schema is migrated, a newer one refused.

        A SQLite project in a folder this process cannot write (a read-only mount, a
        folder of someone else's) opens read-only unless ``read_only`` says otherwise:
        reading works (``status``, ``export``), a write raises ReadOnlyProjectError.
        """
        url, folder = _locate(target)
        if folder is not None:
            if not folder.exists():
                raise NotAProjectError(f"{folder} does not exist")
            if not (folder / DB_NAME).is_file():
                raise NotAProjectError(f"{folder} is not a longtail project (no {DB_NAME} in it)")
            _check_sqlite_file(folder / DB_NAME)
            if unfinished_sqlite(folder / DB_NAME):
                raise NotAProjectError(
                    f"{folder} holds an unfinished project (left by an init or migrate that "
                    "did not end); run that command again to replace it"
                )
            if read_only is None:
                read_only = not (_writable(folder) and _writable(folder / DB_NAME))
            if read_only:
                return cls._open_read_only(target, folder, migrations)
        migrations = list(MIGRATIONS if migrations is None else migrations)
        project = cls(_engine(url), folder, url)
        try:
            with project.write() as conn:
                version = _read_version(conn, target)
                if version is None or read_meta(conn, "application") != PROJECT_MARK:
                    raise NotAProjectError(f"{shown(target)} is not a longtail project")
                _refuse_unfinished(conn, target)
                check_tables(conn, target, version)
                if version > len(migrations):
                    raise SchemaVersionError(
                        f"{shown(target)} was written by a newer longtail (schema version {version}; "
                        f"this longtail {__version__} reads up to {len(migrations)}); "
                        "upgrade longtail to open it"
                    )
                _migrate(conn, version, migrations)
        except sa_exc.DatabaseError as exc:
            project.close()
            raise NotAProjectError(
                f"{shown(target)} is not a longtail project ({scrub(str(exc.orig))})"
            ) from exc
        except LongtailError:
            project.close()
            raise
        return project

    @classmethod
    def _open_read_only(
        cls, target: str | os.PathLike[str], folder: Path, migrations: Sequence[Migration] | None
    ) -> Project:
        db = folder / DB_NAME
        wal = folder / f"{DB_NAME}-wal"
        shm = folder / f"{DB_NAME}-shm"
        # A WAL database opens read-only when its -shm file exists or can be made; in a
        # read-only folder after a clean close neither -wal nor -shm is left, and the
        # file is opened as immutable (exact: nothing is waiting in a -wal file).
        if shm.exists() or _writable(folder):
            url = f"sqlite:///file:{db}?mode=ro&uri=true"
        elif wal.exists() and wal.stat().st_size > 0:
            raise ReadOnlyProjectError(
                f"{target} is read-only and was not closed cleanly ({wal.name} holds "
                "changes not yet in the database); open it once where it can be written"
            )
        else:
            url = f"sqlite:///file:{db}?mode=ro&immutable=1&uri=true"
        project = cls(_engine(url, read_only=True), folder, url, read_only=True)
        known = len(MIGRATIONS if migrations is None else migrations)
        try:
            with project.read() as conn:
                version = _read_version(conn, target)
                if version is None or read_meta(conn, "application") != PROJECT_MARK:
                    raise NotAProjectError(f"{target} is not a longtail project")
                _refuse_unfinished(conn, target)
                check_tables(conn, target, version)
                if version > known:
                    raise SchemaVersionError(
                        f"{target} was written by a newer longtail (schema version {version}; "
                        f"this longtail {__version__} reads up to {known}); upgrade longtail"
                    )
                if version < known:
                    raise ReadOnlyProjectError(
                        f"{target} is read-only and was written by an older longtail (schema "
                        f"version {version}, now {known}); open it once where it can be "
                        "written to upgrade it"
                    )
        except sa_exc.DatabaseError as exc:
            project.close()
            raise NotAProjectError(
                f"{target} is read-only and cannot be read ({exc.orig})"
            ) from exc
        except LongtailError:
            project.close()
            raise
        return project

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    # ------------------------------------------------------------ transactions

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One committed transaction holding the write lock from its start.

        ReadOnlyProjectError on a project opened read-only; DiskFullError when the
        disk fills (the transaction is rolled back: nothing of it is kept).
        """
        if self.read_only:
            raise ReadOnlyProjectError(
                f"the project {self.folder or self.url} is read-only (its folder cannot be "
                "written): it can be read (status, export), not changed"
            )
        with self._storage_errors(), self.engine.connect() as conn:
            conn = conn.execution_options(longtail_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction: a consistent snapshot, no write lock."""
        with self._storage_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """Turn the database's storage errors (full disk, read-only file, ...) and numbers
        no 64-bit column holds into one-line LongtailErrors."""
        try:
            yield
        except (sa_exc.DBAPIError, sqlite3.Error) as exc:
            translated = _storage_error(exc, self)
            if translated is None:
                raise
            raise translated from None
        except OverflowError as exc:  # a number no 64-bit column holds, e.g. an id >= 2^63
            if "SQLite INTEGER" not in str(exc):
                raise
            raise LongtailError(
                f"a number is too large for the project's database ({exc})"
            ) from None

    # ------------------------------------------------------------ identity and settings

    def schema_version(self) -> int:
        with self.read() as conn:
            return int(_read_version(conn) or 0)

    def settings(self) -> ProjectSettings:
        with self.read() as conn:
            return read_settings(conn)

    def update_settings(self, **changes: Any) -> ProjectSettings:
        """Change settings (checked by every :data:`SETTINGS_CHECKS` entry: an admin's
        action, :mod:`pipeline.team.roles` registers the rule); returns the new settings."""
        with self.write() as conn:
            for check in SETTINGS_CHECKS:
                check(conn, self)
            new = read_settings(conn).updated(**changes)
            for key, value in new.as_dict().items():
                if key in changes:
                    conn.execute(s.settings.delete().where(s.settings.c.key == key))
                    conn.execute(s.settings.insert().values(key=key, value=value))
        return new

    def get_meta(self, key: str) -> str | None:
        with self.read() as conn:
            return read_meta(conn, key)

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            write_meta(conn, key, value)

    # ------------------------------------------------------------ paths

    def resolve(self, path: str) -> Path:
        """An image path as stored (relative to the project folder, or absolute)."""
        p = Path(path)
        if p.is_absolute() or self.folder is None:
            return p
        return self.folder / p

    def relative(self, path: Path) -> str:
        """How to store ``path``: relative to the project folder where possible."""
        path = path.resolve()
        if self.folder is None:
            return str(path)
        try:
            return os.path.relpath(path, self.folder.resolve())
        except ValueError:  # another drive on Windows
            return str(path)

    # ------------------------------------------------------------ annotators

    def annotator(self, name: str, *, is_bot: bool = False) -> Annotator:
        """The annotator called ``name``, created on first use."""
        name = name.strip()
        if not name:
            raise LongtailError("an annotator needs a name")
        from ..text import clean  # the one text policy (decision 0024)

        name = clean("annotator", name, where="annotator")
        with self.write() as conn:
            row = conn.execute(select(s.annotators).where(s.annotators.c.name == name)).first()
            if row is None:
                new_id = inserted_id(
                    conn.execute(
                        s.annotators.insert().values(name=name, is_bot=is_bot, created_at=now())
                    )
                )
                return Annotator(new_id, name, is_bot)
        return Annotator(int(row.id), row.name, bool(row.is_bot))

    # ------------------------------------------------------------ counts

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        tables = {
            "images": s.images,
            "categories": s.categories,
            "annotators": s.annotators,
            "spots": s.spots,
            "instances": s.instances,
            "segments": s.segments,
            "verdicts": s.verdicts,
            "negative_checks": s.negative_checks,
            "work_items": s.work_items,
            "events": s.events,
            "models": s.models,
        }
        with self.read() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for name, t in tables.items()
            }


# ---------------------------------------------------------------- engine set-up


def _locate(target: str | os.PathLike[str]) -> tuple[str, Path | None]:
    """The database URL and the project folder (None for a server database)."""
    text = os.fspath(target)
    if "://" in text:
        if text.startswith("sqlite:"):
            raise LongtailError("name a SQLite project by its folder, not a sqlite:// URL")
        return text, None
    path = Path(text).expanduser()
    if path.name == DB_NAME:
        path = path.parent
    folder = path.resolve()
    return f"sqlite:///{folder / DB_NAME}", folder


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` (False on a read-only mount, even for root)."""
    return os.access(path, os.W_OK)


# SQLite's result codes and PostgreSQL's SQLSTATEs for a full disk and a read-only store.
_SQLITE_FULL, _SQLITE_READONLY = 13, 8
_PG_DISK_FULL, _PG_READ_ONLY = "53100", "25006"


def _storage_error(exc: Exception, project: Project) -> LongtailError | None:
    """The user's words for a database error the disk or the folder caused, or None.
    (Bulk writers use the driver's cursor: its errors come unwrapped.)"""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    code = code & 0xFF if isinstance(code, int) else None
    state = getattr(orig, "sqlstate", None)
    text = str(orig)
    where = project.folder or project.url
    if code == _SQLITE_FULL or state == _PG_DISK_FULL or "database or disk is full" in text:
        return DiskFullError(
            f"the disk holding {where} is full ({text}); the change was not saved and the "
            "project is as it was before it"
        )
    if code == _SQLITE_READONLY or state == _PG_READ_ONLY or "readonly database" in text:
        return ReadOnlyProjectError(
            f"the project {where} is read-only ({text}); the change was not saved"
        )
    if state == teamdb.INSUFFICIENT_PRIVILEGE:  # a grant, a policy, the work-queue trigger
        return NotAllowedError(
            f"the project's database refused this: {teamdb.refusal_text(orig)} (your login's "
            f"role in the project does not allow it; its admins change roles: "
            f"longtail team {where} list)"
        )
    return None


def _engine(url: str, *, read_only: bool = False) -> Engine:
    if not url.startswith("sqlite:"):
        # The password never stays in the engine's URL (pipeline/store/credentials.py).
        return server_engine(url, pool_pre_ping=True)
    # A pool keeps connections open: closing the last connection of a WAL database
    # checkpoints it, which would cost every short transaction a few milliseconds.
    # Connections may be handed between threads (one at a time, never shared), and a
    # forked child drops the parent's pool so that no connection crosses processes.
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=16,
        connect_args={"timeout": 60, "check_same_thread": False},
    )
    _forget_pool_in_forked_children(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        if not read_only:  # a read-only connection cannot change the journal mode
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL (with WAL): a commit survives the process being killed; an OS crash or
        # power cut may lose the last commits but never corrupts the database. FULL
        # would fsync every commit: 10-50 ms stalls on a busy disk (decision 0051).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("longtail_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _forget_pool_in_forked_children(engine: Engine) -> None:
    ref = weakref.ref(engine)

    def after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)  # the parent keeps using its connections

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=after_fork)


def _refuse_unfinished(conn: Connection, target: object) -> None:
    mark = read_meta(conn, BUILDING_MARK)
    if mark is not None:
        raise NotAProjectError(
            f"{shown(os.fspath(target)) if isinstance(target, (str, os.PathLike)) else target} "
            f"holds an unfinished project (an init or migrate by {mark} that did not end); "
            "run that command again to replace it"
        )


def _builder_gone(mark: str) -> bool:
    """Whether the process named by a building mark ("pid@host") has ended. A mark of
    another host is taken as ended only when old enough to be a leftover: here, never."""
    pid, _, host = mark.partition("@")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False  # still running: not a leftover


def unfinished_sqlite(db: Path) -> bool:
    """Whether ``db`` is what a killed ``init``/``migrate`` left: a database with no
    tables (its transaction never committed), or one still marked as being built by a
    process that has ended."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return False
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return True
        if "meta" not in tables:
            return False
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (BUILDING_MARK,)).fetchone()
        return row is not None and _builder_gone(row[0])
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def remove_sqlite_files(folder: Path) -> None:
    """Remove a project's database and its -wal, -shm and -journal files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        (folder / f"{DB_NAME}{suffix}").unlink(missing_ok=True)


def _replace_unfinished_server_project(conn: Connection, target: object) -> None:
    """A PostgreSQL project left unfinished by an init or migrate whose process ended:
    its tables are dropped (in this transaction) so that the new one replaces it."""
    if not conn.dialect.has_table(conn, "meta"):
        return
    mark = read_meta(conn, BUILDING_MARK)
    if mark is None or read_meta(conn, "application") != PROJECT_MARK:
        return
    if not _builder_gone(mark):
        raise LongtailError(
            f"{shown(os.fspath(target)) if isinstance(target, (str, os.PathLike)) else target} "
            f"is being built by {mark}; wait for it, or stop it first"
        )
    s.metadata.drop_all(conn)


def _check_sqlite_file(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(16)
    if head and head != b"SQLite format 3\x00":
        raise NotAProjectError(f"{path} is not a longtail project (not a SQLite database)")


def read_settings(conn: Connection) -> ProjectSettings:
    """The project's settings, read inside the caller's transaction."""
    rows = conn.execute(select(s.settings.c.key, s.settings.c.value)).all()
    return _parse_settings(tuple(sorted((k, json.dumps(v)) for k, v in rows)))


@lru_cache(maxsize=32)
def _parse_settings(rows: tuple[tuple[str, str], ...]) -> ProjectSettings:
    # Checking settings costs more than reading them (every answer reads them); they
    # rarely change, so the checked value is kept per distinct set of stored values.
    return ProjectSettings.from_mapping({k: json.loads(v) for k, v in rows})


def read_meta(conn: Connection, key: str) -> str | None:
    """A ``meta`` value (None when absent, or when the table does not exist)."""
    try:
        return conn.execute(select(s.meta.c.value).where(s.meta.c.key == key)).scalar()
    except sa_exc.OperationalError:
        return None
    except sa_exc.ProgrammingError:
        return None


def write_meta(conn: Connection, key: str, value: str) -> None:
    conn.execute(s.meta.delete().where(s.meta.c.key == key))
    conn.execute(s.meta.insert().values(key=key, value=value))


def read_meta_json(conn: Connection, key: str, default: Any, *, target: object = None) -> Any:
    """A JSON ``meta`` value; DamagedProjectError when it is not JSON, or not of the
    default's type (a list where a list belongs)."""
    value = read_meta(conn, key)
    if not value:
        return default
    try:
        decoded = json.loads(value)
    except ValueError:
        raise DamagedProjectError(
            f"project {_named(conn, target)} is damaged: its meta value {key} is not JSON"
        ) from None
    if default is not None and not isinstance(decoded, type(default)):
        raise DamagedProjectError(
            f"project {_named(conn, target)} is damaged: its meta value {key} is not a "
            f"JSON {type(default).__name__}"
        )
    return decoded


def write_meta_json(conn: Connection, key: str, value: Any) -> None:
    write_meta(conn, key, json.dumps(value, sort_keys=True))


def _read_version(conn: Connection, target: object = None) -> int | None:
    """The schema version, or None for a database without longtail's meta table.
    DamagedProjectError for a longtail project whose version is missing, not a whole
    number or below 1 (a version longtail never wrote: migrating from it would re-run
    migrations over tables that have them)."""
    if not conn.dialect.has_table(conn, "meta"):
        return None
    value = read_meta(conn, "schema_version")
    if value is None:
        if read_meta(conn, "application") == PROJECT_MARK:
            raise DamagedProjectError(
                f"project {_named(conn, target)} is damaged: its schema version is missing"
            )
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise DamagedProjectError(
            f"project {_named(conn, target)} is damaged: its schema version {value[:40]!r} "
            "is not a version longtail writes (a whole number from 1)"
        )
    return int(text)


# The tables every project has had since schema version 1 (version 1 creates them all).
REQUIRED_TABLES = (
    "meta",
    "settings",
    "images",
    "categories",
    "annotators",
    "spot_visits",
    "spotting_finished",
    "spots",
    "image_categories",
    "instances",
    "segments",
    "verdicts",
    "exhaustive_checks",
    "negative_checks",
    "work_items",
    "drafts",
    "events",
    "models",
    "category_sets",
    "category_set_members",
    "exhaustive_images",
)


# The tables a later migration added: the schema version that has them first.
TABLE_SINCE = {
    "drafts": 2,
    "category_sets": 7,
    "category_set_members": 7,
    "exhaustive_images": 7,
}

# The JSON meta values every command may read (key -> what an absent one reads as).
JSON_META: dict[str, Any] = {"images.roots": []}


def check_tables(conn: Connection, target: object, version: int) -> None:
    """DamagedProjectError naming the first of :data:`REQUIRED_TABLES` that is missing,
    or the first of :data:`JSON_META` that is not JSON of its type."""
    present = set(inspect(conn).get_table_names())
    missing = [
        name
        for name in REQUIRED_TABLES
        if name not in present and version >= TABLE_SINCE.get(name, 1)
    ]
    if missing:
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:])})" if missing[1:] else ""
        raise DamagedProjectError(
            f"project {_named(conn, target)} is damaged: the table {missing[0]} is missing"
            f"{more} (schema version {version})"
        )
    for key, default in JSON_META.items():
        read_meta_json(conn, key, default, target=target)


def _named(conn: Connection, target: object) -> str:
    """How a message names the project: as the user gave it, else by its database."""
    if target is not None:
        return shown(os.fspath(target)) if isinstance(target, (str, os.PathLike)) else str(target)
    database = conn.engine.url.database or ""
    if conn.dialect.name == "sqlite":
        return str(Path(database.removeprefix("file:").split("?")[0]).parent)
    return str(shown(str(conn.engine.url)))


def _migrate(conn: Connection, version: int, migrations: Sequence[Migration]) -> None:
    """Apply migrations ``version`` .. end in this transaction; record the new version."""
    if version == len(migrations):
        return
    reached = version
    deferred: MigrationDeferred | None = None
    for step in migrations[version:]:
        try:
            step(conn)
        except MigrationDeferred as exc:
            deferred = exc
            break  # nothing of it was done: the project stays at the version reached
        reached += 1
    if reached != version:
        write_meta(conn, "schema_version", str(reached))
    if deferred is not None and not conn.dialect.has_table(conn, "exhaustive_images"):
        # Every reader reads the pair_labels view of version 7: without it this
        # longtail cannot work as the older version did.
        raise SchemaVersionError(
            f"project {_named(conn, None)} is at schema version {reached} and this longtail "
            f"needs version 7, which only its owner can apply: {deferred}"
        )

"""``longtail check``: is a project sound? (issue 20; decision 0025)

Three layers, each read-only:

1. the database's own check: SQLite's ``PRAGMA quick_check`` and
   ``PRAGMA foreign_key_check``; on PostgreSQL, ``amcheck``'s B-tree checks where the
   extension is installed (the server checksums its pages itself otherwise);
2. what opening needs: the schema version, every table, the settings and the JSON
   meta values (the same rules :meth:`Project.open` applies, each reported);
3. the pipeline's rules: :func:`pipeline.federated.check_invariants` and the work
   queue's bookkeeping (:func:`work_queue_violations`).

The result is a list of findings; none means sound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.engine import Connection

from .errors import LongtailError
from .store import schema as s
from .store.database import JSON_META, Project, read_meta_json, read_settings

wi = s.work_items


@dataclass(frozen=True)
class Finding:
    """One thing wrong, located: ``where`` names the table, row or rule."""

    layer: str  # "database", "schema", "pipeline", "work queue"
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.layer}: {self.where}: {self.detail}"


def check_project(project: Project, *, limit: int = 1000) -> list[Finding]:
    """Every finding (at most ``limit`` per layer) in one read transaction."""
    found: list[Finding] = []
    with project.read() as conn:
        found += database_findings(conn, limit)
        found += metadata_findings(conn)
        if not found:  # the pipeline's rules need sound tables to mean anything
            found += pipeline_findings(conn, limit)
    return found


def database_findings(conn: Connection, limit: int) -> list[Finding]:
    if conn.dialect.name == "sqlite":
        out = []
        rows = conn.exec_driver_sql(f"PRAGMA quick_check({int(limit)})").scalars().all()
        out += [Finding("database", "quick_check", str(r)) for r in rows if r != "ok"]
        for row in conn.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(limit):
            table, rowid, parent = row[0], row[1], row[2]
            out.append(
                Finding("database", f"{table} row {rowid}", f"refers to a missing {parent} row")
            )
        return out
    return _postgres_findings(conn, limit)


def _postgres_findings(conn: Connection, limit: int) -> list[Finding]:
    has_amcheck = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'")
    ).scalar()
    if not has_amcheck:
        return []
    out = []
    indexes = conn.execute(
        text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.amname = 'btree' AND n.nspname = current_schema()"
        )
    ).scalars()
    for name in indexes:
        try:
            with conn.begin_nested():
                conn.execute(text("SELECT bt_index_check(CAST(:n AS regclass))"), {"n": name})
        except Exception as exc:  # amcheck reports a damaged index as an error
            out.append(Finding("database", f"index {name}", str(exc).splitlines()[0]))
        if len(out) >= limit:
            break
    return out


def metadata_findings(conn: Connection) -> list[Finding]:
    from .store.database import REQUIRED_TABLES, TABLE_SINCE, _read_version

    out: list[Finding] = []
    try:
        version = _read_version(conn)
    except LongtailError as exc:
        out.append(Finding("schema", "meta.schema_version", _reason(exc)))
        version = None
    present = set(conn.dialect.get_table_names(conn))
    for name in REQUIRED_TABLES:
        if name not in present and (version or 1) >= TABLE_SINCE.get(name, 1):
            out.append(Finding("schema", f"table {name}", f"is missing (schema version {version})"))
    if "settings" in present:
        try:
            read_settings(conn)
        except LongtailError as exc:
            out.append(Finding("schema", "settings", _reason(exc)))
        except ValueError as exc:
            out.append(Finding("schema", "settings", f"a value is not JSON ({exc})"))
    if "meta" in present:
        for key, default in JSON_META.items():
            try:
                read_meta_json(conn, key, default)
            except LongtailError as exc:
                out.append(Finding("schema", f"meta.{key}", _reason(exc)))
    return out


def _reason(exc: Exception) -> str:
    """A DamagedProjectError's reason without its "project P is damaged: " head."""
    message = str(exc)
    head = " is damaged: "
    return message.split(head, 1)[1] if head in message else message


def pipeline_findings(conn: Connection, limit: int) -> list[Finding]:
    from .federated import check_invariants

    out = [
        Finding("pipeline", v.rule, _where(v.image_id, v.category_id) + v.detail)
        for v in check_invariants(conn)[:limit]
    ]
    return out + work_queue_violations(conn, limit)


def _where(image_id: int | None, category_id: int | None) -> str:
    where = f"image {image_id}" if image_id is not None else "project"
    return where + (f", category {category_id}: " if category_id is not None else ": ")


# The work queue's bookkeeping: (rule, condition on a work item, what is wrong).
WORK_QUEUE_RULES = (
    (
        "leased-without-holder",
        and_(
            wi.c.status == s.LEASED, or_(wi.c.lease_owner.is_(None), wi.c.lease_expires.is_(None))
        ),
        "is leased but names no holder or no expiry",
    ),
    (
        "open-with-holder",
        and_(wi.c.status == s.OPEN, wi.c.lease_owner.is_not(None)),
        "is open but still names a holder",
    ),
    (
        "done-without-answerer",
        and_(wi.c.status == s.DONE, or_(wi.c.done_by.is_(None), wi.c.done_at.is_(None))),
        "is done but names no annotator or time",
    ),
    (
        "held-by-the-excluded",
        and_(wi.c.lease_owner.is_not(None), wi.c.lease_owner == wi.c.excluded_annotator),
        "is held by the annotator who may not take it (its segment's author)",
    ),
    (
        "negative-attempts",
        wi.c.attempts < 0,
        "counts fewer than zero attempts",
    ),
)


def work_queue_violations(conn: Connection, limit: int) -> list[Finding]:
    out = []
    for rule, condition, detail in WORK_QUEUE_RULES:
        rows = conn.execute(select(wi.c.id).where(condition).order_by(wi.c.id).limit(limit))
        out += [Finding("work queue", f"{rule}: work item {r}", detail) for r in rows.scalars()]
    # Two live items for the same piece of work: two people would answer it.
    key = (wi.c.stage, wi.c.image_id, wi.c.category_id, wi.c.instance_id, wi.c.segment_id)
    dup = (
        select(func.min(wi.c.id), func.count())
        .where(wi.c.status.in_((s.OPEN, s.LEASED)))
        .group_by(*key)
        .having(func.count() > 1)
        .limit(limit)
    )
    for first, count in conn.execute(dup):
        out.append(
            Finding(
                "work queue",
                f"duplicate-live-items: work item {first}",
                f"and {count - 1} more open items ask for the same work",
            )
        )
    return out


def describe(target: str | os.PathLike[str], findings: list[Finding]) -> str:
    return f"{os.fspath(target)}: {len(findings)} finding{'s' if len(findings) != 1 else ''}"

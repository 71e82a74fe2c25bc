"""The schema's versions: each migration brings a project from one version to the next.

:meth:`pipeline.store.database.Project.open` applies those a project lacks, in one
transaction, and records the version reached (``meta.schema_version``). Entry ``i`` of
:data:`MIGRATIONS` brings version ``i`` to ``i + 1``; version 1 creates every table of the
current schema, so a later step must tolerate finding its change made. Append, never edit,
once shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ..team import postgres as teamdb
from . import schema as s

Migration = Callable[[Connection], None]


def _create_v1(conn: Connection) -> None:
    s.metadata.create_all(conn)


def _add_drafts_v2(conn: Connection) -> None:
    # A new project's version 1 already made every table of the current schema.
    s.drafts.create(conn, checkfirst=True)


def _add_annotator_role_v3(conn: Connection) -> None:
    columns = {c["name"] for c in inspect(conn).get_columns("annotators")}
    if "role" not in columns:
        conn.execute(
            text(
                f"ALTER TABLE annotators ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT '{s.ANNOTATOR}'"
            )
        )


def _add_effort_index_v4(conn: Connection) -> None:
    # A new project's version 1 already made it (in its version 5 form). Building it reads
    # the whole event log (about 12 s for 4.3M events), once. Spelled out, not taken from
    # the schema, whose index has since gained a column this version does not have yet.
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_events_effort "
        "ON events (stage, annotator_id, action, duration_s, clicks)"
    )
    _analyze_new_index(conn, "ix_events_effort")


def _statistics_columns_v5(conn: Connection) -> None:
    """The segmentation tool as a column of the event log, copied from the payloads of
    the answers and corrections logged before, and in the effort index, so the effort by
    tool is summed along the index (4.1 s -> 0.6 s for 1M segmentation answers). The
    instances' (image, category) index gains the status and crowd flag, so a positive
    label is checked from the index alone (positive pairs 3.2 s -> 2.3 s for 1M pairs).
    The explorer's filters get their indexes: the claim index gains the image, and the
    items by who completed them, and the rejected segments. About 27 s once on a store
    of 4.3M events, 1M instances and 1.1M work items."""
    columns = {c["name"] for c in inspect(conn).get_columns("events")}
    if "tool" not in columns:
        conn.exec_driver_sql("ALTER TABLE events ADD COLUMN tool VARCHAR(16)")
    ev = s.events
    for action, path in (("answer", ("answer", "tool")), ("correct", ("correction", "tool"))):
        conn.execute(
            ev.update()
            .where(ev.c.stage == s.SEGMENTATION, ev.c.action == action, ev.c.tool.is_(None))
            .values(tool=ev.c.payload[path].as_string())
        )
    for table, name in (
        (s.events, "ix_events_effort"),
        (s.instances, "ix_instances_image"),
        (s.work_items, "ix_work_items_claim"),
        (s.work_items, "ix_work_items_done_by"),
        (s.segments, "ix_segments_rejected"),
    ):
        _rebuild_index(conn, table, name)


def _rebuild_index(conn: Connection, table: Any, name: str) -> None:
    """Build the schema's index ``name`` again where the database's has other columns."""
    index = next(i for i in table.indexes if i.name == name)
    wanted = [c.name for c in index.columns]
    found = next((i for i in inspect(conn).get_indexes(table.name) if i["name"] == name), None)
    if found is not None and found["column_names"] == wanted:
        return
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    index.create(conn)
    _analyze_new_index(conn, name)


def _analyze_new_index(conn: Connection, name: str) -> None:
    if conn.dialect.name == "sqlite" and conn.dialect.has_table(conn, "sqlite_stat1"):
        # An analyzed database without figures for a new index: SQLite would think it
        # very selective and walk it (with a table read per row) where the (stage, time)
        # index serves, e.g. the burn-down's first and last answer: 2 s became 15 s.
        conn.exec_driver_sql(f"ANALYZE {name}")


class MigrationDeferred(Exception):
    """A migration this login may not apply (only the project's owner may): the project
    stays at the version before it, works as that version did, and says so."""


def _team_security_v6(conn: Connection) -> None:
    """PostgreSQL: the project's group roles, grants, row-level security and the
    functions that change the team (pipeline/store/schema.py, decision 0020), applied by the
    owner of the tables, who needs CREATEROLE; anyone else leaves the project at
    version 5 (``longtail team URL upgrade`` by the owner applies it). SQLite: nothing
    (the file's permissions are the boundary)."""
    if conn.dialect.name != "postgresql":
        return
    reason = teamdb.apply_team_security(conn)
    if reason is not None:
        raise MigrationDeferred(reason)


def _exhaustive_images_v7(conn: Connection) -> None:
    """The images an import is exhaustive over, one row each naming its category set,
    and the ``pair_labels`` view that reads their implicit negatives with the explicit
    pairs (pipeline/store/schema.py, decision 0080). Only adds: the explicit negatives a
    COCO import stored before stay rows of image_categories, valid as they are. On a
    secured PostgreSQL project only its owner may make tables; anyone else leaves the
    project at version 6 (then this longtail refuses to open it: see _migrate)."""
    made = not conn.dialect.has_table(conn, "exhaustive_images")
    secured = conn.dialect.name == "postgresql" and teamdb.group_prefix(conn) is not None
    if made and secured:
        reason = teamdb.blocker(conn)
        if reason is not None:
            raise MigrationDeferred(reason)
    for table in (s.category_sets, s.category_set_members, s.exhaustive_images):
        table.create(conn, checkfirst=True)
    for table in (s.category_set_members, s.exhaustive_images):
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    if made or "pair_labels" not in inspect(conn).get_view_names():
        for statement in s.pair_labels_ddl(conn.dialect.name):
            conn.exec_driver_sql(statement)
    if made and secured:
        # the grants of the new tables and the view (members read, admins write)
        reason = teamdb.apply_team_security(conn)
        if reason is not None:
            raise MigrationDeferred(reason)


# Ordered migrations: entry i brings a project from version i to version i + 1.
# Version 1 is the first schema (it creates the tables of the current schema, so later
# steps must tolerate finding their change made); append, never edit, once shipped.
MIGRATIONS: list[Migration] = [
    _create_v1,
    _add_drafts_v2,
    _add_annotator_role_v3,
    _add_effort_index_v4,
    _statistics_columns_v5,
    _team_security_v6,
    _exhaustive_images_v7,
]
SCHEMA_VERSION = len(MIGRATIONS)

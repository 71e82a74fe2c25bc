"""The project database schema (SQLAlchemy Core), the same for SQLite and PostgreSQL.

One project is one database. The tables follow the words of the pipeline
(docs/pipeline.md): images and categories; the answers of the six stages (spots, spot
visits, instance marks, segments, verdicts, exhaustiveness answers, negative checks);
the federated label of each (image, category) pair; work items with leases; the
event log; trained models.

Times are seconds since the epoch (float); JSON columns hold small documents.
Enumerated columns are plain strings whose values are the constants below.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Connection

from .. import constants

metadata = MetaData()

# --- enumerations --------------------------------------------------------------

# image_categories.state: the federated label of one (image, category) pair.
SPOTTED = "spotted"  # seen in stage 1 (or said present in stage 6); awaits stage 2
CONFIRMED = "confirmed"  # stage 2 confirmed the category; its instances are being made
REJECTED = "rejected"  # stage 2 said the category does not fit: not a positive
NEGATIVE = "negative"  # verified absent (stage 6): in N_c
PAIR_STATES = (SPOTTED, CONFIRMED, REJECTED, NEGATIVE)

# instances.status
MARKED = "marked"  # marked in stage 2, no segment yet
SEGMENTED = "segmented"  # a segment waits for verification
ACCEPTED = "accepted"  # its current segment passed verification
REDO = "redo"  # its last segment was rejected: back to stage 3
INSTANCE_STATES = (MARKED, SEGMENTED, ACCEPTED, REDO)

# segments.status
PENDING = "pending"
SEGMENT_ACCEPTED = "accepted"
SEGMENT_REJECTED = "rejected"
SUPERSEDED = "superseded"
SEGMENT_STATES = (PENDING, SEGMENT_ACCEPTED, SEGMENT_REJECTED, SUPERSEDED)

# work_items.status
OPEN = "open"
LEASED = "leased"
DONE = "done"
CANCELLED = "cancelled"
WORK_STATES = (OPEN, LEASED, DONE, CANCELLED)

# annotators.role
ANNOTATOR = "annotator"
VERIFIER = "verifier"
ADMIN = "admin"
ROLES = (ANNOTATOR, VERIFIER, ADMIN)
# someone taken off the team (``longtail team PROJECT remove``): their answers stay
REMOVED = "removed"

# the six stages (pipeline.constants holds them: the GUI reads them without SQLAlchemy)
SPOTTING = constants.SPOTTING
MARKING = constants.MARKING
SEGMENTATION = constants.SEGMENTATION
VERIFICATION = constants.VERIFICATION
EXHAUSTIVE = constants.EXHAUSTIVE
NEGATIVES = constants.NEGATIVES
STAGES = constants.STAGES

# where a record came from
SOURCE_PIPELINE = "pipeline"
SOURCE_IMPORTED = "imported"


def _created() -> Column:
    return Column("created_at", Float, nullable=False)


# --- the project -----------------------------------------------------------------

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
"""Schema version, creating longtail version, creation time: the project's identity."""

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
)

images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True),
    # Where the file is: relative to the project folder when possible, else absolute.
    Column("path", Text, nullable=False),
    # The name it is exported under (COCO file_name), relative to the import root.
    Column("file_name", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("sha256", String(64), nullable=True),
    Column("file_size", BigInteger, nullable=True),
    Column("mtime_ns", BigInteger, nullable=True),
    Column("split", String(32), nullable=False, default="train"),
    Column("coco_url", Text, nullable=True),
    Column("extra", JSON, nullable=True),  # license, flickr_url, date_captured, ...
    _created(),
    UniqueConstraint("path", name="uq_images_path"),
    CheckConstraint("width > 0 AND height > 0", name="ck_images_size"),
)
Index("ix_images_sha256", images.c.sha256)
Index("ix_images_file_name", images.c.file_name)

categories = Table(
    "categories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("synonyms", JSON, nullable=False, default=list),
    Column("definition", Text, nullable=False, default=""),
    Column("synset", Text, nullable=True),
    # The id the category had in the vocabulary it came from (COCO or LVIS id).
    Column("source_id", BigInteger, nullable=True),
    # Frequency as the source vocabulary gave it; exports recompute it from the data.
    Column("frequency", String(1), nullable=True),
    _created(),
    UniqueConstraint("name", name="uq_categories_name"),
)

annotators = Table(
    "annotators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("is_bot", Boolean, nullable=False, default=False),
    _created(),
    # annotator, verifier or admin (team mode); added by schema version 3.
    Column("role", String(16), nullable=False, server_default=ANNOTATOR),
    UniqueConstraint("name", name="uq_annotators_name"),
)

# --- stage 1: object spotting ------------------------------------------------------

spot_visits = Table(
    "spot_visits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=False),
    # True when the annotator saw nothing new; an image leaves the stage after
    # settings.spot_done_after such answers.
    Column("nothing_new", Boolean, nullable=False),
    _created(),
)
Index("ix_spot_visits_image", spot_visits.c.image_id)

spotting_finished = Table(
    "spotting_finished",
    metadata,
    # An image that has left stage 1: after spot_done_after "nothing new" answers in a
    # row ('visits'), or declared spotted without visits (imported data: 'declared').
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("reason", String(16), nullable=False),
    Column("finished_at", Float, nullable=False),
)

spots = Table(
    "spots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("category_id", ForeignKey("categories.id"), nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=True),
    Column("visit_id", ForeignKey("spot_visits.id", ondelete="CASCADE"), nullable=True),
    # The point on one instance; NULL when the category came from a negative check.
    Column("x", Float, nullable=True),
    Column("y", Float, nullable=True),
    _created(),
    UniqueConstraint("image_id", "category_id", name="uq_spots_image_category"),
)

# --- the federated label of each (image, category) pair -------------------------------

image_categories = Table(
    "image_categories",
    metadata,
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("categories.id"), primary_key=True),
    Column("state", String(16), nullable=False),
    # NULL: not verified yet; True: all instances segmented; False: not exhaustive.
    Column("exhaustive", Boolean, nullable=True),
    Column("source", String(16), nullable=False, default=SOURCE_PIPELINE),
    Column("updated_at", Float, nullable=False),
    CheckConstraint(
        "state IN ('spotted', 'confirmed', 'rejected', 'negative')", name="ck_pair_state"
    ),
    # not-exhaustive is a subset of positives: a negative or rejected pair has no flag.
    CheckConstraint(
        "exhaustive IS NULL OR state IN ('spotted', 'confirmed')", name="ck_pair_exhaustive"
    ),
)
Index("ix_image_categories_category", image_categories.c.category_id, image_categories.c.state)

# --- images exhaustive over a category set (schema version 7) -------------------------
#
# A COCO-format import annotates every instance of its categories, so on each of its
# images every category it does not annotate is a verified negative (decision 0028).
# Stored as one row per image naming the import's category set, not one negative row
# per absent pair (3.6M rows for a 50k-image, 80-category file): decision 0080.

category_sets = Table(
    "category_sets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(16), nullable=False, default=SOURCE_IMPORTED),
    _created(),
)

category_set_members = Table(
    "category_set_members",
    metadata,
    Column("set_id", ForeignKey("category_sets.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("categories.id"), primary_key=True),
)

# On this image every category of the set that has no image_categories row and no
# instance is a verified negative (an explicit row always wins: it is the later answer).
exhaustive_images = Table(
    "exhaustive_images",
    metadata,
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("set_id", ForeignKey("category_sets.id"), nullable=False),
    _created(),
)
Index("ix_exhaustive_images_set", exhaustive_images.c.set_id)

# The pair labels every reader reads: the explicit rows of image_categories, and the
# implicit negatives of the exhaustive images, with the same columns. Two views (made by
# :func:`pair_labels_ddl` after the tables, dropped before them), declared here for
# queries on a MetaData of their own, so that ``metadata.create_all`` does not make them
# tables. Writes go to image_categories. ``implicit_negatives`` is the one definition of
# an implicit negative; ``pair_labels`` adds it to the rows. A query that only looks at
# states other than 'negative' may read image_categories itself.
views = MetaData()
implicit_negatives = Table(
    "implicit_negatives",
    views,
    Column("image_id", Integer),
    Column("category_id", Integer),
    Column("source", String(16)),
    Column("created_at", Float),
)
pair_labels = Table(
    "pair_labels",
    views,
    Column("image_id", Integer),
    Column("category_id", Integer),
    Column("state", String(16)),
    Column("exhaustive", Boolean),
    Column("source", String(16)),
    Column("updated_at", Float),
)
# Sets by category: the implicit negatives of one category (stage 6's quota per category,
# the explorer's "verified absent" filter) are found from its sets.
Index("ix_category_set_members_category", category_set_members.c.category_id)

IMPLICIT_NEGATIVES_SQL = (
    "SELECT e.image_id, m.category_id, cs.source, e.created_at "
    "FROM exhaustive_images e "
    "JOIN category_sets cs ON cs.id = e.set_id "
    "JOIN category_set_members m ON m.set_id = e.set_id "
    "WHERE NOT EXISTS (SELECT 1 FROM image_categories p "
    "WHERE p.image_id = e.image_id AND p.category_id = m.category_id) "
    "AND NOT EXISTS (SELECT 1 FROM instances i "
    "WHERE i.image_id = e.image_id AND i.category_id = m.category_id)"
)
"""On an exhaustive image, every category of its set that has no image_categories row and
no instance (crowd regions included) is a verified negative: an explicit row always wins
(it is the later answer), and an instance means the category is there."""


def pair_labels_ddl(dialect: str) -> list[str]:
    """The statements that (re)make the views. On PostgreSQL they run with the reader's
    rights (``security_invoker``, PostgreSQL 15), so the grants and row-level security of
    the tables apply through them as to the tables."""
    options = " WITH (security_invoker = true)" if dialect == "postgresql" else ""
    labels = (
        "SELECT image_id, category_id, state, exhaustive, source, updated_at "
        "FROM image_categories UNION ALL "
        f"SELECT image_id, category_id, '{NEGATIVE}', CAST(NULL AS BOOLEAN), source, created_at "
        "FROM implicit_negatives"
    )
    return [
        *drop_pair_labels_ddl(),
        f"CREATE VIEW implicit_negatives{options} AS {IMPLICIT_NEGATIVES_SQL}",
        f"CREATE VIEW pair_labels{options} AS {labels}",
    ]


def drop_pair_labels_ddl() -> list[str]:
    return ["DROP VIEW IF EXISTS pair_labels", "DROP VIEW IF EXISTS implicit_negatives"]


@event.listens_for(metadata, "after_create")
def _create_views(target: MetaData, connection: Connection, **kw: Any) -> None:
    for statement in pair_labels_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)


@event.listens_for(metadata, "before_drop")
def _drop_views(target: MetaData, connection: Connection, **kw: Any) -> None:
    for statement in drop_pair_labels_ddl():
        connection.exec_driver_sql(statement)


# --- stage 2: exhaustive instance marking -----------------------------------------------

instances = Table(
    "instances",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("category_id", ForeignKey("categories.id"), nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=True),
    Column("x", Float, nullable=True),  # the marking point
    Column("y", Float, nullable=True),
    Column("box_x", Float, nullable=True),  # optional box [x, y, w, h]
    Column("box_y", Float, nullable=True),
    Column("box_w", Float, nullable=True),
    Column("box_h", Float, nullable=True),
    Column("status", String(16), nullable=False, default=MARKED),
    # Crowd regions (COCO iscrowd) are kept, shown and exported, never used as instances.
    Column("is_crowd", Boolean, nullable=False, default=False),
    Column("source", String(16), nullable=False, default=SOURCE_PIPELINE),
    # The id the annotation had in an imported file, for reports and round trips.
    Column("source_id", BigInteger, nullable=True),
    _created(),
    CheckConstraint(
        "status IN ('marked', 'segmented', 'accepted', 'redo')", name="ck_instance_status"
    ),
)
# With the status and crowd flag in it, "is there an accepted, non-crowd instance of this
# pair?" (a positive label) is answered from the index alone (schema version 5).
Index(
    "ix_instances_image",
    instances.c.image_id,
    instances.c.category_id,
    instances.c.status,
    instances.c.is_crowd,
)
Index("ix_instances_category", instances.c.category_id, instances.c.status)

# --- stage 3: instance segmentation ---------------------------------------------------

segments = Table(
    "segments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=True),
    # geometry.Mask.to_bytes(): 'polygon' (float64 rings) or 'rle' (COCO counts).
    Column("mask_kind", String(8), nullable=False),
    Column("mask", LargeBinary, nullable=False),
    Column("area", Integer, nullable=False),
    Column("bbox_x", Float, nullable=False),
    Column("bbox_y", Float, nullable=False),
    Column("bbox_w", Float, nullable=False),
    Column("bbox_h", Float, nullable=False),
    Column("status", String(16), nullable=False, default=PENDING),
    # How it was made: 'polygon', 'brush', 'proposal', 'imported', ...
    Column("tool", String(16), nullable=True),
    Column("source", String(16), nullable=False, default=SOURCE_PIPELINE),
    _created(),
    UniqueConstraint("instance_id", "version", name="uq_segments_version"),
    CheckConstraint("mask_kind IN ('polygon', 'rle')", name="ck_segment_kind"),
    CheckConstraint(
        "status IN ('pending', 'accepted', 'rejected', 'superseded')", name="ck_segment_status"
    ),
)
Index("ix_segments_instance", segments.c.instance_id, segments.c.status)
# The explorer's "has rejections" filter: the few rejected segments, without walking all.
Index(
    "ix_segments_rejected",
    segments.c.instance_id,
    sqlite_where=segments.c.status == SEGMENT_REJECTED,
    postgresql_where=segments.c.status == SEGMENT_REJECTED,
)

# --- stage 4: segment verification ----------------------------------------------------

verdicts = Table(
    "verdicts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("segment_id", ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=False),
    Column("accept", Boolean, nullable=False),
    Column("reason", Text, nullable=True),
    _created(),
    UniqueConstraint("segment_id", "annotator_id", name="uq_verdicts_once"),
)

# --- stage 5: exhaustive annotations verification ----------------------------------------

exhaustive_checks = Table(
    "exhaustive_checks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("category_id", ForeignKey("categories.id"), nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=False),
    Column("all_segmented", Boolean, nullable=False),
    _created(),
)
Index("ix_exhaustive_checks_pair", exhaustive_checks.c.image_id, exhaustive_checks.c.category_id)

# --- stage 6: negative labels -----------------------------------------------------------

negative_checks = Table(
    "negative_checks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("category_id", ForeignKey("categories.id"), nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=False),
    Column("present", Boolean, nullable=False),
    _created(),
)
Index("ix_negative_checks_pair", negative_checks.c.image_id, negative_checks.c.category_id)

# --- shared work queues -----------------------------------------------------------------

work_items = Table(
    "work_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("stage", Integer, nullable=False),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("category_id", ForeignKey("categories.id"), nullable=True),
    Column("instance_id", ForeignKey("instances.id", ondelete="CASCADE"), nullable=True),
    Column("segment_id", ForeignKey("segments.id", ondelete="CASCADE"), nullable=True),
    Column("status", String(16), nullable=False, default=OPEN),
    # Lower goes first (rare categories first in stage 6, for example).
    Column("priority", Float, nullable=False, default=0.0),
    Column("lease_owner", ForeignKey("annotators.id"), nullable=True),
    Column("lease_expires", Float, nullable=True),
    # An annotator who may not take this item (the author of a segment to verify).
    Column("excluded_annotator", ForeignKey("annotators.id"), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("done_by", ForeignKey("annotators.id"), nullable=True),
    Column("done_at", Float, nullable=True),
    _created(),
    CheckConstraint("stage BETWEEN 1 AND 6", name="ck_work_stage"),
    CheckConstraint("status IN ('open', 'leased', 'done', 'cancelled')", name="ck_work_status"),
)
# The claim query walks this index: open items of a stage in priority order. The image
# at the end answers the explorer's "work waiting in stage k" from the index alone.
Index(
    "ix_work_items_claim",
    work_items.c.stage,
    work_items.c.status,
    work_items.c.priority,
    work_items.c.id,
    work_items.c.image_id,
)
# The explorer's annotator filter: the images of the items someone completed.
Index("ix_work_items_done_by", work_items.c.done_by, work_items.c.image_id)
Index("ix_work_items_lease", work_items.c.status, work_items.c.lease_expires)
Index("ix_work_items_image", work_items.c.image_id, work_items.c.stage)
Index("ix_work_items_instance", work_items.c.instance_id)
Index("ix_work_items_segment", work_items.c.segment_id)
# Stage 6 sampling counts the pending candidates of each category.
Index("ix_work_items_category", work_items.c.category_id, work_items.c.stage, work_items.c.status)

# --- drafts: the drawing in progress on a held item (autosave) ---------------------------

drafts = Table(
    "drafts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("work_item_id", ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=False),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    # What the front end needs to rebuild the drawing (masks, marks, spots, tool), as JSON.
    Column("content", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("work_item_id", "annotator_id", name="uq_drafts_item_annotator"),
)

# --- the event log ----------------------------------------------------------------------

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("annotator_id", ForeignKey("annotators.id"), nullable=True),
    Column("stage", Integer, nullable=True),
    Column("action", String(32), nullable=False),
    Column("work_item_id", ForeignKey("work_items.id", ondelete="SET NULL"), nullable=True),
    Column("image_id", ForeignKey("images.id", ondelete="SET NULL"), nullable=True),
    Column("category_id", ForeignKey("categories.id"), nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("clicks", Integer, nullable=True),
    Column("payload", JSON, nullable=True),
    # An "undo" event names the answer event it took back; the log itself is append-only.
    Column("undoes", ForeignKey("events.id"), nullable=True),
    # The tool of a segmentation answer or correction (polygon, brush, proposal...), also
    # in its payload: a column, so the effort by tool is summed from an index (version 5).
    Column("tool", String(16), nullable=True),
)
Index("ix_events_annotator", events.c.annotator_id, events.c.at)
Index("ix_events_stage", events.c.stage, events.c.at)
# The effort statistics sum each stage's answers per annotator, action and tool: walked
# in this order, with the summed columns in the index, SQLite groups millions of events
# without sorting them or reading the table (schema versions 4 and 5; stats/effort.py).
Index(
    "ix_events_effort",
    events.c.stage,
    events.c.annotator_id,
    events.c.action,
    events.c.tool,
    events.c.duration_s,
    events.c.clicks,
)
# Undo asks "has anyone answered on this image since?" and "was this answer undone?".
Index("ix_events_image", events.c.image_id, events.c.id)
Index("ix_events_undoes", events.c.undoes)

# --- trained models ---------------------------------------------------------------------

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("architecture", String(32), nullable=False),
    Column("checkpoint", Text, nullable=True),  # path, relative to the project folder
    Column("status", String(16), nullable=False, default="training"),
    Column("categories", JSON, nullable=True),  # category ids of the heads, in order
    Column("config", JSON, nullable=True),
    Column("metrics", JSON, nullable=True),
    _created(),
    Column("finished_at", Float, nullable=True),
)

# --- team security on PostgreSQL (schema version 6) -------------------------------------
#
# The database is the server (decision 0020): a login is an annotator (``session_user``,
# by name), a role is membership of one of the project's three group roles, and grants,
# row-level security policies and a trigger refuse what a role may not do, to longtail
# and to a plain psql or psycopg client alike. The statements below are applied once by
# the project's owner (pipeline/store/database.py, migration 6); SQLite has none of this.

# Tables members may only read: written by admins (and their SECURITY DEFINER functions).
ADMIN_TABLES = (
    "meta",
    "settings",
    "images",
    "categories",
    "annotators",
    "models",
    # an import's exhaustive images (schema version 7): written by the import, an admin's
    "category_sets",
    "category_set_members",
    "exhaustive_images",
)
# Answer tables naming their author: inserted as oneself, deleted (undo) only when one's own.
AUTHORED_TABLES = (
    "spot_visits",
    "spots",
    "instances",
    "segments",
    "verdicts",
    "exhaustive_checks",
    "negative_checks",
)
# Derived state an answer changes (pair labels, finished images): members write them.
DERIVED_TABLES = ("image_categories", "spotting_finished")

GROUP_PREFIX = "lt"


def team_group_prefix(database_oid: int) -> str:
    """The prefix of one project's group roles: ``lt<oid>_`` (a database's oid is unique
    on its server, so two projects never share groups; its name may be reused)."""
    return f"{GROUP_PREFIX}{int(database_oid)}_"


def team_security_ddl(prefix: str, schema: str, database: str) -> list[str]:
    """The statements that give the project in ``schema`` its group roles (``prefix`` +
    annotator / verifier / admin), grants, policies and functions. Run by the owner of
    the tables, who needs CREATEROLE; idempotent (a re-run replaces functions and
    policies)."""
    ann, ver, adm = (f"{prefix}{r}" for r in ROLES)
    q = f'"{schema}"'
    fixed = f"SET search_path = pg_catalog, {q}, pg_temp"
    me = f"(SELECT {q}.longtail_me())"
    groups = "".join(
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{g}') THEN "
        f'CREATE ROLE "{g}" NOLOGIN; END IF; '
        for g in (ann, ver, adm)
    )
    out = [
        f"DO $$ BEGIN {groups}END $$",
        f'GRANT "{ann}" TO "{ver}"',
        f'GRANT "{ver}" TO "{adm}"',
        # the owner is the project's first admin; WITH ADMIN OPTION is not needed: team
        # changes go through the SECURITY DEFINER functions below
        f'GRANT "{adm}" TO SESSION_USER',
    ]
    for role, what in ((ann, "annotators"), (ver, "verifiers"), (adm, "admins")):
        comment = f"longtail project {database} ({schema}): {what}".replace("'", "''")
        out.append(f"COMMENT ON ROLE \"{role}\" IS '{comment}'")
    # -------- identity and settings, as functions the policies call
    out += [
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_me() RETURNS integer
        LANGUAGE sql STABLE SECURITY DEFINER {fixed}
        AS $$ SELECT id FROM {q}.annotators WHERE name = session_user $$""",
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_group() RETURNS text
        LANGUAGE sql IMMUTABLE {fixed} AS $$ SELECT '{prefix}'::text $$""",
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_may(role text) RETURNS boolean
        LANGUAGE sql STABLE {fixed}
        AS $$ SELECT pg_has_role(session_user, '{prefix}' || role, 'MEMBER') $$""",
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_setting(setting text) RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER {fixed}
        AS $$ SELECT value #>> '{{}}' FROM {q}.settings WHERE key = setting $$""",
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_may_verify() RETURNS boolean
        LANGUAGE sql STABLE {fixed}
        AS $$ SELECT {q}.longtail_may(
            coalesce({q}.longtail_setting('verification_role'), '{VERIFIER}')) $$""",
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_event_author(event integer) RETURNS integer
        LANGUAGE sql STABLE SECURITY DEFINER {fixed}
        AS $$ SELECT annotator_id FROM {q}.events WHERE id = event $$""",
    ]
    # -------- grants: members read everything and write only the answer tables
    out += [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {q} FROM PUBLIC",
        f'GRANT SELECT ON ALL TABLES IN SCHEMA {q} TO "{ann}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q} TO "{ann}"',
        f'GRANT ALL ON ALL TABLES IN SCHEMA {q} TO "{adm}"',
        f'GRANT ALL ON ALL SEQUENCES IN SCHEMA {q} TO "{adm}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA {q} GRANT SELECT ON TABLES TO "{ann}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA {q} GRANT ALL ON TABLES TO "{adm}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA {q} GRANT USAGE, SELECT ON SEQUENCES TO "{ann}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA {q} GRANT ALL ON SEQUENCES TO "{adm}"',
        f'GRANT USAGE ON SCHEMA {q} TO "{ann}"',
    ]
    for table in (*AUTHORED_TABLES, *DERIVED_TABLES, "work_items"):
        out.append(f'GRANT INSERT, DELETE ON {q}.{table} TO "{ann}"')
    out += [
        f'GRANT UPDATE (status) ON {q}.instances, {q}.segments TO "{ann}"',
        f'GRANT UPDATE ON {q}.image_categories, {q}.work_items TO "{ann}"',
        f'GRANT INSERT, UPDATE (undoes) ON {q}.events TO "{ann}"',
        f'GRANT INSERT, UPDATE, DELETE ON {q}.drafts TO "{ann}"',
        # an answer locks its image row (SELECT ... FOR UPDATE needs an UPDATE grant);
        # the policy below lets no update through
        f'GRANT UPDATE (id) ON {q}.images TO "{ann}"',
    ]

    # -------- row-level security
    def policies(table: str, *rules: str) -> list[str]:
        stmts = [
            f"ALTER TABLE {q}.{table} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS longtail_admin ON {q}.{table}",
            f'CREATE POLICY longtail_admin ON {q}.{table} TO "{adm}" USING (true) WITH CHECK (true)',
        ]
        for rule in rules:
            name = rule.split()[0]
            stmts.append(f"DROP POLICY IF EXISTS {name} ON {q}.{table}")
            stmts.append(f"CREATE POLICY {rule.replace('@', f'ON {q}.{table}', 1)}")
        return stmts

    read = f'longtail_read @ FOR SELECT TO "{ann}" USING (true)'
    own_insert = f'longtail_insert @ FOR INSERT TO "{ann}" WITH CHECK (annotator_id = {me})'
    own_delete = f'longtail_undo @ FOR DELETE TO "{ann}" USING (annotator_id = {me})'
    status = f'longtail_status @ FOR UPDATE TO "{ann}" USING (true) WITH CHECK (true)'
    verify = f"annotator_id = {me} AND {q}.longtail_may_verify()"
    self_ok = f"{q}.longtail_setting('allow_self_verification') = 'true'"
    not_own_segment = (
        f"NOT EXISTS (SELECT 1 FROM {q}.segments g "
        f"WHERE g.id = segment_id AND g.annotator_id = {me})"
    )
    for table in ("spot_visits", "spots", "negative_checks"):
        out += policies(table, read, own_insert, own_delete)
    # a member's new mark or mask starts unverified: only verification accepts it
    for table, first in (("instances", MARKED), ("segments", PENDING)):
        fresh = (
            f'longtail_insert @ FOR INSERT TO "{ann}" '
            f"WITH CHECK (annotator_id = {me} AND status = '{first}')"
        )
        out += policies(table, read, fresh, own_delete, status)
    out += policies(
        "verdicts",
        read,
        f'longtail_insert @ FOR INSERT TO "{ann}" '
        f"WITH CHECK ({verify} AND ({self_ok} OR {not_own_segment}))",
        own_delete,
    )
    out += policies(
        "exhaustive_checks",
        read,
        f'longtail_insert @ FOR INSERT TO "{ann}" WITH CHECK ({verify})',
        own_delete,
    )
    answered_by_me = (
        f"EXISTS (SELECT 1 FROM {q}.work_items w WHERE w.id = work_item_id AND w.done_by = {me})"
    )
    out += policies(
        "events",
        read,
        f'longtail_insert @ FOR INSERT TO "{ann}" WITH CHECK (annotator_id = {me} '
        f"AND (action <> 'answer' OR work_item_id IS NULL OR {answered_by_me}))",
        f'longtail_undo @ FOR UPDATE TO "{ann}" '
        f"USING (annotator_id = {me} AND action = 'undo' AND undoes IS NULL) "
        f"WITH CHECK (annotator_id = {me} AND action = 'undo' "
        f"AND {q}.longtail_event_author(undoes) = {me})",
    )
    out += policies(
        "drafts",
        f'longtail_own @ TO "{ann}" USING (annotator_id = {me}) WITH CHECK (annotator_id = {me})',
    )
    out += policies(
        "images", read, f'longtail_lock @ FOR UPDATE TO "{ann}" USING (true) WITH CHECK (false)'
    )
    now_s = "extract(epoch FROM clock_timestamp())"
    out += policies(
        "work_items",
        read,
        f'longtail_insert @ FOR INSERT TO "{ann}" '
        f"WITH CHECK (status = '{OPEN}' AND done_by IS NULL)",
        f'longtail_update @ FOR UPDATE TO "{ann}" USING (true) WITH CHECK (true)',
        # undo takes back the items its answer opened, while nobody holds them
        f"longtail_undo @ FOR DELETE TO \"{ann}\" USING (status = '{OPEN}' "
        f"OR (status = '{LEASED}' AND lease_expires < {now_s}))",
    )
    # -------- a work item changes hands only by the queue's rules
    out += [
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_guard_work_item() RETURNS trigger
        LANGUAGE plpgsql {fixed} AS $$
        DECLARE me integer;
        BEGIN
          IF pg_has_role(session_user, '{adm}', 'MEMBER') THEN RETURN NEW; END IF;
          me := {q}.longtail_me();
          IF OLD.status = '{LEASED}' AND OLD.lease_owner IS DISTINCT FROM me
             AND OLD.lease_expires >= {now_s} AND NEW.status <> '{CANCELLED}' THEN
            RAISE EXCEPTION 'work item % is held by someone else', OLD.id
              USING ERRCODE = '42501';
          END IF;
          IF OLD.status = '{DONE}' AND NEW IS DISTINCT FROM OLD
             AND OLD.done_by IS DISTINCT FROM me THEN
            RAISE EXCEPTION 'work item % was answered by someone else', OLD.id
              USING ERRCODE = '42501';
          END IF;
          IF NEW.status = '{DONE}' AND OLD.status <> '{DONE}'
             AND (OLD.lease_owner IS DISTINCT FROM me OR NEW.done_by IS DISTINCT FROM me) THEN
            RAISE EXCEPTION 'work item % is not held by %', OLD.id, session_user
              USING ERRCODE = '42501';
          END IF;
          IF NEW.status = '{LEASED}' AND NEW.lease_owner IS DISTINCT FROM me THEN
            RAISE EXCEPTION 'work item % can be leased to its claimant only', OLD.id
              USING ERRCODE = '42501';
          END IF;
          RETURN NEW;
        END $$""",
        f"DROP TRIGGER IF EXISTS longtail_guard ON {q}.work_items",
        f"CREATE TRIGGER longtail_guard BEFORE UPDATE ON {q}.work_items "
        f"FOR EACH ROW EXECUTE FUNCTION {q}.longtail_guard_work_item()",
    ]
    out += _team_functions(prefix, q, fixed)
    for fn in (
        "longtail_me()",
        "longtail_group()",
        "longtail_may(text)",
        "longtail_setting(text)",
        "longtail_may_verify()",
        "longtail_event_author(integer)",
        "longtail_team_set(text, text, text)",
        "longtail_team_remove(text)",
    ):
        out.append(f"REVOKE ALL ON FUNCTION {q}.{fn} FROM PUBLIC")
        out.append(f'GRANT EXECUTE ON FUNCTION {q}.{fn} TO "{ann}"')
    return out


def _team_functions(prefix: str, q: str, fixed: str) -> list[str]:
    """``longtail_team_set(name, role, password_verifier)`` and ``longtail_team_remove(name)``:
    the team changes, run with the owner's rights (CREATEROLE) for any admin, refused
    to everyone else. A new login gets the SCRAM verifier the client computed, so the
    password itself never reaches the server."""
    adm = f"{prefix}{ADMIN}"
    groups = ", ".join(f'"{prefix}{r}"' for r in ROLES)
    refuse_non_admin = (
        f"IF NOT pg_has_role(session_user, '{adm}', 'MEMBER') THEN "
        f"RAISE EXCEPTION 'changing the team is for admins of this project (%)', "
        f"current_database() USING ERRCODE = '42501'; END IF;"
    )
    # the admins are the logins in the admin group (the owner among them)
    last_admin = (
        f"IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = member) "
        f"AND pg_has_role(member, '{adm}', 'MEMBER') AND (SELECT count(*) FROM "
        f"pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid WHERE g.rolname = '{adm}') = 1 THEN "
        f"RAISE EXCEPTION '% is the project''s only admin; make someone else admin first', "
        f"member USING ERRCODE = '55000'; END IF;"
    )
    return [
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_team_set(
            member text, new_role text, verifier text DEFAULT NULL) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER {fixed} AS $$
        BEGIN
          {refuse_non_admin}
          IF new_role NOT IN ('{ANNOTATOR}', '{VERIFIER}', '{ADMIN}') THEN
            RAISE EXCEPTION 'unknown role %', new_role USING ERRCODE = '22023';
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = member)
             AND verifier IS NOT NULL THEN
            EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', member, verifier);
          END IF;
          IF new_role <> '{ADMIN}' THEN {last_admin} END IF;
          -- without a login (none given a password yet) only the row is kept: an admin
          -- may act for them (a scripted member); the login gets the group when made
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = member) THEN
            EXECUTE format('REVOKE {groups} FROM %I', member);
            EXECUTE format('GRANT %I TO %I', '{prefix}' || new_role, member);
          END IF;
          INSERT INTO {q}.annotators (name, is_bot, role, created_at)
            VALUES (member, false, new_role, extract(epoch FROM now()))
            ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {q}.longtail_team_remove(member text) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER {fixed} AS $$
        BEGIN
          {refuse_non_admin}
          IF NOT EXISTS (SELECT 1 FROM {q}.annotators WHERE name = member) THEN
            RAISE EXCEPTION 'no annotator named % in this project', member USING ERRCODE = '42704';
          END IF;
          {last_admin}
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = member) THEN
            EXECUTE format('REVOKE {groups} FROM %I', member);
          END IF;
          UPDATE {q}.annotators SET role = '{REMOVED}' WHERE name = member;
        END $$""",
    ]

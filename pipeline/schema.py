"""The project database schema (SQLAlchemy Core), the same for SQLite and PostgreSQL.

One project is one database. The tables follow the words of the pipeline (DESIGN
sections 2-3): images and categories; the answers of the six stages (spots, spot
visits, instance marks, segments, verdicts, exhaustiveness answers, negative checks);
the federated label of each (image, category) pair; work items with leases; the
event log; trained models.

Times are seconds since the epoch (float); JSON columns hold small documents.
Enumerated columns are plain strings whose values are the constants below.
"""

from __future__ import annotations

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
)

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

# the six stages
SPOTTING = 1
MARKING = 2
SEGMENTATION = 3
VERIFICATION = 4
EXHAUSTIVE = 5
NEGATIVES = 6
STAGES = {
    SPOTTING: "object spotting",
    MARKING: "exhaustive instance marking",
    SEGMENTATION: "instance segmentation",
    VERIFICATION: "segment verification",
    EXHAUSTIVE: "exhaustive annotations verification",
    NEGATIVES: "negative labels",
}

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

"""The dataset explorer's questions, Qt-free: which images match a filter, a page of
them, one image's whole history, and thumbnails.

Filters (all optional, combined with AND):

- a category and its federated state in the image: ``present`` (a positive, P_c),
  ``absent`` (verified negative, N_c), ``not_exhaustive`` (a positive answered "some
  are missing") or ``any`` (any label of the category: spotted, confirmed, rejected or
  negative). Without a category the state asks the same of any category: ``present``
  is an image with at least one positive pair, and ``any`` asks nothing;
- a stage state: work waiting in stage k (an open or leased item), or no work waiting;
- an annotator: images on which they answered anything (the items they completed);
- rejections: images with a segment that verification rejected.

Each filter is one query returning sorted image ids (numpy), intersected in memory, so
a filter costs the same whatever the page the grid shows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps
from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection

from .annotations import Annotation, load_image_annotations
from .errors import LongtailError, NotFoundError
from .federated import positive_pairs
from .images import ImageRecord, image_from_row
from .masks.geometry import Mask
from .store import schema as s
from .store.columns import integer_columns

ic, wi, ev = s.image_categories, s.work_items, s.events
pl = s.pair_labels  # the pair labels as every reader sees them (with implicit negatives)

ANY_STATE, PRESENT, ABSENT, NOT_EXHAUSTIVE = "any", "present", "absent", "not_exhaustive"
CATEGORY_STATES = (ANY_STATE, PRESENT, ABSENT, NOT_EXHAUSTIVE)
NO_WORK = 0
"""``ImageFilter.stage`` value: images with no work waiting in any stage."""


@dataclass(frozen=True)
class ImageFilter:
    category_id: int | None = None  # None: any category
    category_state: str = ANY_STATE
    stage: int | None = None  # 1..6: work waiting there; NO_WORK: none anywhere
    annotator_id: int | None = None
    has_rejections: bool = False

    def __post_init__(self) -> None:
        if self.category_state not in CATEGORY_STATES:
            raise LongtailError(
                f"unknown category state {self.category_state!r}; use {', '.join(CATEGORY_STATES)}"
            )
        if self.stage is not None and self.stage != NO_WORK and self.stage not in s.STAGES:
            raise LongtailError(f"there is no stage {self.stage}; the stages are 1 to 6")

    @property
    def is_empty(self) -> bool:
        return (
            self.category_id is None
            and self.category_state == ANY_STATE
            and self.stage is None
            and self.annotator_id is None
            and not self.has_rejections
        )


def _ids(conn: Connection, query: Any) -> np.ndarray:
    """The first column of ``query`` as sorted unique ids. The queries leave DISTINCT
    and ORDER BY out: with them SQLite walks an index in image order and looks every row
    up, and a joined text keeps no order anyway, while numpy sorts 100k ids in 5 ms."""
    return np.unique(_column(conn, query))


def _column(conn: Connection, query: Any) -> np.ndarray:
    """An integer column: a filter may match 100k images, which arrive as one joined
    text (:func:`pipeline.store.columns.integer_columns`), not as 100k rows."""
    return integer_columns(conn, query)[0]


def all_image_ids(conn: Connection) -> np.ndarray:
    return _ids(conn, select(s.images.c.id))


def category_image_ids(conn: Connection, category_id: int | None, state: str) -> np.ndarray:
    """Images where the category (None: at least one category) is present, verified
    absent, not exhaustive, or labelled at all (``any``)."""
    pairs: Any = pl  # every label, the implicit negatives of exhaustive images too
    if state == ANY_STATE:
        query = select(pl.c.image_id)
    elif state == ABSENT:
        query = select(pl.c.image_id).where(pl.c.state == s.NEGATIVE)
        if category_id is None:
            # each image once, its first negative found (the EXISTS on the views' parts:
            # SQLite takes a correlated condition into a join view, not a UNION ALL one)
            stored = ic.c.image_id == s.images.c.id, ic.c.state == s.NEGATIVE
            implicit = s.implicit_negatives.c.image_id == s.images.c.id
            either = exists().where(*stored) | exists().where(implicit)
            return _ids(conn, select(s.images.c.id).where(either))
    else:
        pairs = ic
        query = positive_pairs()
        if state == NOT_EXHAUSTIVE:
            query = query.where(ic.c.exhaustive.is_(False))
        if category_id is None:
            # each image once, its pairs (primary key order) read until the first that
            # passes: the whole positive_pairs() list is ~10 pairs an image
            first = query.with_only_columns(ic.c.image_id).where(ic.c.image_id == s.images.c.id)
            return _ids(conn, select(s.images.c.id).where(first.exists()))
    if category_id is not None:
        query = query.where(pairs.c.category_id == category_id)
    elif state == ANY_STATE:
        return all_image_ids(conn)
    return _ids(conn, query)


def _within(query: Any, column: Any, within: np.ndarray | None) -> Any:
    """``query`` limited to the images ``within`` (None: all)."""
    return query if within is None else query.where(column.in_([int(i) for i in within]))


def stage_image_ids(conn: Connection, stage: int, within: np.ndarray | None = None) -> np.ndarray:
    """Images with work waiting in ``stage`` (or, for NO_WORK, in no stage). One query
    per stage: each walks the queue's claim index (stage, status)."""
    if stage == NO_WORK:
        busy = np.unique(np.concatenate([_waiting(conn, k, within) for k in sorted(s.STAGES)]))
        every = all_image_ids(conn) if within is None else within
        return np.setdiff1d(every, busy, assume_unique=True)
    return np.unique(_waiting(conn, stage, within))


def _waiting(conn: Connection, stage: int, within: np.ndarray | None) -> np.ndarray:
    """Image ids of the stage's open and leased items (repeats and all)."""
    query = select(wi.c.image_id).where(wi.c.stage == stage, wi.c.status.in_((s.OPEN, s.LEASED)))
    return _column(conn, _within(query, wi.c.image_id, within))


def annotator_image_ids(
    conn: Connection, annotator_id: int, within: np.ndarray | None = None
) -> np.ndarray:
    """Images on which the annotator answered anything: the work items they completed.
    (The event log says the same, but reading it by annotator looks up every one of
    their events; the queue's rows are narrow and read in one pass.)"""
    query = select(wi.c.image_id).where(wi.c.done_by == annotator_id)
    return _ids(conn, _within(query, wi.c.image_id, within))


def rejection_image_ids(conn: Connection, within: np.ndarray | None = None) -> np.ndarray:
    """Images with a segment that verification rejected (status ``rejected``)."""
    g, i = s.segments, s.instances
    # SQLite answers this from the (instance, status) index, never reading the segments
    # table, whose rows carry the masks.
    query = (
        select(i.c.image_id)
        .select_from(g.join(i, i.c.id == g.c.instance_id))
        .where(g.c.status == s.SEGMENT_REJECTED)
    )
    return _ids(conn, _within(query, i.c.image_id, within))


NARROW = 5000
"""A filter part that leaves at most this many images limits the next parts' queries to
them (a category present in a few hundred images: the annotator's part then reads those
images' rows, not the whole queue)."""


def filter_images(conn: Connection, chosen: ImageFilter) -> np.ndarray:
    """Sorted ids of the images that pass every part of ``chosen``."""
    # the category part first: it is the cheapest and usually leaves the fewest images
    parts: list[Any] = []
    if chosen.stage is not None:
        parts.append(lambda within: stage_image_ids(conn, chosen.stage, within))
    if chosen.annotator_id is not None:
        parts.append(lambda within: annotator_image_ids(conn, chosen.annotator_id, within))
    if chosen.has_rejections:
        parts.append(lambda within: rejection_image_ids(conn, within))
    if chosen.category_id is not None or chosen.category_state != ANY_STATE:
        found = category_image_ids(conn, chosen.category_id, chosen.category_state)
    elif parts:
        found = parts.pop(0)(None)
    else:
        return all_image_ids(conn)
    for part in parts:
        within = found if len(found) <= NARROW else None
        found = np.intersect1d(found, part(within), assume_unique=True)
    return found


def first_image_ids(conn: Connection, limit: int) -> np.ndarray:
    """The first ``limit`` image ids: the unfiltered grid's first page, at once, while
    the whole list (100k ids) is still being read."""
    query = select(s.images.c.id).order_by(s.images.c.id).limit(limit)
    return np.fromiter((r[0] for r in conn.execute(query)), dtype=np.int64)


def image_page(conn: Connection, ids: np.ndarray, offset: int, limit: int) -> list[ImageRecord]:
    """The image records of ``ids[offset:offset + limit]``, in that order."""
    chunk = [int(i) for i in ids[offset : offset + limit]]
    if not chunk:
        return []
    rows = {r.id: r for r in conn.execute(select(s.images).where(s.images.c.id.in_(chunk)))}
    return [image_from_row(rows[i]) for i in chunk if i in rows]


# ---------------------------------------------------------------- one image's history


@dataclass(frozen=True)
class VerdictRecord:
    annotator: str
    accept: bool
    reason: str | None
    at: float


@dataclass(frozen=True)
class SegmentVersion:
    segment_id: int
    version: int
    status: str
    tool: str | None
    annotator: str | None
    area: int
    at: float
    verdicts: tuple[VerdictRecord, ...]


@dataclass(frozen=True)
class InstanceHistory:
    annotation: Annotation  # the instance with its latest segment
    category: str
    versions: tuple[SegmentVersion, ...]  # oldest first


@dataclass(frozen=True)
class PairRecord:
    category_id: int
    category: str
    state: str  # spotted / confirmed / rejected / negative
    exhaustive: bool | None
    positive: bool  # in P_c (an accepted mask)


    @property
    def verified_absent(self) -> bool:
        """Stage 6 said the category is not in the image (a verified negative, N_c)."""
        return self.state == s.NEGATIVE


@dataclass(frozen=True)
class ImageHistory:
    image: ImageRecord
    pairs: tuple[PairRecord, ...]
    instances: tuple[InstanceHistory, ...]
    waiting: dict[int, int]  # stage -> pending work items on the image


def image_history(conn: Connection, image_id: int) -> ImageHistory:
    """Everything the explorer shows about one image: its (image, category) pairs, each
    instance with every segment version and the verdicts on it, and its pending work."""
    row = conn.execute(select(s.images).where(s.images.c.id == image_id)).first()
    if row is None:
        raise NotFoundError(f"image {image_id} is not in the project")
    names = dict(conn.execute(select(s.categories.c.id, s.categories.c.name)).all())
    people = dict(conn.execute(select(s.annotators.c.id, s.annotators.c.name)).all())
    positives = {
        r.category_id for r in conn.execute(positive_pairs().where(ic.c.image_id == image_id))
    }
    pairs = tuple(
        PairRecord(
            r.category_id,
            names.get(r.category_id, "?"),
            r.state,
            r.exhaustive,
            r.category_id in positives,
        )
        for r in conn.execute(
            select(pl).where(pl.c.image_id == image_id).order_by(pl.c.category_id)
        )
    )
    annotations = load_image_annotations(conn, image_id)
    g, v = s.segments, s.verdicts
    versions: dict[int, list[Any]] = {}
    segment_rows = conn.execute(
        select(
            g.c.id,
            g.c.instance_id,
            g.c.version,
            g.c.status,
            g.c.tool,
            g.c.annotator_id,
            g.c.area,
            g.c.created_at,
        )
        .where(g.c.instance_id.in_([a.instance.id for a in annotations]))
        .order_by(g.c.instance_id, g.c.version)
    ).all()
    verdicts: dict[int, list[VerdictRecord]] = {}
    if segment_rows:
        for r in conn.execute(
            select(v).where(v.c.segment_id.in_([r.id for r in segment_rows])).order_by(v.c.id)
        ):
            verdicts.setdefault(r.segment_id, []).append(
                VerdictRecord(
                    people.get(r.annotator_id, "?"), bool(r.accept), r.reason, r.created_at
                )
            )
    for r in segment_rows:
        versions.setdefault(r.instance_id, []).append(
            SegmentVersion(
                r.id,
                r.version,
                r.status,
                r.tool,
                people.get(r.annotator_id),
                int(r.area),
                r.created_at,
                tuple(verdicts.get(r.id, ())),
            )
        )
    waiting = {
        int(stage): int(n)
        for stage, n in conn.execute(
            select(wi.c.stage, func.count())
            .where(wi.c.image_id == image_id, wi.c.status.in_((s.OPEN, s.LEASED)))
            .group_by(wi.c.stage)
        )
    }
    return ImageHistory(
        image=image_from_row(row),
        pairs=pairs,
        instances=tuple(
            InstanceHistory(
                a, names.get(a.instance.category_id, "?"), tuple(versions.get(a.instance.id, ()))
            )
            for a in annotations
        ),
        waiting=waiting,
    )


# ---------------------------------------------------------------- one image, briefly


@dataclass(frozen=True)
class PairState:
    state: str  # spotted / confirmed / rejected / negative
    exhaustive: bool | None

    def describe(self) -> str:
        """'confirmed, not exhaustive' / 'spotted, exhaustive' / 'negative'."""
        if self.state in (s.SPOTTED, s.CONFIRMED) and self.exhaustive is not None:
            return f"{self.state}, {'exhaustive' if self.exhaustive else 'not exhaustive'}"
        return self.state


@dataclass(frozen=True)
class ImageSummary:
    """What the image panel and the stage views' context layer show of one image: its
    (image, category) pairs, every instance with its latest mask, and the names."""

    image: ImageRecord
    pairs: dict[int, PairState]  # category id -> its state in the image
    annotations: tuple[Annotation, ...]  # instance id order
    names: dict[int, str]  # category id -> name, for the pairs' and instances' categories

    def category_ids(self) -> list[int]:
        """Every category of the image (a pair or an instance), what matters first: those
        with objects or confirmed, then the other labels (spotted, rejected), then the
        verified negatives; each group by name. (A COCO import leaves one positive among
        79 negatives: alphabetical alone buried it.)"""
        with_objects = {a.instance.category_id for a in self.annotations}
        ids = set(self.pairs) | with_objects

        def rank(c: int) -> int:
            pair = self.pairs.get(c)
            if c in with_objects or (pair is not None and pair.state == s.CONFIRMED):
                return 0
            return 2 if pair is not None and pair.state == s.NEGATIVE else 1

        return sorted(ids, key=lambda c: (rank(c), self.names.get(c, ""), c))

    def is_bare_negative(self, category_id: int) -> bool:
        """A verified negative with no object: the image panel folds these into one row."""
        pair = self.pairs.get(category_id)
        return (
            pair is not None
            and pair.state == s.NEGATIVE
            and all(a.instance.category_id != category_id for a in self.annotations)
        )

    def context_masks(self) -> list[tuple[Annotation, str]]:
        """The image's drawn masks, accepted or waiting for verification, with their
        category names (rejected and superseded versions are not context)."""
        return [
            (a, self.names.get(a.instance.category_id, "?"))
            for a in self.annotations
            if a.segment is not None and a.segment.status in (s.PENDING, s.SEGMENT_ACCEPTED)
        ]


def image_summary(conn: Connection, image_id: int) -> ImageSummary | None:
    """One image's pairs, instances (with their latest masks) and category names, in one
    read transaction; None when the image is not in the project."""
    row = conn.execute(select(s.images).where(s.images.c.id == image_id)).first()
    if row is None:
        return None
    pairs = {
        r.category_id: PairState(r.state, r.exhaustive)
        for r in conn.execute(
            select(pl.c.category_id, pl.c.state, pl.c.exhaustive).where(pl.c.image_id == image_id)
        )
    }
    annotations = tuple(load_image_annotations(conn, image_id))
    ids = set(pairs) | {a.instance.category_id for a in annotations}
    names = dict(
        conn.execute(
            select(s.categories.c.id, s.categories.c.name).where(s.categories.c.id.in_(sorted(ids)))
        ).all()
    )
    return ImageSummary(image_from_row(row), pairs, annotations, names)


@dataclass(frozen=True)
class FilterChoices:
    """What the explorer's filter lists offer: (id, name) pairs, by name."""

    categories: tuple[tuple[int, str], ...]
    annotators: tuple[tuple[int, str], ...]


def filter_choices(conn: Connection) -> FilterChoices:
    categories = conn.execute(
        select(s.categories.c.id, s.categories.c.name).order_by(s.categories.c.name)
    ).all()
    people = conn.execute(
        select(s.annotators.c.id, s.annotators.c.name).order_by(s.annotators.c.name)
    ).all()
    return FilterChoices(
        tuple((int(i), str(n)) for i, n in categories), tuple((int(i), str(n)) for i, n in people)
    )


def filter_with_total(conn: Connection, chosen: ImageFilter) -> tuple[np.ndarray, int]:
    """The images that pass ``chosen`` and how many images the project has."""
    ids = filter_images(conn, chosen)
    return ids, len(ids) if chosen.is_empty else len(all_image_ids(conn))


# ---------------------------------------------------------------- thumbnails

THUMBNAIL = 160  # px, the longer side


def draw_masks(
    pixels: np.ndarray,
    image_size: tuple[int, int],
    masks: Sequence[tuple[Mask, tuple[int, int, int]]],
    opacity: float = 0.45,
) -> np.ndarray:
    """``pixels`` (a thumbnail of an image ``image_size`` = (width, height) pixels) with
    each mask filled in its colour and outlined, scaled down; a polygon is drawn from
    its rings, an RLE from its bitmap shrunk (nearest pixel)."""
    height, width = pixels.shape[:2]
    sx, sy = width / max(1, image_size[0]), height / max(1, image_size[1])
    out = pixels.astype(np.float32)
    outlines = []
    for mask, color in masks:
        if mask.kind == "polygon":
            area: np.ndarray = np.zeros((height, width), np.uint8)
            for part in mask.parts or ():
                rings = [np.round(r * (sx, sy)).astype(np.int32) for r in part.rings]
                cv2.fillPoly(area, rings[:1], 1)
                if rings[1:]:
                    cv2.fillPoly(area, rings[1:], 0)
                outlines.append((rings, color))
        else:
            area = cv2.resize(
                mask.to_bitmap().astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST
            )
        inside = area.astype(bool)
        out[inside] = out[inside] * (1.0 - opacity) + np.asarray(color, np.float32) * opacity
    drawn = out.astype(np.uint8)
    for rings, color in outlines:
        cv2.polylines(drawn, rings, True, tuple(int(c) for c in color), 1, cv2.LINE_AA)
    return drawn


def thumbnail(path: str | os.PathLike[str], size: int = THUMBNAIL) -> np.ndarray:
    """The image at ``path`` shrunk to fit ``size`` x ``size`` (EXIF orientation applied),
    as an RGB array. JPEGs are decoded at a reduced scale: a page of them costs little."""
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (size, size))
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img)
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path}: file not found") from exc
    except OSError as exc:
        raise LongtailError(f"{path}: cannot be read as an image ({exc})") from exc

"""The shape of the data, as the LVIS paper draws it (its section 4 and figure 5):
instances per category sorted into a long tail, categories per image, and the relative
size of masks, sqrt(mask area / image area).

Counted from the curated data: accepted, non-crowd instances; a category is in an
image when the (image, category) pair is a positive of the federated labels (P_c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    Integer,
    case,
    false,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection

from ..federated import positive_pairs
from ..store import schema as s
from ..store.columns import integer_columns
from .frequency import GROUPS, frequency_groups, train_image_counts

# Relative mask size histogram: 20 bins of width 0.05 over [0, 1].
SIZE_BINS = np.linspace(0.0, 1.0, 21)


@dataclass(frozen=True)
class CategoryCount:
    """One category's place in the long tail."""

    category_id: int
    name: str
    frequency: str  # r / c / f (frequency.py)
    instances: int  # accepted, non-crowd
    images: int  # images where it is a positive (|P_c|)
    train_images: int  # train-split images with an accepted instance (the r/c/f rule)
    in_progress: int  # non-crowd instances not accepted yet (marked, segmented, redo)


@dataclass(frozen=True)
class DataShape:
    categories: tuple[CategoryCount, ...]  # most instances first (ties: category id)
    images: int
    categories_per_image: dict[int, int]  # categories in an image -> how many images
    mask_sizes: np.ndarray  # sqrt(area / image area) of every accepted instance

    @property
    def instances(self) -> int:
        return sum(c.instances for c in self.categories)

    def group_counts(self) -> dict[str, int]:
        """Categories per frequency group, among categories with an accepted instance."""
        counts = dict.fromkeys(GROUPS, 0)
        for c in self.categories:
            if c.instances:
                counts[c.frequency] += 1
        return counts

    def size_histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, instances per bin) of the relative mask sizes."""
        counts, edges = np.histogram(np.clip(self.mask_sizes, 0.0, 1.0), bins=SIZE_BINS)
        return edges, counts

    def as_dict(self) -> dict[str, Any]:
        edges, counts = self.size_histogram()
        sizes = self.mask_sizes
        return {
            "images": self.images,
            "instances": self.instances,
            "categories_with_instances": sum(1 for c in self.categories if c.instances),
            "frequency_groups": self.group_counts(),
            "categories": [c.__dict__ for c in self.categories],
            "categories_per_image": {
                str(k): v for k, v in sorted(self.categories_per_image.items())
            },
            "mean_categories_per_image": self.mean_categories_per_image(),
            "relative_mask_size": {
                "bin_edges": [round(float(e), 4) for e in edges],
                "instances": [int(c) for c in counts],
                "median": float(np.median(sizes)) if sizes.size else None,
                "mean": float(sizes.mean()) if sizes.size else None,
            },
        }

    def mean_categories_per_image(self) -> float | None:
        n = sum(self.categories_per_image.values())
        if not n:
            return None
        return sum(k * v for k, v in self.categories_per_image.items()) / n


def positive_pair_array(conn: Connection) -> np.ndarray:
    """Every positive pair as rows (image id, category id, exhaustive: 1 yes, 0 no, -1 not
    answered): :func:`pipeline.federated.positive_pairs`, read once for all statistics."""
    ic = s.image_categories
    exhaustive = case((ic.c.exhaustive.is_(None), -1), (ic.c.exhaustive, 1), else_=0)
    query = positive_pairs().with_only_columns(ic.c.image_id, ic.c.category_id, exhaustive)
    return np.stack(integer_columns(conn, query), axis=1).reshape(-1, 3)


@dataclass(frozen=True)
class ShapeInputs:
    """What the shape reads besides the positive pairs (so both can be read at once)."""

    accepted: dict[int, int]
    waiting: dict[int, int]
    train: dict[int, int]
    groups: dict[int, str]
    names: dict[int, str]
    images: int
    sizes: np.ndarray


def shape_inputs(conn: Connection) -> ShapeInputs:
    accepted, waiting = instance_counts(conn)
    train = train_image_counts(conn)
    return ShapeInputs(
        accepted=accepted,
        waiting=waiting,
        train=train,
        groups=frequency_groups(conn, train),
        names=dict(conn.execute(select(s.categories.c.id, s.categories.c.name)).all()),
        images=int(conn.execute(select(func.count()).select_from(s.images)).scalar_one()),
        sizes=relative_mask_sizes(conn),
    )


def data_shape(conn: Connection, pairs: np.ndarray | None = None) -> DataShape:
    """The shape of the project's curated data (see the module docstring); ``pairs``
    reuses :func:`positive_pair_array`."""
    pairs = positive_pair_array(conn) if pairs is None else pairs
    return assemble_shape(shape_inputs(conn), pairs)


def assemble_shape(inputs: ShapeInputs, pairs: np.ndarray) -> DataShape:
    """The shape from what :func:`shape_inputs` and :func:`positive_pair_array` read."""
    images_of = count_by(pairs[:, 1])
    per_image = count_by(pairs[:, 0])
    histogram: dict[int, int] = {}
    for n in per_image.values():
        histogram[n] = histogram.get(n, 0) + 1
    if inputs.images - len(per_image) > 0:
        histogram[0] = inputs.images - len(per_image)
    categories = [
        CategoryCount(
            category_id=cid,
            name=name,
            frequency=inputs.groups[cid],
            instances=int(inputs.accepted.get(cid, 0)),
            images=int(images_of.get(cid, 0)),
            train_images=int(inputs.train.get(cid, 0)),
            in_progress=int(inputs.waiting.get(cid, 0)),
        )
        for cid, name in inputs.names.items()
    ]
    categories.sort(key=lambda c: (-c.instances, c.category_id))
    return DataShape(tuple(categories), inputs.images, histogram, inputs.sizes)


def instance_counts(conn: Connection) -> tuple[dict[int, int], dict[int, int]]:
    """Per category: accepted non-crowd instances, and the non-crowd ones not accepted yet.

    Counted from the (category, status) index, which holds every instance, minus the
    crowd regions counted apart: asking for ``is_crowd`` with the status would look up
    a million rows one by one.
    """
    i = s.instances
    accepted: dict[int, int] = {}
    waiting: dict[int, int] = {}
    for category_id, status, n in conn.execute(
        select(i.c.category_id, i.c.status, func.count()).group_by(i.c.category_id, i.c.status)
    ):
        into = accepted if status == s.ACCEPTED else waiting
        into[category_id] = into.get(category_id, 0) + int(n)
    # "+ 0": group crowd regions (few) after a plain scan, not along the index
    category = (i.c.category_id + 0).label("category")
    for category_id, status, n in conn.execute(
        select(category, i.c.status, func.count())
        .where(i.c.is_crowd.is_(True))
        .group_by(category, i.c.status)
    ):
        into = accepted if status == s.ACCEPTED else waiting
        into[category_id] = into.get(category_id, 0) - int(n)
    return accepted, waiting


def relative_mask_sizes(conn: Connection) -> np.ndarray:
    """sqrt(mask area / image area) of each accepted, non-crowd instance's accepted mask."""
    if conn.dialect.name == "sqlite":
        # Each accepted segment, then its instance and image by id: left to itself SQLite
        # walks the instances first and looks up their segments (1.4 s, not 1.0 s, for a
        # million masks), and only CROSS JOIN fixes the order.
        query: Any = text(
            "SELECT g.area AS area, im.width * im.height AS pixels FROM segments AS g "
            "CROSS JOIN instances AS i ON i.id = g.instance_id "
            "CROSS JOIN images AS im ON im.id = i.image_id "
            "WHERE g.status = :segment AND i.status = :instance AND i.is_crowd = 0"
        ).bindparams(segment=s.SEGMENT_ACCEPTED, instance=s.ACCEPTED)
        query = query.columns(area=Integer, pixels=Integer)
    else:
        i, g, im = s.instances, s.segments, s.images
        query = (
            select(g.c.area, (im.c.width * im.c.height).label("pixels"))
            .select_from(g.join(i, i.c.id == g.c.instance_id).join(im, im.c.id == i.c.image_id))
            .where(
                g.c.status == s.SEGMENT_ACCEPTED,
                i.c.status == s.ACCEPTED,
                i.c.is_crowd == false(),
            )
        )
    area, pixels = integer_columns(conn, query)
    ratios: np.ndarray = np.sqrt(area / np.maximum(pixels, 1))
    return ratios


def count_by(ids: np.ndarray) -> dict[int, int]:
    if not ids.size:
        return {}
    keys, counts = np.unique(ids, return_counts=True)
    return dict(zip(keys.tolist(), counts.tolist(), strict=True))

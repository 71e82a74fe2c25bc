"""LVIS frequency groups: rare (r), common (c) and frequent (f) categories.

The LVIS rule: a category is rare when it appears in 1-10 training images, common in
11-100, frequent in more than 100. "Appears" means an accepted, non-crowd instance of
it in an image of the ``train`` split. A project without any such instance (nothing
curated yet, or only other splits) keeps the groups its vocabulary came with.
"""

from __future__ import annotations

from sqlalchemy import false, func, select
from sqlalchemy.engine import Connection

from ..store import schema as s

# Images a category needs in the train split to be common (c) or frequent (f).
COMMON_FROM, FREQUENT_FROM = 11, 101
GROUPS = ("r", "c", "f")
TRAIN_SPLIT = "train"


def frequency_group(train_images: int) -> str:
    """LVIS's frequency group for a category seen in this many train images."""
    if train_images >= FREQUENT_FROM:
        return "f"
    if train_images >= COMMON_FROM:
        return "c"
    return "r"


def train_image_counts(conn: Connection) -> dict[int, int]:
    """Category id -> images of the train split with an accepted, non-crowd instance of it."""
    i = s.instances
    query = (
        select(i.c.category_id, func.count(i.c.image_id.distinct()))
        .where(
            i.c.status == s.ACCEPTED,
            i.c.is_crowd == false(),
            i.c.image_id.in_(select(s.images.c.id).where(s.images.c.split == TRAIN_SPLIT)),
        )
        .group_by(i.c.category_id)
    )
    return {category_id: int(n) for category_id, n in conn.execute(query)}


def frequency_groups(conn: Connection, train: dict[int, int] | None = None) -> dict[int, str]:
    """Category id -> r/c/f for every category of the project (see the module docstring).
    ``train`` reuses counts from :func:`train_image_counts` when the caller has them."""
    train = train_image_counts(conn) if train is None else train
    rows = conn.execute(select(s.categories.c.id, s.categories.c.frequency)).all()
    if train:
        return {cid: frequency_group(train.get(cid, 0)) for cid, _ in rows}
    return {cid: (stored if stored in GROUPS else "r") for cid, stored in rows}

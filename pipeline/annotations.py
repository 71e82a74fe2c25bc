"""Instance marks and their segments: writing them, and reading one image's annotations.

Functions taking a ``conn`` work inside the caller's transaction (the stages compose
several writes into one answer); the ``Project``-level helpers commit on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .errors import NotFoundError
from .masks.geometry import Box, Mask
from .store import schema as s
from .store.database import Project, inserted_id, now


@dataclass(frozen=True)
class InstanceMark:
    """One marked object of a category in an image: a point and optional box."""

    id: int
    image_id: int
    category_id: int
    x: float | None
    y: float | None
    box: Box | None
    status: str
    is_crowd: bool
    source: str
    annotator_id: int | None
    source_id: int | None = None

    @property
    def point(self) -> tuple[float, float] | None:
        """The marked point (x, y); None for a mark without one (an imported box)."""
        if self.x is None or self.y is None:
            return None
        return (self.x, self.y)


@dataclass(frozen=True)
class Segment:
    """One version of an instance's mask."""

    id: int
    instance_id: int
    version: int
    mask: Mask
    status: str
    tool: str | None
    source: str
    annotator_id: int | None

    @property
    def area(self) -> int:
        return self.mask.area

    @property
    def bbox(self) -> Box:
        return self.mask.bbox


@dataclass(frozen=True)
class Annotation:
    """An instance with its latest segment (None before stage 3 drew one)."""

    instance: InstanceMark
    segment: Segment | None


def instance_from_row(row: Any) -> InstanceMark:
    box = None
    if row.box_w is not None:
        box = (row.box_x, row.box_y, row.box_w, row.box_h)
    return InstanceMark(
        id=row.id,
        image_id=row.image_id,
        category_id=row.category_id,
        x=row.x,
        y=row.y,
        box=box,
        status=row.status,
        is_crowd=bool(row.is_crowd),
        source=row.source,
        annotator_id=row.annotator_id,
        source_id=row.source_id,
    )


def segment_from_row(row: Any, height: int, width: int) -> Segment:
    return Segment(
        id=row.id,
        instance_id=row.instance_id,
        version=row.version,
        mask=Mask.from_bytes(row.mask_kind, row.mask, height, width),
        status=row.status,
        tool=row.tool,
        source=row.source,
        annotator_id=row.annotator_id,
    )


def instance_values(
    image_id: int,
    category_id: int,
    *,
    point: tuple[float, float] | None = None,
    box: Box | None = None,
    annotator_id: int | None = None,
    status: str = s.MARKED,
    is_crowd: bool = False,
    source: str = s.SOURCE_PIPELINE,
    source_id: int | None = None,
) -> dict[str, Any]:
    """The stored columns of a new instance mark."""
    values = {
        "image_id": image_id,
        "category_id": category_id,
        "annotator_id": annotator_id,
        "x": float(point[0]) if point else None,
        "y": float(point[1]) if point else None,
        "status": status,
        "is_crowd": is_crowd,
        "source": source,
        "source_id": source_id,
        "created_at": now(),
    }
    if box is not None:
        values.update(zip(("box_x", "box_y", "box_w", "box_h"), map(float, box), strict=True))
    return values


def insert_instance(conn: Connection, image_id: int, category_id: int, **options: Any) -> int:
    """A new instance mark (options as :func:`instance_values`); returns its id."""
    values = instance_values(image_id, category_id, **options)
    return inserted_id(conn.execute(s.instances.insert().values(**values)))


def segment_values(mask: Mask) -> dict[str, Any]:
    """The stored columns of a mask: its bytes, area and bbox."""
    kind, data = mask.to_bytes()
    x, y, w, h = mask.bbox
    return {
        "mask_kind": kind,
        "mask": data,
        "area": mask.area,
        "bbox_x": x,
        "bbox_y": y,
        "bbox_w": w,
        "bbox_h": h,
    }


def next_version(conn: Connection, instance_id: int) -> int:
    """The version number the instance's next segment takes (1 for the first)."""
    latest = conn.execute(
        select(func.coalesce(func.max(s.segments.c.version), 0)).where(
            s.segments.c.instance_id == instance_id
        )
    ).scalar_one()
    return int(latest) + 1


def load_image_annotations(
    conn: Connection, image_id: int, *, include_crowd: bool = True
) -> list[Annotation]:
    """Every instance of the image (id order) with its latest segment."""
    size = conn.execute(
        select(s.images.c.height, s.images.c.width).where(s.images.c.id == image_id)
    ).first()
    if size is None:
        raise NotFoundError(f"image {image_id} is not in the project")
    query = select(s.instances).where(s.instances.c.image_id == image_id)
    if not include_crowd:
        query = query.where(s.instances.c.is_crowd.is_(False))
    instances = [instance_from_row(r) for r in conn.execute(query.order_by(s.instances.c.id))]
    latest: dict[int, Any] = {}
    if instances:
        rows = conn.execute(
            select(s.segments)
            .join(s.instances, s.instances.c.id == s.segments.c.instance_id)
            .where(s.instances.c.image_id == image_id)
            .order_by(s.segments.c.instance_id, s.segments.c.version)
        )
        for row in rows:
            latest[row.instance_id] = row  # versions ascend: the last one wins
    height, width = size
    return [
        Annotation(
            inst,
            segment_from_row(latest[inst.id], height, width) if inst.id in latest else None,
        )
        for inst in instances
    ]


def image_annotations(project: Project, image_id: int, **options: Any) -> list[Annotation]:
    """:func:`load_image_annotations` in a read transaction of its own."""
    with project.read() as conn:
        return load_image_annotations(conn, image_id, **options)


def add_instance(project: Project, image_id: int, category_id: int, **options: Any) -> int:
    """:func:`insert_instance`, committed on its own."""
    with project.write() as conn:
        return insert_instance(conn, image_id, category_id, **options)


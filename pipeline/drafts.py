"""Drafts: a drawing in progress saved in the store, so that a crash or a closed window
loses at most the last second of it (the ``drafts`` table, one row per work item and
annotator), and the JSON form of a mask they are saved in. The mask being drawn and its
edits are :mod:`pipeline.masks.edits`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .errors import GeometryError, LongtailError
from .masks.geometry import POLYGON, RLE, Mask, PolygonPart
from .store import schema as s
from .store.database import Project, now

# ---------------------------------------------------------------- JSON form


def mask_to_json(mask: Mask) -> dict[str, Any]:
    """A mask as plain JSON: polygon parts keep their holes (which COCO cannot)."""
    if mask.kind == RLE:
        return {
            "kind": RLE,
            "size": [mask.height, mask.width],
            "counts": mask.rle["counts"].decode("ascii"),
        }
    return {
        "kind": POLYGON,
        "size": [mask.height, mask.width],
        "parts": [[ring.reshape(-1).tolist() for ring in part.rings] for part in mask.parts or ()],
    }


def mask_from_json(data: dict[str, Any]) -> Mask:
    """The inverse of :func:`mask_to_json`; GeometryError on anything else."""
    try:
        kind = data["kind"]
        height, width = (int(v) for v in data["size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GeometryError("a stored mask needs 'kind' and 'size' [height, width]") from exc
    if kind == RLE:
        return Mask.from_rle({"size": [height, width], "counts": data.get("counts")})
    if kind != POLYGON:
        raise GeometryError(f"unknown stored mask kind {kind!r}")
    try:
        parts = [PolygonPart(rings[0], tuple(rings[1:])) for rings in data["parts"]]
    except (KeyError, IndexError, TypeError) as exc:
        raise GeometryError(
            "a stored polygon mask needs 'parts': [[ring, hole, ...], ...]"
        ) from exc
    return Mask.from_polygons(parts, height, width)


# ---------------------------------------------------------------- the store


@dataclass(frozen=True)
class StoredDraft:
    """A saved drawing in progress of one annotator on one work item."""

    work_item_id: int
    annotator_id: int
    image_id: int
    content: dict[str, Any]
    updated_at: float

    @property
    def mask(self) -> Mask | None:
        """The draft's mask (content key ``"mask"``), if it holds one."""
        data = self.content.get("mask")
        return mask_from_json(data) if data else None


def save_draft(
    project: Project,
    work_item_id: int,
    annotator_id: int,
    image_id: int,
    content: dict[str, Any],
) -> float:
    """Write (replace) the draft of ``work_item_id`` by ``annotator_id`` in one
    transaction; returns its time stamp. ``content`` must be JSON-serialisable."""
    try:
        json.dumps(content)
    except (TypeError, ValueError) as exc:
        raise LongtailError(f"draft of work item {work_item_id}: not JSON ({exc})") from exc
    stamp = now()
    where = (s.drafts.c.work_item_id == work_item_id) & (s.drafts.c.annotator_id == annotator_id)
    with project.write() as conn:
        conn.execute(s.drafts.delete().where(where))
        conn.execute(
            s.drafts.insert().values(
                work_item_id=work_item_id,
                annotator_id=annotator_id,
                image_id=image_id,
                content=content,
                updated_at=stamp,
            )
        )
    return stamp


def save_mask_draft(
    project: Project,
    work_item_id: int,
    annotator_id: int,
    image_id: int,
    mask: Mask | None,
    **extra: Any,
) -> float:
    """A draft holding one mask (or none yet) and any ``extra`` JSON fields (tool ...)."""
    content = {"mask": mask_to_json(mask) if mask is not None else None, **extra}
    return save_draft(project, work_item_id, annotator_id, image_id, content)


def load_draft(project: Project, work_item_id: int, annotator_id: int) -> StoredDraft | None:
    """The saved draft of ``work_item_id`` by ``annotator_id``, or None."""
    d = s.drafts.c
    with project.read() as conn:
        row = conn.execute(
            select(d.work_item_id, d.annotator_id, d.image_id, d.content, d.updated_at).where(
                (d.work_item_id == work_item_id) & (d.annotator_id == annotator_id)
            )
        ).first()
    if row is None:
        return None
    content = row.content if isinstance(row.content, dict) else json.loads(row.content)
    return StoredDraft(
        row.work_item_id, row.annotator_id, row.image_id, content, float(row.updated_at)
    )


def delete_draft(project: Project, work_item_id: int, annotator_id: int) -> bool:
    """Forget the draft (after its answer was submitted); True when there was one."""
    d = s.drafts.c
    with project.write() as conn:
        result = conn.execute(
            s.drafts.delete().where(
                (d.work_item_id == work_item_id) & (d.annotator_id == annotator_id)
            )
        )
    return bool(result.rowcount)

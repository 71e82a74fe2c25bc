"""The ids a project's images and categories carry in its exports (and results files).

One rule, used by the COCO/LVIS exporter and by every results file (``predict --out``),
so that a results file and the project's export agree: a record keeps the id it had in
the file it was imported from (0 included) when that id is free; the others are
numbered after the largest kept id, in project order. Categories that came with a
vocabulary (COCO-80, LVIS) carry the vocabulary's ids, which win over a file's.

The mapping is over the whole project, not over one split, so that an image has the
same id in a split's export as in the full export::

    ids = exported_ids(project)
    ids.image(internal_image_id), ids.category(internal_category_id)

Annotation ids are the exporter's business (:mod:`.exporting`): an annotation id 0 is
renumbered there, because pycocotools' COCOeval treats a matched ground truth of id 0
as unmatched (it marks matches with the gt id and tests it for truth).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import LongtailError
from ..store import schema as s
from ..store.database import Project


@dataclass(frozen=True)
class ExportedIds:
    """Internal id -> exported id, for images and categories."""

    images: Mapping[int, int]
    categories: Mapping[int, int]

    def image(self, image_id: int) -> int:
        try:
            return self.images[image_id]
        except KeyError:
            raise LongtailError(f"image {image_id} is not in the project") from None

    def category(self, category_id: int) -> int:
        try:
            return self.categories[category_id]
        except KeyError:
            raise LongtailError(f"category {category_id} is not in the project") from None


def exported_ids(
    source: Project | Connection, *, image_rows: Sequence[Any] | None = None
) -> ExportedIds:
    """The exported id of every image and category of the project (see the module).
    ``image_rows``: every image's row (``id`` and ``extra``), in id order, when the
    caller has read them already (an export of the whole project)."""
    if isinstance(source, Project):
        with source.read() as conn:
            return exported_ids(conn, image_rows=image_rows)
    conn = source
    if image_rows is None:
        image_rows = conn.execute(
            select(s.images.c.id, s.images.c.extra).order_by(s.images.c.id)
        ).all()
    image_pairs = [(r.id, _source_id(r.extra)) for r in image_rows]
    category_pairs = [
        (r.id, r.source_id)
        for r in conn.execute(
            select(s.categories.c.id, s.categories.c.source_id).order_by(s.categories.c.id)
        )
    ]
    return ExportedIds(images=keep_ids(image_pairs), categories=keep_ids(category_pairs))


def keep_ids(pairs: Iterable[tuple[int, Any]]) -> dict[int, int]:
    """Project id -> exported id: the wanted (file) id where it is a free non-negative
    integer, else numbers after the largest kept one, in project order."""
    pairs = list(pairs)
    taken: set[int] = set()
    out: dict[int, int] = {}
    for pid, wanted in pairs:
        if type(wanted) is int and wanted >= 0 and wanted not in taken:
            out[pid] = wanted
            taken.add(wanted)
    fresh = max(taken, default=0) + 1
    for pid, _ in pairs:
        if pid not in out:
            out[pid] = fresh
            fresh += 1
    return out


def _source_id(extra: Any) -> Any:
    return extra.get("source_id") if isinstance(extra, dict) else None


__all__ = ["ExportedIds", "exported_ids", "keep_ids"]

"""LVIS files (v1 and v0.5): import with their federated labels, export as LVIS v1."""

from __future__ import annotations

import os
from typing import Any

from ..store.database import Project
from .api import ImportOptions, import_annotations
from .exporting import LVIS, Progress, export_project
from .report import ImportReport


def import_lvis(
    project: Project,
    path: str | os.PathLike[str],
    *,
    images_root: str | os.PathLike[str] | None = None,
    split: str | None = None,
    lenient: bool = False,
    progress: Progress | None = None,
    reference_only: bool = False,
    repair_boxes: bool = False,
    follow_symlinks: bool = False,
) -> ImportReport:
    """Import an LVIS v1 or v0.5 file into ``project`` in one transaction.

    As :func:`pipeline.formats.import_coco`, and: images are found by ``file_name``
    (v0.5) or the last two parts of ``coco_url`` (v1); each image's
    ``neg_category_ids`` become verified negatives and its
    ``not_exhaustive_category_ids`` not-exhaustive positives; the other positives are
    stored as exhaustive, as LVIS asserts.
    """
    options = ImportOptions(
        kind="lvis",
        images_root=images_root,
        split=split,
        lenient=lenient,
        reference_only=reference_only,
        repair_boxes=repair_boxes,
        follow_symlinks=follow_symlinks,
    )
    return import_annotations(project, path, options, progress)


def export_lvis(
    project: Project,
    out_path: str | os.PathLike[str] | None = None,
    *,
    split: str | None = None,
    masks: str = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The project as an LVIS v1 document; written atomically to ``out_path`` if given.

    Every image carries ``neg_category_ids`` and ``not_exhaustive_category_ids``; only
    accepted non-crowd instances go out; category frequencies come from the project's
    train split (r: 1-10 images, c: 11-100, f: more).
    """
    doc, _ = export_project(project, LVIS, out_path, split=split, masks=masks, progress=progress)
    return doc

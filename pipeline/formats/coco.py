"""COCO instance files: import (polygons, RLE, crowd regions) and export."""

from __future__ import annotations

import os
from typing import Any

from ..store.database import Project
from .api import ImportOptions, import_annotations
from .exporting import COCO, Progress, export_project
from .report import ImportReport


def import_coco(
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
    federated: bool = False,
) -> ImportReport:
    """Import a COCO instances file into ``project`` in one transaction.

    Images are found under ``images_root`` by ``file_name`` (or ``coco_url``); without
    a root, next to the file and in its parent folder. ``split`` defaults to the one
    the file's name says (``instances_val2017.json`` -> val), else the project's
    default. Any problem refuses the whole import with a :class:`FormatError` holding
    the report, unless ``lenient``: then the good part is imported and the report is
    written next to the project. ``reference_only`` records images without reading
    them (sizes from the file; a missing file is allowed). ``repair_boxes`` takes a box
    that disagrees with its mask from the mask (a note) instead of refusing it.
    Every image must lie inside the image root (``images_root``, else the file's
    folder's parent): other paths, and links leading out unless ``follow_symlinks``,
    are refused unopened (docs/decisions/0007-image-root.md).

    A COCO file is exhaustive over its categories: on each imported image, the file's
    categories without an annotation become verified negatives and those with one
    exhaustive positives (docs/decisions/0028); ``federated`` leaves them unverified.
    """
    options = ImportOptions(
        kind="coco",
        images_root=images_root,
        split=split,
        lenient=lenient,
        reference_only=reference_only,
        repair_boxes=repair_boxes,
        follow_symlinks=follow_symlinks,
        federated=federated,
    )
    return import_annotations(project, path, options, progress)


def export_coco(
    project: Project,
    out_path: str | os.PathLike[str] | None = None,
    *,
    split: str | None = None,
    masks: str = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The project as a COCO instances document; written atomically to ``out_path`` if given.

    ``masks``: 'auto' writes polygons, and RLE for masks with holes or painted with a
    brush; 'polygon' and 'rle' force one form (see :class:`ExportSummary` for what the
    polygon form loses).
    """
    doc, _ = export_project(project, COCO, out_path, split=split, masks=masks, progress=progress)
    return doc

"""The steps every import takes: check everything, then store all of it or nothing.

A strict import (the default) stores nothing when any problem was found and raises
:class:`FormatError` with the report; a lenient one stores what passed its checks and
writes the report next to the project. Either way every problem is found in one run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import LongtailError
from ..store import Project
from .cocolike import (
    attach_annotations,
    check_negatives,
    check_top,
    encode_annotations,
    read_categories,
    read_images,
)
from .jsonio import JSONReadError, load_json, no_cycle_collection
from .locate import infer_split, search_roots
from .report import FormatError, ImportReport, display_path
from .source import Encoded, SourceCategory, SourceImage
from .writer import ImportWriter

Progress = Callable[[int, int], None]


class Steps:
    """One ``(done, total)`` progress over consecutive phases of known sizes."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = max(total, 1)
        self.offset = 0

    def phase(self, size: int) -> Progress | None:
        if self.progress is None:
            return None
        offset = self.offset
        self.offset += size
        progress, total = self.progress, self.total
        return lambda done, _size: progress(offset + done, total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


def run_import(
    project: Project,
    report: ImportReport,
    *,
    categories: Sequence[SourceCategory],
    images: Sequence[SourceImage],
    encode: Callable[[SourceImage], list[Encoded]],
    exhaustive: bool | None,
    licenses: Iterable[dict[str, Any]] = (),
    progress: Progress | None = None,
) -> ImportReport:
    """Encode every image's annotations and store them in one transaction (see module)."""
    lenient = report.lenient
    if report.problems and not lenient:
        # Already refused: still check every annotation so the report is complete.
        for done, image in enumerate(images, 1):
            encode(image)
            if progress is not None:
                progress(done, len(images))
        raise FormatError(report)
    with project.write() as conn:
        writer = ImportWriter(
            conn, project, report, split=report.split or "train", exhaustive=exhaustive
        )
        category_ids = writer.categories(categories)
        writer.licenses(licenses)
        image_ids = writer.images(images)
        for done, image in enumerate(images, 1):
            rows = encode(image)
            image.annotations = []  # the input's records are no longer needed
            image_id = image_ids.get(image.key)
            if image_id is None:
                report.annotations_skipped += len(rows)
            elif lenient or report.ok:
                writer.annotations(image, image_id, rows, category_ids)
            if progress is not None:
                progress(done, len(images))
        if report.problems and not lenient:
            raise FormatError(report)  # leaving the block rolls everything back
        writer.finish()
    if report.problems or report.notes:
        report.write(project.folder)
    return report


def import_cocolike(
    project: Project,
    path: str | os.PathLike[str],
    *,
    lvis: bool,
    images_root: str | os.PathLike[str] | None,
    split: str | None,
    lenient: bool,
    progress: Progress | None,
    reference_only: bool,
    repair_boxes: bool,
) -> ImportReport:
    """Import a COCO or LVIS file (see :func:`pipeline.formats.import_coco`)."""
    with no_cycle_collection():
        return _import_cocolike(
            project,
            Path(path).expanduser(),
            lvis=lvis,
            images_root=images_root,
            split=split,
            lenient=lenient,
            progress=progress,
            reference_only=reference_only,
            repair_boxes=repair_boxes,
        )


def _import_cocolike(
    project: Project,
    path: Path,
    *,
    lvis: bool,
    images_root: str | os.PathLike[str] | None,
    split: str | None,
    lenient: bool,
    progress: Progress | None,
    reference_only: bool,
    repair_boxes: bool,
) -> ImportReport:
    file = display_path(path)
    split = split or infer_split(path) or project.settings().default_split
    report = ImportReport(
        source=str(path), format="lvis" if lvis else "coco", split=split, lenient=lenient
    )
    if images_root is not None and not Path(images_root).expanduser().is_dir():
        raise LongtailError(f"image folder {images_root} does not exist or is not a folder")
    try:
        doc = load_json(path)
    except JSONReadError as exc:
        report.problem(str(exc), file=file)
        raise FormatError(report) from None
    check_top(doc, report, file, lvis=lvis)
    categories = read_categories(doc, report, file, lvis=lvis)
    category_keys = {c.key for c in categories}
    listed_categories = {
        c.get("id") for c in doc["categories"] if isinstance(c, dict) and type(c.get("id")) is int
    }
    n_images = len(doc["images"])
    steps = Steps(progress, n_images * (1 if reference_only else 2))
    images, listed_images = read_images(
        doc,
        report,
        file,
        lvis=lvis,
        roots=search_roots(path, images_root),
        category_keys=category_keys,
        reference_only=reference_only,
        progress=None if reference_only else steps.phase(n_images),
    )
    attach_annotations(doc, images, listed_images, category_keys, listed_categories, report, file)
    if lvis:
        for image in images:
            check_negatives(image, report)
    licenses = [item for item in doc.get("licenses") or [] if isinstance(item, dict)]
    doc.clear()  # the images now hold their annotations; let the rest go

    def encode(image: SourceImage) -> list[Encoded]:
        return encode_annotations(image, report, repair_boxes=repair_boxes)

    run_import(
        project,
        report,
        categories=categories,
        images=images,
        encode=encode,
        exhaustive=True if lvis else None,
        licenses=licenses if isinstance(licenses, list) else (),
        progress=steps.phase(len(images)),
    )
    steps.finish()
    return report

"""The steps every import takes: check everything, then store all of it or nothing.

A strict import (the default) stores nothing when any problem was found and raises
:class:`FormatError` with the report; a lenient one stores what passed its checks and
writes the report next to the project. Either way every problem is found in one run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import LongtailError
from ..images import ImageRoot, record_image_roots
from ..store import schema as s
from ..store.database import Project
from ..team.roles import IMPORT, require
from ..text import clean as clean_text
from ..vocabulary import category_from_row, match_categories
from .cocolike import read_document
from .jsonio import JSONReadError, load_json, no_cycle_collection
from .locate import infer_split
from .masks import Encoder
from .report import FormatError, ImportReport, display_path
from .source import Encoded, SourceCategory, SourceImage
from .writer import ImportWriter

if TYPE_CHECKING:  # the options' module calls the importers: a type here, not an import
    from .api import ImportOptions

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
    roots: Sequence[ImageRoot] = (),
    exhaustive_source: bool = False,
) -> ImportReport:
    """Encode every image's annotations and store them in one transaction (see module).

    The input's categories meet the project's by :func:`match_vocabulary`; ``roots``,
    the image roots the images were placed in, are recorded with them.
    ``exhaustive_source``: the input annotates every instance of its categories (COCO):
    where the project's vocabulary covers them, each image's absent categories become
    verified negatives and its present ones exhaustive (docs/decisions/0028)."""
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
            conn,
            project,
            report,
            split=clean_text("split", report.split or "train", where="split"),
            exhaustive=exhaustive,
        )
        record_image_roots(conn, roots)
        category_ids = writer.categories(match_vocabulary(conn, categories, report))
        if exhaustive_source:
            _exhaustive_over(writer, report, category_ids)
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


def _exhaustive_over(writer: ImportWriter, report: ImportReport, category_ids: dict) -> None:
    """Read the input as exhaustive over its categories, if the vocabulary covers them."""
    file = display_path(report.source)
    if report.categories_unmatched:
        report.note(
            f"the project's vocabulary lacks {len(report.categories_unmatched)} of the file's "
            "categories, so absent categories stay unverified (as with --federated)",
            file=file,
        )
        return
    writer.exhaustive = True
    writer.exhaustive_over = sorted(set(category_ids.values()))
    report.exhaustive_source = True


def match_vocabulary(
    conn: Connection, sources: Sequence[SourceCategory], report: ImportReport
) -> list[SourceCategory]:
    """The input's categories, each renamed to the project category it is by the one
    matching rule (:func:`pipeline.vocabulary.match_categories`: name, synonym, synset),
    so that the writer merges it there. The project's vocabulary wins: where the input
    says otherwise (name, id, frequency, definition, synset) a note says what was kept.
    Input categories that match none of a non-empty vocabulary are added as new ones and
    listed in ``report.categories_unmatched`` (and a note each)."""
    rows = conn.execute(select(s.categories).order_by(s.categories.c.id)).all()
    if not rows or not sources:
        return list(sources)
    known = [category_from_row(r) for r in rows]
    matching = match_categories([c.category for c in sources], known)
    file = display_path(report.source)
    out = []
    for i, source in enumerate(sources):
        k = matching.known_for(i)
        theirs = source.category
        if k is None:
            report.categories_unmatched.append(theirs.name)
            report.note(
                f"{theirs.name!r} matches no category of the project's vocabulary by name, "
                "synonym or synset; it is added as a new category",
                file=file,
                category_id=source.key,
            )
            out.append(source)
            continue
        ours = known[k]
        kept = []
        rule = matching.rule[i]
        if rule != "name":
            how = f"synset {ours.synset}" if rule == "synset" else "a synonym"
            kept.append(f"name {ours.name!r} (the file's {theirs.name!r}, matched by {how})")
        for label, mine, given in (
            ("id", ours.source_id, theirs.source_id),
            ("frequency", ours.frequency, theirs.frequency),
            ("definition", ours.definition or None, theirs.definition or None),
            ("synset", ours.synset, theirs.synset),
        ):
            if mine is not None and given is not None and mine != given:
                kept.append(f"{label} {mine!r} (the file's {given!r})")
                if label == "id":
                    report.vocabulary_ids += 1
        if kept:
            report.note(
                f"the project's category {ours.name!r} keeps its " + "; ".join(kept),
                file=file,
                category_id=source.key,
            )
        out.append(replace(source, category=replace(theirs, name=ours.name)))
    return out


def import_cocolike(
    project: Project,
    path: str | os.PathLike[str],
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a COCO or LVIS file (see :func:`pipeline.formats.import_coco`): read the
    document once, check it, encode each image's annotations, and write them."""
    require(project, IMPORT)  # an admin's action, refused before any file is read
    with no_cycle_collection():
        return _import_cocolike(project, Path(path).expanduser(), options, progress)


def _import_cocolike(
    project: Project, path: Path, options: ImportOptions, progress: Progress | None
) -> ImportReport:
    file = display_path(path)
    split = options.split or infer_split(path) or project.settings().default_split
    report = ImportReport(
        source=str(path),
        format=options.kind,
        split=split,
        lenient=options.lenient,
        repair_boxes=options.repair_boxes,
    )
    images_root = options.images_root
    if images_root is not None and not Path(images_root).expanduser().is_dir():
        raise LongtailError(f"image folder {images_root} does not exist or is not a folder")
    try:
        doc = load_json(path)
    except JSONReadError as exc:
        report.problem(str(exc), file=file)
        raise FormatError(report) from None
    return import_document(project, path, doc, options, report, progress)


def import_document(
    project: Project,
    path: Path,
    doc: Any,
    options: ImportOptions,
    report: ImportReport,
    progress: Progress | None,
    *,
    splits: dict[Any, str] | None = None,
) -> ImportReport:
    """Read → check → encode → write, each once: a COCO-shaped document read from
    ``path`` (a COCO or LVIS file, or what an adapter built from a YOLO, VOC, CVAT or
    Label Studio export) becomes one checked value, whose images are encoded and
    written in one transaction. ``splits``: image id -> split, for inputs that hold
    several."""
    listed = doc.get("images") if isinstance(doc, dict) else None
    n_images = len(listed) if type(listed) is list else 0
    reading = 0 if options.reference_only else n_images
    steps = Steps(progress, reading + n_images)
    source = read_document(path, doc, options, report, steps.phase(reading), splits=splits)
    run_import(
        project,
        report,
        categories=source.categories,
        images=source.images,
        encode=Encoder(source.images, report, repair_boxes=options.repair_boxes),
        exhaustive=True if options.kind == "lvis" else None,
        licenses=source.licenses,
        progress=steps.phase(len(source.images)),
        roots=[source.root],
        exhaustive_source=options.kind == "coco" and not options.federated,
    )
    steps.finish()
    return report

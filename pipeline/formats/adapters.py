"""Import from and export to the folder and file formats of other tools: YOLO, Pascal
VOC, CVAT XML and Label Studio JSON (docs/decisions/0029-more-formats.md).

Each is a thin adapter to and from the COCO documents the COCO importer and exporter
already handle: an import reads the format into a COCO-shaped document and goes
through the same checks and writer as a COCO file (the box rule, box-only instances,
strict or lenient); an export builds the COCO document and writes it in the format.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..errors import LongtailError
from ..outputs import output_target, write_output
from ..store import schema as s
from ..store.database import Project
from ..team.roles import IMPORT, require
from .adapting import Adapted, ExportedImage, empty_folder, image_size
from .cvat import read_cvat, write_cvat
from .exporting import COCO, ExportSummary, export_project
from .ids import exported_ids
from .importing import Progress, import_document
from .jsonio import dump_json, no_cycle_collection
from .labelstudio import read_labelstudio, write_labelstudio
from .report import ImportReport
from .voc import read_voc, write_voc
from .yolo import read_yolo, write_yolo

if TYPE_CHECKING:  # the options' module calls the importers: a type here, not an import
    from .api import ImportOptions

READERS: dict[str, Callable[[Path, ImportReport], Adapted]] = {
    "yolo": read_yolo,
    "voc": read_voc,
    "cvat": read_cvat,
    "labelstudio": read_labelstudio,
}
# The mask form each export asks of the COCO exporter.
WRITERS: dict[str, tuple[str, Callable[..., tuple[int, int]]]] = {
    "yolo": ("polygon", write_yolo),
    "voc": ("auto", write_voc),
}
FOLDER_FORMATS = tuple(WRITERS)
FILE_FORMATS = ("cvat", "labelstudio")  # one file each, written like a COCO export


def import_adapted(
    project: Project,
    path: str | os.PathLike[str],
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a YOLO or VOC folder, or a CVAT XML or Label Studio JSON file
    (``options.kind``), through the COCO import's checks."""
    require(project, IMPORT)
    folder = Path(path).expanduser()
    if not folder.exists():
        raise LongtailError(f"{folder} does not exist")
    report = ImportReport(
        source=str(folder),
        format=options.kind,
        split=options.split or project.settings().default_split,
        lenient=options.lenient,
        repair_boxes=options.repair_boxes,
    )
    with no_cycle_collection():
        adapted = READERS[options.kind](folder, report)
        root = Path(options.images_root) if options.images_root is not None else adapted.root
        options = replace(options, images_root=root)
        _sizes_from_files(adapted, root, report)
        splits = {} if options.split else adapted.splits
        if splits and len(set(splits.values())) == 1 and len(splits) == len(adapted.doc["images"]):
            report.split = next(iter(splits.values()))  # the summary names it
        return import_document(
            project, adapted.source, adapted.doc, options, report, progress, splits=splits
        )


def _sizes_from_files(adapted: Adapted, root: Path, report: ImportReport) -> None:
    """Images the format gave no size for (a Label Studio task with no region) take
    their file's; one whose file cannot be read is a problem and is left out."""
    images = adapted.doc["images"]
    if all("width" in image for image in images):
        return
    kept = []
    for image in images:
        if "width" not in image:
            size = image_size(root / image["file_name"], report, image["file_name"])
            if size is None:
                continue
            image["width"], image["height"] = size
        kept.append(image)
    adapted.doc["images"] = kept


def export_adapted(
    project: Project,
    fmt: str,
    out: str | os.PathLike[str],
    *,
    split: str | None = None,
    progress: Progress | None = None,
    include_unsegmented: bool = False,
) -> ExportSummary:
    """Write the project (or one split) as a YOLO or VOC folder ``out`` (new or empty),
    or as a CVAT XML or Label Studio JSON file ``out``."""
    if fmt in FILE_FORMATS:
        return _export_file(project, fmt, out, split, progress, include_unsegmented)
    if fmt not in WRITERS:
        raise LongtailError(f"unknown export format {fmt!r}")
    masks, writer = WRITERS[fmt]
    folder = empty_folder(out)
    doc, summary = export_project(
        project,
        COCO,
        split=split,
        masks=masks,
        progress=progress,
        include_unsegmented=include_unsegmented,
    )
    images = image_files(project)
    written, left_out = writer(doc, images, folder)
    summary.format = fmt
    summary.path = folder
    summary.annotations = written
    summary.left_out = left_out
    return summary


def _export_file(
    project: Project,
    fmt: str,
    out: str | os.PathLike[str],
    split: str | None,
    progress: Progress | None,
    include_unsegmented: bool,
) -> ExportSummary:
    output_target(out, project=project)  # refused before the work (decision 0023)
    doc, summary = export_project(
        project,
        COCO,
        split=split,
        masks="auto",
        progress=progress,
        include_unsegmented=include_unsegmented,
    )
    if fmt == "cvat":
        splits = {image_id: placed.split for image_id, placed in image_files(project).items()}
        data, written, left_out = write_cvat(doc, splits)
    else:
        tasks, written, left_out = write_labelstudio(doc)
        data = dump_json(tasks)
    summary.format = fmt
    summary.path = write_output(out, data, project=project)
    summary.annotations = written
    summary.left_out = left_out
    return summary


def image_files(project: Project) -> dict[int, ExportedImage]:
    """Exported image id -> the image's file and split."""
    with project.read() as conn:
        ids = exported_ids(conn)
        rows = conn.execute(select(s.images.c.id, s.images.c.path, s.images.c.split)).all()
    return {
        ids.image(r.id): ExportedImage(Path(os.path.normpath(project.resolve(r.path))), r.split)
        for r in rows
    }


__all__ = ["FILE_FORMATS", "FOLDER_FORMATS", "export_adapted", "import_adapted", "image_files"]

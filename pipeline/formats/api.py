"""One call imports any format: ``import_annotations(project, path, options)``.

The CLI (``longtail import``) and the GUI's import job build one frozen
:class:`.options.ImportOptions` and call this; each format's reader takes it from here.
"""

from __future__ import annotations

import os

from ..errors import LongtailError
from ..store import Project
from .adapters import import_adapted
from .importing import Progress, import_cocolike
from .labelme import import_labelme
from .options import COCO_LIKE, ImportOptions
from .report import ImportReport


def import_annotations(
    project: Project,
    path: str | os.PathLike[str],
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``path`` (a file, or a folder for labelme and the folder formats) into
    ``project`` as ``options`` say; all or nothing unless ``options.lenient``."""
    if options.kind in COCO_LIKE:
        return import_cocolike(project, path, options, progress)
    if options.kind != "labelme":
        return import_adapted(project, path, options, progress)
    if options.repair_boxes:
        raise LongtailError("--repair-boxes applies to COCO, LVIS and the adapted formats")
    return import_labelme(
        project,
        path,
        split=options.split,
        lenient=options.lenient,
        progress=progress,
        images_root=options.images_root,
        follow_symlinks=options.follow_symlinks,
    )


__all__ = ["import_annotations"]

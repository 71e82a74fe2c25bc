"""What an import is asked to do, and the one call that does it, for every format.

The CLI (``longtail import``) and the GUI's import job build one frozen
:class:`ImportOptions` and call :func:`import_annotations`; the options travel
unchanged to the format's reader and to the writer, instead of nine keyword arguments
passed by hand through every layer::

    options = ImportOptions(kind="coco", images_root="val2017", lenient=True)
    report = import_annotations(project, "instances_val2017.json", options)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import LongtailError
from ..store.database import Project
from .adapters import import_adapted
from .importing import Progress, import_cocolike
from .labelme import import_labelme
from .report import ImportReport

# Formats an import reads: COCO-like JSON, labelme, and the adapters' formats.
COCO_LIKE = ("coco", "lvis")
KINDS = ("coco", "lvis", "labelme", "yolo", "voc", "cvat", "labelstudio")


@dataclass(frozen=True)
class ImportOptions:
    """How to import one file or folder (see ``longtail import --help``).

    - ``kind``: the format (:data:`KINDS`).
    - ``images_root``: the folder every image must lie in (docs/decisions/0007).
    - ``split``: the split new images join (default: the file's name says, else the
      project's default).
    - ``lenient``: import the good part, report the rest (else all or nothing).
    - ``reference_only`` (COCO/LVIS): record images without reading them.
    - ``repair_boxes``: take a disagreeing box from its mask (docs/decisions/0027).
    - ``follow_symlinks``: accept links that lead out of the image root.
    - ``federated`` (COCO-like kinds but LVIS): do not read the file as exhaustive over
      its categories; absent categories stay unverified (docs/decisions/0028).
    """

    kind: str = "coco"
    images_root: str | os.PathLike[str] | None = None
    split: str | None = None
    lenient: bool = False
    reference_only: bool = False
    repair_boxes: bool = False
    follow_symlinks: bool = False
    federated: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LongtailError(f"unknown import format {self.kind!r}; use {', '.join(KINDS)}")
        if self.kind not in COCO_LIKE and self.reference_only:
            raise LongtailError("--reference-only applies to COCO and LVIS files")
        if self.kind == "labelme" and self.repair_boxes:
            raise LongtailError("--repair-boxes applies to COCO, LVIS and the adapted formats")


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
    if options.kind == "labelme":
        return import_labelme(project, path, options=options, progress=progress)
    return import_adapted(project, path, options, progress)


__all__ = ["COCO_LIKE", "KINDS", "ImportOptions", "import_annotations"]

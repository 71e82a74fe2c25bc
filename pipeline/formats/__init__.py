"""COCO and LVIS v1 import and export, labelme import (docs/formats.md).

Imports are transactional (all or nothing, unless lenient) and report every problem
with its location; exports are deterministic (same project, same bytes)::

    report = import_coco(project, "instances_val2017.json", images_root="val2017")
    doc = export_lvis(project, "lvis_export.json", split="val")

See docs/formats.md for what is kept and what is lost.
"""

from .api import ImportOptions, import_annotations
from .coco import export_coco, import_coco
from .exporting import ExportSummary, export_project
from .ids import ExportedIds, exported_ids
from .labelme import import_labelme
from .lvis import export_lvis, import_lvis
from .report import FormatError, ImportReport, Problem

__all__ = [
    "ExportSummary",
    "ExportedIds",
    "FormatError",
    "ImportOptions",
    "ImportReport",
    "Problem",
    "export_coco",
    "export_lvis",
    "export_project",
    "import_annotations",
    "exported_ids",
    "import_coco",
    "import_labelme",
    "import_lvis",
]

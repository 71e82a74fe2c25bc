"""``longtail export PROJECT OUT --format {coco,lvis,yolo,voc,cvat,labelstudio} [--split NAME]
[--masks {polygon,rle,auto}]``"""

from __future__ import annotations

import argparse
import sys

from pipeline.formats import export_project
from pipeline.formats.adapters import FILE_FORMATS, FOLDER_FORMATS, export_adapted
from pipeline.outputs import is_stdout, output_target
from pipeline.store.database import Project

from ..acting import act_as, add_annotator_option
from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a project as COCO, LVIS v1, YOLO, VOC, CVAT or Label Studio",
        description="Write the project's accepted annotations as COCO or LVIS v1 JSON, a "
        "YOLO or VOC folder, a CVAT XML or a Label Studio JSON file (atomically; the same "
        "project always gives the same bytes).",
    )
    p.add_argument("project", help="project folder or database URL")
    p.add_argument(
        "out",
        metavar="OUT",
        help="file to write ('-': standard output), or the folder for yolo and voc",
    )
    p.add_argument(
        "--format",
        required=True,
        choices=("coco", "lvis", *FOLDER_FORMATS, *FILE_FORMATS),
        help="coco, lvis: one JSON file; yolo (segmentation), voc: a new (or empty) folder "
        "OUT, with the images linked or copied in; cvat: CVAT for images 1.1 XML; "
        "labelstudio: Label Studio JSON tasks (docs/formats.md says what each keeps)",
    )
    p.add_argument("--split", default=None, help="export only this split (default: all images)")
    p.add_argument(
        "--masks",
        default="auto",
        choices=("polygon", "rle", "auto"),
        help="mask form: auto writes polygons, and RLE for masks with holes or painted "
        "with a brush (default: auto)",
    )
    p.add_argument(
        "--include-unsegmented",
        action="store_true",
        help="also write instances that have a box and no accepted mask yet (box-only "
        "imports), with an empty segmentation",
    )
    add_annotator_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    act_as(args)  # exporting is an admin's action in a team project
    if args.format in (*FOLDER_FORMATS, *FILE_FORMATS):
        with Project.open(args.project) as project, progress_bar("exporting", unit="ann") as bar:
            summary = export_adapted(
                project,
                args.format,
                args.out,
                split=args.split,
                progress=bar,
                include_unsegmented=args.include_unsegmented,
            )
        print(summary.summary())
        return 0
    with Project.open(args.project) as project:
        # Refused before the work: never the project's own files, a folder or a device.
        output_target(args.out, project=project, stdout_ok=True)
        with progress_bar("exporting", unit="ann") as bar:
            _, summary = export_project(
                project,
                args.format,
                args.out,
                split=args.split,
                masks=args.masks,
                progress=bar,
                include_unsegmented=args.include_unsegmented,
                keep_document=False,  # streamed into the file: an LVIS-sized export fits
            )
    # With the document on standard output, the summary goes to standard error.
    print(summary.summary(), file=sys.stderr if is_stdout(args.out) else sys.stdout)
    return 0

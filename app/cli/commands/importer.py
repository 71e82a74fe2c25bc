"""``longtail import PROJECT FILE --format {coco,lvis,labelme} [--images ROOT] [--split NAME]
[--lenient]``"""

from __future__ import annotations

import argparse

from pipeline.formats import import_coco, import_labelme, import_lvis
from pipeline.store import Project

from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import COCO, LVIS or labelme annotations into a project",
        description="Import annotations (and their images, by reference) into a project. "
        "Any problem refuses the whole import and lists every problem with its location; "
        "--lenient imports the good part and writes the report next to the project.",
    )
    p.add_argument("project", help="project folder or database URL")
    p.add_argument("file", help="COCO/LVIS JSON file, or a labelme JSON file or folder")
    p.add_argument(
        "--format",
        required=True,
        choices=("coco", "lvis", "labelme"),
        help="coco: instances JSON; lvis: LVIS v1 or v0.5 JSON (keeps negative and "
        "not-exhaustive labels); labelme: a labelme JSON file or a folder of them",
    )
    p.add_argument(
        "--images",
        default=None,
        metavar="ROOT",
        help="folder the file's images are in (COCO/LVIS; default: next to the file, "
        "or its parent folder)",
    )
    p.add_argument(
        "--split",
        default=None,
        help="split the images join (default: the one the file name says, e.g. "
        "instances_val2017.json -> val, else the project's default)",
    )
    p.add_argument(
        "--lenient", action="store_true", help="import the good part; write a report of the rest"
    )
    p.add_argument(
        "--reference-only",
        action="store_true",
        help="COCO/LVIS: record the images without reading them (sizes from the file; "
        "missing files allowed, `longtail status` lists them)",
    )
    p.add_argument(
        "--repair-boxes",
        action="store_true",
        help="COCO/LVIS: take a bbox that disagrees with its mask from the mask (noted in "
        "the report) instead of refusing the annotation",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project, progress_bar("importing", unit="step") as bar:
        if args.format == "labelme":
            if args.images or args.reference_only or args.repair_boxes:
                from pipeline.errors import LongtailError

                raise LongtailError(
                    "--images, --reference-only and --repair-boxes apply to COCO and LVIS "
                    "files; labelme files name their own images"
                )
            report = import_labelme(
                project, args.file, split=args.split, lenient=args.lenient, progress=bar
            )
        else:
            importer = import_lvis if args.format == "lvis" else import_coco
            report = importer(
                project,
                args.file,
                images_root=args.images,
                split=args.split,
                lenient=args.lenient,
                progress=bar,
                reference_only=args.reference_only,
                repair_boxes=args.repair_boxes,
            )
    print(report.summary())
    return 0

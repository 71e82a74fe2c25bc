"""``longtail import PROJECT FILE_OR_DIR --format {coco,lvis,labelme,yolo,voc,cvat,labelstudio}
[--images ROOT] [--split NAME] [--lenient] [--follow-symlinks] [--federated] [--json]``"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pipeline.formats import ImportOptions, ImportReport, Problem, import_annotations
from pipeline.formats.api import KINDS
from pipeline.store.database import Project
from pipeline.text import for_terminal

from ..acting import act_as, add_annotator_option
from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import COCO, LVIS, labelme, YOLO, VOC, CVAT or Label Studio annotations",
        description="Import annotations (and their images, by reference) into a project. "
        "Any problem refuses the whole import and lists every problem with its location; "
        "--lenient imports the good part and writes the report next to the project.",
    )
    p.add_argument("project", help="project folder or database URL")
    p.add_argument(
        "file", help="the annotation file, or the folder (labelme, yolo, voc): see --format"
    )
    p.add_argument(
        "--format",
        required=True,
        choices=KINDS,
        help="coco: instances JSON; lvis: LVIS v1 or v0.5 JSON (keeps negative and "
        "not-exhaustive labels); labelme: a labelme JSON file or a folder of them; "
        "yolo: a YOLO dataset folder (data.yaml, images/, labels/; polygons or boxes); "
        "voc: a Pascal VOC folder (Annotations/, JPEGImages/, SegmentationObject/); "
        "cvat: a CVAT for images 1.1 XML file; labelstudio: a Label Studio JSON export",
    )
    p.add_argument(
        "--images",
        default=None,
        metavar="ROOT",
        help="the image root: the folder the file's images are in, none may be outside it "
        "(COCO/LVIS default: the folder above the file's; labelme: the imported folder)",
    )
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="accept images reached through symbolic links that lead out of the image root "
        "(refused by default)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print what was imported as JSON (counts, categories not in the project's "
        "vocabulary, problems and notes) instead of the summary line",
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
    p.add_argument(
        "--federated",
        action="store_true",
        help="COCO: do not read the file as exhaustive over its categories (absent "
        "categories stay unverified instead of becoming verified negatives)",
    )
    add_annotator_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    act_as(args)  # importing is an admin's action in a team project
    options = ImportOptions(
        kind=args.format,
        images_root=args.images,
        split=args.split,
        lenient=args.lenient,
        reference_only=args.reference_only,
        repair_boxes=args.repair_boxes,
        follow_symlinks=args.follow_symlinks,
        federated=args.federated,
    )
    with Project.open(args.project) as project, progress_bar("importing", unit="step") as bar:
        report = import_annotations(project, args.file, options, bar)
    if args.json:
        print(json.dumps(report_json(report), indent=2))
    else:
        print(for_terminal(report.summary()))  # names from the file: never raw escapes
        # --lenient never drops silently: each dropped record, one located line.
        for problem in report.problems:
            print(f"dropped: {for_terminal(problem.line())}")
    return 0


def report_json(report: ImportReport) -> dict[str, Any]:
    """An import report as JSON: the counts, the categories that matched none of the
    project's vocabulary, and every problem and note with its location."""

    def entry(problem: Problem) -> dict[str, Any]:
        where = {
            key: value
            for key in ("file", "image_id", "annotation_id", "category_id", "shape")
            if (value := getattr(problem, key)) is not None
        }
        return {**where, "message": problem.message}

    return {
        "source": report.source,
        "format": report.format,
        "split": report.split,
        "images_added": report.images_added,
        "images_reused": report.images_reused,
        "images_skipped": report.images_skipped,
        "instances": report.instances,
        "crowd": report.crowd,
        "annotations_skipped": report.annotations_skipped,
        "categories_added": report.categories_added,
        "categories_matched": report.categories_matched,
        "categories_unmatched": list(report.categories_unmatched),
        "negative_pairs": report.negative_pairs,
        "not_exhaustive_pairs": report.not_exhaustive_pairs,
        "problems": [entry(p) for p in report.problems],
        "notes": [entry(n) for n in report.notes],
        "report": str(report.report_path) if report.report_path else None,
    }

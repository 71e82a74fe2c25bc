"""``longtail predict PROJECT --image IMAGE [--box x,y,w,h | --point x,y] --out OUT.json``

Model-assisted masks from the command line: a box or a point prompt gives one mask,
no prompt gives the model's proposals for the whole image. The results are COCO
results JSON (RLE masks). torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json

from pipeline.errors import LongtailError

ARCHITECTURES = ("r50-fpn-v2", "swin-t")  # the keys of model.zoo.ARCHITECTURES (kept torch-free)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="model-assisted masks from a box, a point, or none")
    p.add_argument("project", help="project folder or database URL")
    p.add_argument("--image", required=True, help="image id, file name or path in the project")
    prompt = p.add_mutually_exclusive_group()
    prompt.add_argument("--box", type=_numbers(4), help="box prompt x,y,w,h (image pixels)")
    prompt.add_argument("--point", type=_numbers(2), help="point prompt x,y (image pixels)")
    p.add_argument("--category", help="the category of the prompted object (a project category)")
    p.add_argument("--model", choices=ARCHITECTURES, default="r50-fpn-v2", help="architecture")
    p.add_argument(
        "--weights",
        help="checkpoint file (default: the project's model in use, see `models`; "
        "else torchvision's cache, see `weights`)",
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--score-threshold", type=float, default=0.3, help="for proposals (0.3)")
    p.add_argument("--out", required=True, help="COCO results JSON to write")
    p.set_defaults(func=run)


def _numbers(count: int):
    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            values = ()
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"expected {count} numbers separated by commas")
        return values

    return parse


def run(args: argparse.Namespace) -> int:
    from pipeline.images import ImageFiles, find_image
    from pipeline.outputs import output_target
    from pipeline.store import Project
    from pipeline.vocabulary import project_categories

    with Project.open(args.project) as project:
        # Refused before the model loads: never the project's database, a folder, a device.
        output_target(args.out, project=project)
        record = find_image(project, args.image)
        path = ImageFiles(project).path(record.path)  # inside the image roots, or refused
        categories = project_categories(project)
    if not categories:
        raise LongtailError("the project has no categories; a model needs a vocabulary")
    if args.box is not None and (args.box[2] <= 0 or args.box[3] <= 0):
        raise LongtailError(f"the box {args.box} has no area (x,y,w,h with w, h > 0)")
    # A prompt off the image is refused before the model loads (partly outside: clipped).
    from pipeline.geometry import prompt_box, prompt_point

    if args.box is not None:
        prompt_box(args.box, record.height, record.width)
    if args.point is not None:
        prompt_point(args.point, record.height, record.width)

    from model.predictor import Predictor
    from pipeline.images import load_image

    pixels = load_image(path)
    if args.weights is not None:
        predictor = Predictor.load(categories, args.model, args.weights, device=args.device)
    else:  # the project's trained model in use, else the default weights
        from model.registry import project_predictor

        with Project.open(args.project) as project:
            predictor = project_predictor(project, device=args.device, architecture=args.model)
    categories = predictor.categories  # the model's classes (a trained model has its own)
    with predictor:
        if args.category is not None:
            predictor.category_index(args.category)  # an unknown name fails here
        note = predictor.weights.summary()
        if args.box is not None:
            found = [predictor.box_to_mask(pixels, args.box, category=args.category)]
            what = "box"
        elif args.point is not None:
            found = [predictor.point_to_mask(pixels, args.point, category=args.category)]
            what = "point"
        else:
            if not predictor.trained:
                raise LongtailError(
                    f"{note}: whole-image proposals need trained weights; pass --weights FILE "
                    "(see `longtail weights`), or prompt with --box"
                )
            found = predictor.propose(pixels, score_threshold=args.score_threshold)
            if args.category is not None:
                wanted = predictor.category_index(args.category)
                found = [p for p in found if p.category_index == wanted]
            what = "image"
    results = [
        p.coco_result(
            record.id, categories[p.category_index].id if p.category_index is not None else None
        )
        for p in found
    ]
    _check_masks(results, record)
    _write_json(args.out, results, project)
    sources = sorted({p.source for p in found})
    print(f"weights: {note}")
    if any(s.startswith("fallback") for s in sources):
        print("the mask comes from the classical fallback (no trained mask head), not the model")
    print(
        f"wrote {len(results)} mask{'s' if len(results) != 1 else ''} from the {what} prompt "
        f"({', '.join(sources) or 'none'}) to {args.out}"
    )
    return 0


def _check_masks(results: list[dict], record: object) -> None:
    """Every mask about to be written covers the image exactly (as an import would
    check it): a results file must never carry an RLE that decodes to garbage."""
    from pipeline.errors import GeometryError
    from pipeline.geometry import Mask

    for n, result in enumerate(results):
        try:
            Mask.from_rle(result["segmentation"], record.height, record.width)
        except GeometryError as exc:
            raise LongtailError(
                f"mask #{n} for image {record.id} is not a mask of the "
                f"{record.width}x{record.height} image ({exc}); nothing was written"
            ) from None


def _write_json(path: str, data: object, project: object) -> None:
    """Whole or not at all, through the one output helper (decision 0023)."""
    from pipeline.outputs import write_output

    write_output(path, json.dumps(data).encode("utf-8"), project=project)

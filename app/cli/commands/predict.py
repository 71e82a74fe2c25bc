"""``longtail predict PROJECT --image IMAGE [--box x,y,w,h] [--point x,y ...] [--negative-point x,y ...] --out OUT.json``

Model-assisted masks from the command line: a box and/or points give one mask, no
prompt gives the model's proposals for the whole image; ``--prompts FILE`` runs a list
of prompts into one file. Points refine the mask: ``--point`` (repeatable) is on the
object, ``--negative-point`` (repeatable) off it; without ``--box`` the first
``--point`` is the prompt. The results are COCO results JSON (RLE masks) whose image
and category ids are the ones the project's export writes
(:func:`pipeline.formats.exported_ids`), so ``longtail evaluate`` and pycocotools take
them against that export. torch is imported only when the command runs.

A prompts file is a JSON list, one object per prompt, answered in order::

    [{"image": 155341, "box": [x, y, w, h], "points": [[x, y, 1], [x, y, 0]],
      "category": "bed"}, {"image": "scene.png", "points": [[x, y, 1]]}]

``image`` is an exported image id (as in the export and the results) or a file name;
each prompt needs a ``box`` or a positive point; each result carries ``prompt_index``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.names import DEFAULT_ARCHITECTURE, ZOO_ARCHITECTURES
from pipeline.errors import LongtailError

if TYPE_CHECKING:
    from pipeline.store.database import Project

ARCHITECTURES = ZOO_ARCHITECTURES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="model-assisted masks from a box, points, or none")
    p.add_argument("project", help="project folder or database URL")
    p.add_argument("--image", help="image id, file name or path in the project")
    p.add_argument("--box", type=_numbers(4), help="box prompt x,y,w,h (image pixels)")
    p.add_argument(
        "--point",
        type=_numbers(2),
        action="append",
        default=[],
        help="a point on the object x,y (repeatable; without --box the first is the prompt)",
    )
    p.add_argument(
        "--negative-point",
        type=_numbers(2),
        action="append",
        default=[],
        help="a point off the object x,y (repeatable): refines the mask",
    )
    p.add_argument(
        "--prompts",
        help='a JSON list of prompts {"image", "box", "points": [[x, y, 1|0], ...], '
        '"category"} answered in order into one results file',
    )
    p.add_argument("--category", help="the category of the prompted object (a project category)")
    p.add_argument(
        "--model", choices=ARCHITECTURES, default=DEFAULT_ARCHITECTURE, help="architecture"
    )
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
        if len(values) != count or not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"expected {count} numbers separated by commas")
        return values

    return parse


@dataclass(frozen=True)
class Prompt:
    """One prompt, checked against its image: a box and/or clicks, or nothing (the
    whole image's proposals)."""

    image: Any  # the image's record (pipeline.images.ImageRecord)
    box: tuple[float, ...] | None
    points: tuple[tuple[float, float, bool], ...]
    category: str | None

    @property
    def what(self) -> str:
        if self.box is not None:
            return "box" + (" and points" if self.points else "")
        return "point" if self.points else "image"


def run(args: argparse.Namespace) -> int:
    from pipeline.formats import exported_ids
    from pipeline.images import ImageFiles
    from pipeline.outputs import output_target
    from pipeline.store.database import Project
    from pipeline.vocabulary import project_categories

    with Project.open(args.project) as project:
        # Refused before the model loads: never the project's database, a folder, a device.
        output_target(args.out, project=project)
        ids = exported_ids(project)
        if args.prompts is not None:
            if args.image or args.box or args.point or args.negative_point or args.category:
                raise LongtailError(
                    "--prompts takes images, boxes, points and categories from its file; "
                    "drop --image, --box, --point, --negative-point and --category"
                )
            prompts = read_prompts(project, Path(args.prompts), ids)
        elif args.image is None:
            raise LongtailError("predict needs --image IMAGE (with a prompt) or --prompts FILE")
        else:
            prompts = [command_line_prompt(project, args)]
        files = ImageFiles(project)
        paths = {p.image.id: files.path(p.image.path) for p in prompts}  # inside the roots
        categories = project_categories(project)
        if not categories:
            raise LongtailError("the project has no categories; a model needs a vocabulary")

    from model.predictor import Predictor
    from pipeline.images import load_image

    if args.weights is not None:
        predictor = Predictor.load(categories, args.model, args.weights, device=args.device)
    else:  # the project's trained model in use, else the default weights
        from model.registry import project_predictor

        with Project.open(args.project) as project:
            predictor = project_predictor(project, device=args.device, architecture=args.model)
    categories = predictor.categories  # the model's classes (a trained model has its own)
    results: list[dict] = []
    sources: set[str] = set()
    with predictor:
        for prompt in prompts:
            if prompt.category is not None:
                predictor.category_index(prompt.category)  # an unknown name fails here
        note = predictor.weights.summary()
        pixels_of: dict[int, Any] = {}
        for index, prompt in enumerate(prompts):
            record = prompt.image
            if record.id not in pixels_of:
                pixels_of.clear()  # one image in memory at a time (prompts come grouped or not)
                pixels_of[record.id] = load_image(paths[record.id])
            found = answer(predictor, prompt, pixels_of[record.id], args, note)
            for proposal in found:
                category = proposal.category_index
                category_id = (
                    ids.category(categories[category].id) if category is not None else None
                )
                result = proposal.coco_result(ids.image(record.id), category_id)
                if args.prompts is not None:
                    result["prompt_index"] = index
                _check_mask(result, record, len(results))
                results.append(result)
                sources.add(proposal.source)
    _write_json(args.out, results, project)
    print(f"weights: {note}")
    if any(s.startswith("fallback") for s in sources):
        print("masks from the classical fallback (no trained mask head), not the model")
    what = (
        f"{len(prompts)} prompts" if args.prompts is not None else f"the {prompts[0].what} prompt"
    )
    print(
        f"wrote {len(results)} mask{'s' if len(results) != 1 else ''} from {what} "
        f"({', '.join(sorted(sources)) or 'none'}) to {args.out}"
    )
    return 0


def answer(predictor: Any, prompt: Prompt, pixels: Any, args: Any, note: str) -> list:
    """The proposals for one prompt: one mask for a box or points, else every detection."""
    if prompt.box is not None:
        return [
            predictor.box_to_mask(
                pixels, prompt.box, category=prompt.category, points=prompt.points
            )
        ]
    if prompt.points:
        first = next(p for p in prompt.points if p[2])
        rest = list(prompt.points)
        rest.remove(first)
        return [predictor.point_to_mask(pixels, first[:2], category=prompt.category, points=rest)]
    if not predictor.trained:
        raise LongtailError(
            f"{note}: whole-image proposals need trained weights; pass --weights FILE "
            "(see `longtail weights`), or prompt with --box"
        )
    found = predictor.propose(pixels, score_threshold=args.score_threshold)
    if prompt.category is not None:
        wanted = predictor.category_index(prompt.category)
        found = [p for p in found if p.category_index == wanted]
    return found


def command_line_prompt(project: Any, args: argparse.Namespace) -> Prompt:
    """The prompt of --image, --box, --point, --negative-point, --category (checked)."""
    from pipeline.images import find_image

    record = find_image(project, args.image)
    points = [(x, y, True) for x, y in args.point] + [(x, y, False) for x, y in args.negative_point]
    return checked_prompt(record, args.box, points, args.category, "")


def checked_prompt(record: Any, box: Any, points: list, category: str | None, where: str) -> Prompt:
    """A prompt whose box has area and whose box and points lie on the image (a prompt
    off the image is refused before the model loads; partly outside: clipped)."""
    from pipeline.errors import PromptError
    from pipeline.masks.geometry import prompt_box, prompt_point

    if box is not None:
        box = tuple(float(v) for v in box)
        if box[2] <= 0 or box[3] <= 0:
            raise LongtailError(f"{where}the box {list(box)} has no area (x,y,w,h with w, h > 0)")
    if box is None and points and not any(p[2] for p in points):
        raise LongtailError(f"{where}negative points need a box or a positive point")
    try:
        if box is not None:
            prompt_box(box, record.height, record.width)
        for x, y, _ in points:
            prompt_point((x, y), record.height, record.width)
    except PromptError as exc:
        raise PromptError(f"{where}{exc}") from None
    clicks = tuple((float(x), float(y), bool(positive)) for x, y, positive in points)
    return Prompt(record, box, clicks, category)


def read_prompts(project: Any, path: Path, ids: Any) -> list[Prompt]:
    """Every prompt of a prompts file, checked before any model work (all or nothing):
    a bad one is refused as ``FILE: prompt #N: what``."""
    from pipeline.errors import NotFoundError
    from pipeline.images import find_image, get_image

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LongtailError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LongtailError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(data, list) or not data:
        raise LongtailError(f"{path}: expected a non-empty JSON list of prompts")
    by_exported = {exported: internal for internal, exported in ids.images.items()}
    prompts = []
    for n, item in enumerate(data):
        where = f"{path}: prompt #{n}: "
        if not isinstance(item, dict):
            raise LongtailError(f"{where}expected an object with image, box, points, category")
        unknown = sorted(set(item) - {"image", "box", "points", "category"})
        if unknown:
            raise LongtailError(f"{where}unknown field {unknown[0]!r}")
        image = item.get("image")
        try:
            if type(image) is int:
                if image not in by_exported:
                    raise LongtailError(f"{where}no image has the exported id {image}")
                record = get_image(project, by_exported[image])
            elif isinstance(image, str) and image:
                record = find_image(project, image)
            else:
                raise LongtailError(f"{where}image must be an exported image id or a file name")
        except NotFoundError as exc:
            raise LongtailError(f"{where}{exc}") from None
        box = item.get("box")
        if box is not None and not _numbers_list(box, 4):
            raise LongtailError(f"{where}box must be [x, y, w, h] (four numbers)")
        points = []
        for k, point in enumerate(item.get("points") or []):
            if not (
                isinstance(point, list)
                and len(point) == 3
                and _numbers_list(point[:2], 2)
                and point[2] in (0, 1, True, False)
            ):
                raise LongtailError(f"{where}points[{k}] must be [x, y, 1] or [x, y, 0]")
            points.append((float(point[0]), float(point[1]), bool(point[2])))
        if box is None and not any(p[2] for p in points):
            raise LongtailError(f"{where}needs a box or a positive point")
        category = item.get("category")
        if category is not None and not isinstance(category, str):
            raise LongtailError(f"{where}category must be a category name")
        prompts.append(checked_prompt(record, box, points, category, where))
    return prompts


def _numbers_list(value: Any, count: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(type(v) in (int, float) and math.isfinite(v) for v in value)
    )


def _check_mask(result: dict, record: Any, n: int) -> None:
    """A mask about to be written covers the image exactly (as an import would check
    it): a results file must never carry an RLE that decodes to garbage."""
    from pipeline.errors import GeometryError
    from pipeline.masks.geometry import Mask

    try:
        Mask.from_rle(result["segmentation"], record.height, record.width)
    except GeometryError as exc:
        raise LongtailError(
            f"mask #{n} for image {record.id} is not a mask of the "
            f"{record.width}x{record.height} image ({exc}); nothing was written"
        ) from None


def _write_json(path: str, data: object, project: Project | None) -> None:
    """Whole or not at all, through the one output helper (decision 0023)."""
    from pipeline.outputs import write_output

    write_output(path, json.dumps(data).encode("utf-8"), project=project)

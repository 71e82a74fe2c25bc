"""A small hand-made project driven through all six stages with known answers, shared
by the statistics and explorer tests (its numbers are counted by hand there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import select
from stages_support import box_mask, category_ids, make_project

from pipeline.events import Effort
from pipeline.masks.geometry import Mask
from pipeline.stages import (
    EXHAUSTIVE,
    MARKING,
    NEGATIVES,
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
    ExhaustiveAnswer,
    Mark,
    MarkAnswer,
    NegativeAnswer,
    Pipeline,
    SegmentAnswer,
    Spot,
    SpotAnswer,
    VerifyAnswer,
)
from pipeline.store import schema as s
from pipeline.store.database import Project

BOX_A, BOX_B, BOX_C, BOX_D = (10, 10, 20, 20), (50, 10, 30, 30), (70, 50, 30, 30), (10, 10, 40, 40)
TOOL_EFFORT = {"polygon": Effort(10.0, 8), "proposal": Effort(2.0, 2), "brush": Effort(6.0, 20)}


class Recorder:
    """Answers through the service and keeps the hand count of what was answered."""

    def __init__(self, service: Pipeline) -> None:
        self.service = service
        self.answers: list[tuple[str, int, Effort, str | None]] = []  # who, stage, effort, tool

    def answer(self, item, answer, effort: Effort, tool: str | None = None):
        result = self.service.answer(item, answer, effort=effort)
        self.answers.append((item.annotator.name, item.stage, effort, tool))
        return result


class HandMade(NamedTuple):
    project: Project
    cats: dict[str, int]
    rec: Any  # Recorder
    negatives: dict[int, int]  # category id -> verified negatives given
    absent: set[tuple[int, int]]  # (image id, category id) answered absent
    masks: list[Mask]  # the four accepted masks
    images: tuple[int, int, int]  # img00, img01, img02


def build_hand_made(folder: Path) -> HandMade:
    """Three images: img00 has two cats (one redrawn after a rejection) and a dog whose
    exhaustiveness check said "some are missing"; img01 has one cat; img02 nothing.
    Each category then gets up to two verified negatives; one negative answer is taken
    back and given again."""
    project = make_project(
        folder,
        images=3,
        spot_done_after=1,
        negatives_per_category=2,
        negative_candidates_per_image=5,
    )
    service = Pipeline(project)
    service.seed()
    cats = category_ids(project)
    rec = Recorder(service)
    spotted: set[int] = set()
    while (item := service.next_item(SPOTTING, "spotter")) is not None:
        name = Path(item.image.path).name
        if item.image.id in spotted or name == "img02.png":
            rec.answer(item, SpotAnswer(nothing_new=True), Effort(3.0, 1))
            continue
        spots = [Spot(cats["cat"], 15, 15)]
        if name == "img00.png":
            spots.append(Spot(cats["dog"], 85, 60))
        spotted.add(item.image.id)
        rec.answer(item, SpotAnswer(spots), Effort(5.0, 2))
    images = {Path(r.path).name: r.id for r in _images(project)}
    img0, img1 = images["img00.png"], images["img01.png"]
    while (item := service.next_item(MARKING, "marker")) is not None:
        if item.image.id == img1:
            boxes = [BOX_D]
        elif item.category.id == cats["cat"]:
            boxes = [BOX_A, BOX_B]
        else:
            boxes = [BOX_C]
        marks = [Mark(x + 1, y + 1, (x, y, w, h)) for x, y, w, h in boxes]
        rec.answer(item, MarkAnswer(True, marks), Effort(4.0, 3))
    tools = {BOX_A: "polygon", BOX_B: "proposal", BOX_C: "polygon", BOX_D: "brush"}
    rejected = False
    while True:
        item = service.next_item(SEGMENTATION, "drawer")
        if item is not None:
            box = tuple(int(v) for v in item.instance.box)
            tool = "polygon" if item.attempts else tools[box]
            rec.answer(item, SegmentAnswer(box_mask(*box), tool), TOOL_EFFORT[tool], tool)
            continue
        item = service.next_item(VERIFICATION, "verifier")
        if item is None:
            break
        reject = not rejected and tuple(int(v) for v in item.instance.box) == BOX_B
        rejected = rejected or reject
        rec.answer(item, VerifyAnswer(not reject, "too loose" if reject else None), Effort(2.0, 1))
    while (item := service.next_item(EXHAUSTIVE, "checker")) is not None:
        complete = item.category.id == cats["cat"]
        rec.answer(item, ExhaustiveAnswer(complete), Effort(3.0, 1))
    negatives: dict[int, int] = {}
    absent: set[tuple[int, int]] = set()
    undone = False
    while (item := service.next_item(NEGATIVES, "negator")) is not None:
        if not undone:
            rec.service.answer(item, NegativeAnswer(False), effort=Effort(99.0, 99))
            item = service.undo_last("negator")
            undone = True
        rec.answer(item, NegativeAnswer(False), Effort(1.5, 1))
        negatives[item.category.id] = negatives.get(item.category.id, 0) + 1
        absent.add((item.image.id, item.category.id))
    masks = [box_mask(*b) for b in (BOX_A, BOX_B, BOX_C, BOX_D)]
    return HandMade(project, cats, rec, negatives, absent, masks, (img0, img1, images["img02.png"]))


def _images(project):
    with project.read() as conn:
        return conn.execute(select(s.images).order_by(s.images.c.id)).all()


def _images(project):
    with project.read() as conn:
        return conn.execute(select(s.images).order_by(s.images.c.id)).all()


def simulated_tiny_coco(tiny_coco: Path, folder: Path, count: int = 8, noise: str = "sloppy"):
    """A project of the first ``count`` tiny_coco val images, replayed through all six
    stages by three scripted annotators (``noise`` as ``longtail simulate``)."""
    import json
    import shutil

    from pipeline.images import add_image_folder
    from pipeline.simulate import simulate
    from pipeline.store.settings import ProjectSettings
    from pipeline.vocabulary import add_categories, shipped_vocabulary

    document = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    chosen = sorted(document["images"], key=lambda im: im["id"])[:count]
    keep = {im["id"] for im in chosen}
    images = folder / "images"
    images.mkdir(parents=True)
    for im in chosen:
        shutil.copy(tiny_coco / "val2017" / im["file_name"], images / im["file_name"])
    subset = {
        **document,
        "images": chosen,
        "annotations": [a for a in document["annotations"] if a["image_id"] in keep],
    }
    truth = folder / "truth.json"
    truth.write_text(json.dumps(subset))
    settings = ProjectSettings().updated(negatives_per_category=2)
    project = Project.create(folder / "project", settings=settings)
    add_categories(project, shipped_vocabulary("coco"))
    add_image_folder(project, images)
    simulate(project, truth, annotators=3, noise=noise, seed=0)
    return project, truth


_SIMULATED: dict[tuple[str, int, str], Path] = {}


def simulated_tiny_coco_folder(tiny_coco: Path, count: int = 5, noise: str = "sloppy") -> Path:
    """The project folder of :func:`simulated_tiny_coco` and its truth file, simulated once
    per test process (the tests that use it only read it); open it with ``Project.open``."""
    import tempfile

    key = (str(tiny_coco), count, noise)
    if key not in _SIMULATED:
        folder = Path(tempfile.mkdtemp(prefix="longtail-sim-"))
        project, _ = simulated_tiny_coco(tiny_coco, folder, count, noise)
        project.close()
        _SIMULATED[key] = folder
    return _SIMULATED[key] / "project"

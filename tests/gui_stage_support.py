"""Helpers of the stage-view tests: a small real project from tiny_coco (a few images, the
COCO-80 vocabulary, the images' ground truth), a real Session, and a scripted annotator
that answers earlier stages from the truth through the service (so a test of stage N
starts with real stage-N items)."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipeline.images import add_image_folder
from pipeline.simulate.annotator import ScriptedAnnotator
from pipeline.simulate.noise import noise_profile
from pipeline.simulate.truth import Truth, load_truth
from pipeline.stages import Pipeline
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.settings import ProjectSettings
from pipeline.vocabulary import add_categories, shipped_vocabulary

BOT = "scripted"


@dataclass
class CocoProject:
    project: Project
    truth: Truth
    truth_path: Path
    service: Pipeline
    scripted: ScriptedAnnotator

    def work(self, stage: int, *, limit: int = 500, who: str | None = None) -> int:
        """Answer every open item of ``stage`` from the truth (as one scripted annotator
        per stage, so nobody verifies their own segments); returns how many."""
        who = who or f"{BOT}-{stage}"
        done = 0
        while done < limit:
            item = self.service.next_item(stage, who)
            if item is None:
                return done
            answer, effort = self.scripted.answer(item)
            self.service.answer(item, answer, effort=effort)
            done += 1
        return done

    def work_until(self, stage: int) -> None:
        """Answer the stages before ``stage`` (earliest first, repeatedly) until none of
        them has open items: the project then waits in ``stage`` and later."""
        for _ in range(50):
            answered = sum(self.work(earlier) for earlier in range(1, stage))
            if not answered:
                return
        raise AssertionError("the earlier stages did not settle")


def coco_images(
    tiny_coco: Path,
    count: int,
    target: Path,
    split: str = "val2017",
    *,
    min_area: float = 0.0,
    max_instances: int = 6,
) -> Path:
    """The ``count`` images of ``split`` with the most instances (2 to ``max_instances``,
    each at least ``min_area`` px and no crowd region when ``min_area`` is set), copied
    with their truth into ``target``; returns the truth JSON."""
    document = json.loads((tiny_coco / "annotations" / f"instances_{split}.json").read_text())
    per_image: dict[int, list[dict]] = {}
    for a in document["annotations"]:
        per_image.setdefault(a["image_id"], []).append(a)

    def fits(image: dict) -> bool:
        anns = per_image.get(image["id"], [])
        if not 2 <= len(anns) <= max_instances:
            return False
        return not min_area or all(a["area"] >= min_area and not a["iscrowd"] for a in anns)

    # a handful of instances each: every stage has work, no stage drags
    images = sorted(
        (im for im in document["images"] if fits(im)),
        key=lambda im: (-len(per_image.get(im["id"], [])), im["id"]),
    )[:count]
    keep = {im["id"] for im in images}
    folder = target / "images"
    folder.mkdir(parents=True)
    for im in images:
        shutil.copy(tiny_coco / split / im["file_name"], folder / im["file_name"])
    subset = {
        **document,
        "images": images,
        "annotations": [
            a for a in document["annotations"] if a["image_id"] in keep and not a["iscrowd"]
        ],
    }
    truth = target / "truth.json"
    truth.write_text(json.dumps(subset))
    return truth


def coco_project(
    tiny_coco: Path,
    tmp_path: Path,
    images: int = 2,
    *,
    min_area: float = 0.0,
    seed: bool = True,
    **settings: Any,
) -> CocoProject:
    """A project of ``images`` tiny_coco images with the COCO-80 vocabulary (seeded
    unless ``seed`` is false)."""
    truth_path = coco_images(tiny_coco, images, tmp_path, min_area=min_area)
    defaults = {"negatives_per_category": 1, "negative_candidates_per_image": 2}
    project = Project.create(
        tmp_path / "project", settings=ProjectSettings().updated(**{**defaults, **settings})
    )
    add_categories(project, shipped_vocabulary("coco"))
    add_image_folder(project, tmp_path / "images")
    truth = load_truth(truth_path, project)
    service = Pipeline(project)
    if seed:
        service.seed()
    with project.read() as conn:
        category_ids = list(conn.execute(select(s.categories.c.id)).scalars())
    scripted = ScriptedAnnotator(truth, noise_profile("none"), random.Random(0), category_ids, 0.85)
    return CocoProject(project, truth, truth_path, service, scripted)


def spotting_fixtures() -> tuple[Any, Any]:
    """The ``work`` and ``view`` fixtures of a stage-1 view test module, as
    ``work, view = spotting_fixtures()``: a 2-image tiny_coco project without stage 6
    (a CocoProject), and a SpottingView on it for annotator "spotter", shown."""
    import pytest

    @pytest.fixture
    def work(tiny_coco: Path, tmp_path: Path) -> Any:
        work = coco_project(tiny_coco, tmp_path, images=2, negatives_per_category=0)
        yield work
        work.project.close()

    @pytest.fixture
    def view(qtbot: Any, work: CocoProject) -> Any:
        from app.gui.session import Session
        from app.gui.stages.spotting import SpottingView

        session = Session(work.project, "spotter")
        view = SpottingView(session)
        show_view(qtbot, view)
        yield view
        view.deactivate()
        session.close()

    return work, view


@contextmanager
def verification_view(
    qtbot: Any, tiny_coco: Path, tmp_path: Path, size: tuple[int, int] = (1100, 800)
) -> Iterator[tuple[CocoProject, Any]]:
    """A 2-image tiny_coco project worked until stage 4 (a CocoProject) and a
    VerificationView on it for annotator "verifier", shown at ``size``; all closed after."""
    from app.gui.session import Session
    from app.gui.stages.verification import VerificationView
    from pipeline.stages import VERIFICATION

    work = coco_project(tiny_coco, tmp_path, images=2)
    work.work_until(VERIFICATION)
    session = Session(work.project, "verifier")
    view = VerificationView(session)
    try:
        show_view(qtbot, view, *size)
        yield work, view
    finally:
        view.deactivate()
        session.close()
        work.project.close()


def rows(project: Project, table: Any, *where: Any) -> list[Any]:
    with project.read() as conn:
        return conn.execute(select(table).where(*where)).all()


def answer_events(project: Project, stage: int) -> list[Any]:
    return rows(project, s.events, s.events.c.stage == stage, s.events.c.action == "answer")


def show_view(qtbot: Any, view: Any, width: int = 1100, height: int = 750) -> None:
    """Show a stage view as its own active window (its shortcuts need an active window)
    and activate it: it claims its first item(s)."""
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow, timeout=3000)
    view.activate()


class GrabCutPrompts:
    """The classical fallback of ``model.fallback`` (OpenCV GrabCut from a box) as the
    model worker's predictor: real masks from real pixels, without building a torch
    model (which costs the tests tens of seconds on two shared cores)."""

    trained = False

    def box_to_mask(self, pixels: Any, box: Any, category: Any = None) -> Any:
        from types import SimpleNamespace

        from model import fallback
        from pipeline.masks.geometry import Mask

        found = fallback.box_to_mask(pixels, box)
        return SimpleNamespace(mask=Mask.from_bitmap(found.bitmap), score=1.0, source=found.method)

    def point_to_mask(self, pixels: Any, point: Any, category: Any = None) -> Any:
        height, width = pixels.shape[:2]
        side = 0.2 * max(height, width)
        x0, y0 = max(0.0, point[0] - side / 2), max(0.0, point[1] - side / 2)
        box = (x0, y0, min(side, width - x0), min(side, height - y0))
        return self.box_to_mask(pixels, box, category)


def click_image(view: Any, x: float, y: float, button: Any = None) -> None:
    """A real mouse click (left unless ``button``) at image pixel (x, y) of a stage
    view's canvas."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest

    pos = view.canvas.image_to_view(QPointF(x, y)).toPoint()
    QTest.mouseClick(view.canvas.viewport(), button or Qt.MouseButton.LeftButton, pos=pos)


def use_grabcut_worker(session: Any) -> Any:
    """Give ``session`` a real ModelWorker thread whose predictor is :class:`GrabCutPrompts`
    (the session would otherwise build the default predictor on first use)."""
    from app.gui.workers.model import ModelWorker

    worker = ModelWorker(session.project, predictor_factory=GrabCutPrompts, parent=session)
    session._model_worker = worker  # the session's lazily made worker, made here instead
    return worker

"""A trained model in use: its whole-image detections become spot suggestions (stage 1)
and candidate marks (stage 2), each accepted with U.

Training a model is out of reach of a quick test, so the registry holds a finished run
whose detector is a stand-in that detects the ground truth (through the real ModelWorker
thread): what is tested is what the views do with detections."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from gui_stage_support import coco_project, rows, show_view
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.gui.session import Session
from app.gui.stages.marking import MarkingView
from app.gui.stages.spotting import SpottingView
from app.gui.workers.model import ModelWorker
from pipeline.stages import MARKING
from pipeline.store import schema as s


class TruthDetector:
    """Detects every truth instance of the image with a score below one."""

    trained = True

    def __init__(self, truth, names, image_of):
        self.truth, self.names, self.image_of = truth, names, image_of

    def propose(self, pixels):
        image = self.truth.images[self.image_of(pixels)]
        return [
            SimpleNamespace(category=self.names[t.category_id], score=0.9 - 0.1 * i, box=t.bbox)
            for i, t in enumerate(image.instances)
        ]


@pytest.fixture
def work(tiny_coco, tmp_path):
    from model.training.registry import (
        FINISHED,
        create_model,
        models_dir,
        update_model,
        use_model,
    )

    work = coco_project(tiny_coco, tmp_path, images=1, negatives_per_category=0)
    record = create_model(
        work.project, name="stand-in", architecture="tiny", category_ids=[1], config={}
    )
    weights = models_dir(work.project) / "stand-in.pt"  # the registry uses only files there
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"not read: the worker's predictor is the stand-in")
    update_model(work.project, record.id, status=FINISHED, checkpoint=str(weights))
    use_model(work.project, record.id)
    yield work
    work.project.close()


def session_with_detector(work, who):
    session = Session(work.project, who)
    names = {r.id: r.name for r in rows(work.project, s.categories)}
    (image_id,) = work.truth.images
    detector = TruthDetector(work.truth, names, lambda pixels: image_id)
    session._model_worker = ModelWorker(
        work.project, predictor_factory=lambda: detector, parent=session
    )
    return session


def test_u_accepts_the_models_suggestions_as_spots_and_candidates_as_marks(qtbot, work):
    session = session_with_detector(work, "spotter")
    try:
        view = SpottingView(session)
        show_view(qtbot, view)
        item = view.items[0]
        truth = work.truth.images[item.image.id]
        qtbot.waitUntil(lambda: bool(view.suggestions), timeout=10000)
        categories = {t.category_id for t in truth.instances}
        assert {sg.category.id for sg in view.suggestions} == categories
        for _ in categories:
            QTest.keyClick(view.canvas, Qt.Key.Key_U)
        QTest.keyClick(view.canvas, Qt.Key.Key_Return)
        spots = rows(work.project, s.spots, s.spots.c.image_id == item.image.id)
        assert {sp.category_id for sp in spots} == categories
        view.deactivate()

        marking = MarkingView(session)
        show_view(qtbot, marking)
        shown = marking.items[0]
        QTest.keyClick(marking.canvas, Qt.Key.Key_Y)
        instances = truth.of(shown.category.id)
        if len(instances) > 1:  # the spotted one is marked; the others are candidates
            qtbot.waitUntil(lambda: bool(marking.candidates), timeout=10000)
        for _ in marking.candidates[:]:
            QTest.keyClick(marking.canvas, Qt.Key.Key_U)
        QTest.keyClick(marking.canvas, Qt.Key.Key_Return)
        marked = rows(
            work.project,
            s.instances,
            s.instances.c.image_id == shown.image.id,
            s.instances.c.category_id == shown.category.id,
        )
        assert len(marked) == len(instances)
        assert sum(m.box_w is not None for m in marked) == len(instances) - 1
        assert [
            r.stage for r in rows(work.project, s.work_items, s.work_items.c.id == shown.id)
        ] == [MARKING]
        marking.deactivate()
    finally:
        session._model_worker.close()
        session.close()

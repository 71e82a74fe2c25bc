"""Model proposals through the ModelWorker thread: box and point prompts, cancel, an
event loop that keeps ticking meanwhile. Without weights the Predictor answers with the
classical fallback (GrabCut), as it does on a fresh install."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtTest import QTest

from app.gui.editor import MaskEditor
from app.gui.workers.model import ModelWorker
from pipeline.masks.geometry import Mask

IMAGE = "000000397133.jpg"


def tiny_predictor():
    """A real Mask R-CNN, small input size, no trained weights (so: the fallback)."""
    import torch

    from model.predictor import Predictor
    from model.weights import WeightsReport
    from model.zoo import build_model

    torch.manual_seed(0)
    model = build_model("r50-fpn-v2", 2, min_size=64, max_size=96)
    return Predictor(model, ["object"], weights=WeightsReport("r50-fpn-v2"), device="cpu")


@pytest.fixture(scope="module")
def coco_image(tiny_coco):
    data = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    image = next(i for i in data["images"] if i["file_name"] == IMAGE)
    # The sink: a large, plain object with a tight COCO box.
    annotation = next(
        a for a in data["annotations"] if a["image_id"] == image["id"] and a["category_id"] == 81
    )
    return tiny_coco / "val2017" / IMAGE, image, annotation


@pytest.fixture(scope="module")
def worker(qapp):
    # One worker (one model build, one torch import) for the module's tests.
    w = ModelWorker(predictor_factory=tiny_predictor)
    yield w
    w.close()


class TickCounter:
    """A 5 ms timer on the GUI thread: how often it fired, and the longest gap."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest_gap_ms = 0.0
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest_gap_ms = max(self.longest_gap_ms, (now - self._last) * 1000)
        self._last = now
        self.ticks += 1

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def test_a_box_proposal_comes_back_through_the_worker_as_an_editable_mask(
    qtbot, worker, coco_image, screenshot_dir
):
    path, image, annotation = coco_image
    editor = MaskEditor(model_worker=worker)
    qtbot.addWidget(editor)
    editor.resize(1000, 700)
    editor.show()
    qtbot.waitExposed(editor)
    editor.load(path, category="object")
    # Warm the worker (torch import, model build) so the timing below is the proposal's.
    with qtbot.waitSignal(worker.proposalReady, timeout=120_000):
        worker.propose_box(path, (0, 0, 20, 20))
    QTest.keyClick(editor.view, Qt.Key.Key_M)
    assert editor.tool.name == "prompt"
    x, y, w, h = annotation["bbox"]
    vp = editor.view.viewport()
    start = editor.view.image_to_view(QPointF(x, y)).toPoint()
    end = editor.view.image_to_view(QPointF(x + w, y + h)).toPoint()
    ticks = TickCounter()
    busy = []
    worker.busy.connect(busy.append)
    with qtbot.waitSignal(editor.maskChanged, timeout=60_000) as got:
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, pos=start)
        QTest.mouseMove(vp, end)
        QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=end)
        assert editor.spinner.isVisible() and editor.waiting_for_proposal
        ticks.start()
    ticks.stop()
    mask = got.args[0]
    assert isinstance(mask, Mask) and mask.area > 0
    mx, my, mw, mh = mask.bbox
    # The proposal lies inside the (screen-rounded) prompt box.
    assert mx >= x - 1 and my >= y - 1 and mx + mw <= x + w + 1 and my + mh <= y + h + 1
    assert worker.last_source.startswith("fallback")
    assert editor.tool_used() == "proposal" and not editor.spinner.isVisible()
    assert busy == [True, False]
    # The GUI thread kept running while the worker thought (figure: bench/canvas.py).
    print(
        f"\nproposal: {ticks.ticks} ticks of 5 ms, longest stall {ticks.longest_gap_ms:.1f} ms",
        file=sys.stderr,
    )
    assert ticks.ticks >= 2
    # The result is editable: undo takes it back; the eraser works on it.
    truth = Mask.from_coco(annotation["segmentation"], image["height"], image["width"])
    print(f"proposal IoU with the COCO mask: {mask.iou(truth):.2f}", file=sys.stderr)
    editor.view.set_zoom(1.6, QPointF(x + w / 2, y + h / 2))
    editor.scene.add_box((x, y, w, h), "sink: the prompt box")
    qtbot.wait(50)  # let the tool bar's layout settle after the spinner went away
    assert editor.grab().save(str(screenshot_dir / "tool-proposal.png"))
    assert (screenshot_dir / "tool-proposal.png").stat().st_size > 0
    QTest.keyClick(editor.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.current_mask() is None


def test_esc_cancels_a_proposal_on_its_way_and_its_answer_never_lands(qtbot, worker, coco_image):
    path, _, annotation = coco_image
    editor = MaskEditor(model_worker=worker)
    qtbot.addWidget(editor)
    editor.resize(800, 600)
    editor.show()
    qtbot.waitExposed(editor)
    editor.load(path)
    editor.set_tool("prompt")
    landed = []
    editor.maskChanged.connect(landed.append)
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        rid = editor.request_proposal(box=tuple(annotation["bbox"]))
        assert rid is not None and editor.spinner.isVisible()
        QTest.keyClick(editor.view, Qt.Key.Key_Escape)
    assert not editor.spinner.isVisible() and not editor.waiting_for_proposal
    # Requests run in order: once a later one is answered, the cancelled one was dropped.
    with qtbot.waitSignal(worker.proposalReady, timeout=120_000) as later:
        worker.propose_box(path, (10, 10, 30, 30))
    assert later.args[0] != rid
    assert landed == [] and editor.current_mask() is None


def test_point_prompts_and_prefetch_and_a_clear_failure_for_whole_image(qtbot, worker):
    picture = np.full((120, 160, 3), 40, np.uint8)
    picture[30:90, 50:110] = (230, 200, 40)
    with qtbot.waitSignal(worker.proposalReady, timeout=120_000) as got:
        worker.propose_point(picture, (80, 60))
    assert got.args[1].to_bitmap()[60, 80] == 1
    with qtbot.waitSignal(worker.requestFailed, timeout=20_000) as failed:
        worker.whole_image(picture)
    assert "trained model" in failed.args[1]
    worker.prefetch([picture])
    with pytest.raises(Exception, match="no area"):
        worker.propose_box(picture, (5, 5, 0, 10))

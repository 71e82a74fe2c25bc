"""Model -> Train: the training panel drives a real trainer subprocess (QProcess)."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt
from training_support import shapes_project

from app.gui.widgets.training_panel import TrainingPanel
from model.training.checkpoint import write_checkpoint
from model.training.registry import (
    CANCELLED,
    FINISHED,
    create_model,
    in_use_model,
    list_models,
    model_dir,
    update_model,
)


@pytest.fixture
def project(tmp_path):
    with shapes_project(tmp_path, train=6, val=2, size=64) as p:
        yield p


def finished_model(project, name: str, metrics: dict | None = None) -> int:
    record = create_model(
        project,
        name=name,
        architecture="tiny",
        category_ids=[1, 2, 3],
        config={"iterations_done": 5},
    )
    path = write_checkpoint(
        model_dir(project, record.id),
        model_state={"w": torch.zeros(1)},
        architecture="tiny",
        categories=["square", "disc", "triangle"],
        category_ids=[1, 2, 3],
        iteration=5,
        optimizer_state=None,
        scaler_state=None,
        info={},
    )
    update_model(
        project, record.id, status=FINISHED, checkpoint=project.relative(path), metrics=metrics
    )
    return record.id


def tiny_settings(panel: TrainingPanel, steps: int) -> None:
    panel.architecture.setCurrentText("tiny")
    panel.iterations.setValue(steps)
    panel.image_size.setValue(64)
    panel.device.setCurrentText("cpu")


def test_the_registry_shows_metrics_side_by_side_and_use_this_model_marks_one(qtbot, project):
    metrics = {
        "coco": {"segm": {"AP": 0.412}, "bbox": {"AP": 0.388}},
        "lvis": {"segm": {"AP": 0.401, "APr": -1.0, "APc": 0.35, "APf": 0.45}},
    }
    first = finished_model(project, "first run", metrics)
    second = finished_model(project, "second run")
    panel = TrainingPanel(project)
    qtbot.addWidget(panel)
    assert panel.table.rowCount() == 2
    row = [panel.table.item(0, c).text() for c in range(panel.table.columnCount())]
    assert row[1:] == [
        str(first),
        "first run",
        "tiny",
        "finished",
        "5",
        "41.2",
        "38.8",
        "40.1",
        "–",
        "35.0",
        "45.0",
    ]
    assert not panel.use_button.isEnabled()
    panel.table.selectRow(1)
    assert panel.use_button.isEnabled()
    with qtbot.waitSignal(panel.modelInUseChanged) as changed:
        qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    assert changed.args == [second]
    assert in_use_model(project).id == second
    assert panel.table.item(1, 0).text() == "●" and panel.table.item(0, 0).text() == ""
    assert not panel.use_button.isEnabled()  # already in use


@pytest.mark.slow
def test_a_run_streams_progress_into_the_curves_and_lands_in_the_registry(
    qtbot, project, screenshot_dir
):
    panel = TrainingPanel(project)
    qtbot.addWidget(panel)
    panel.show()
    tiny_settings(panel, 10)
    with qtbot.waitSignal(panel.runFinished, timeout=240_000) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert panel.is_running() and not panel.start_button.isEnabled()
    assert done.args == ["finished"], panel.status.text()
    assert not panel.is_running()
    assert panel.plot.steps == list(range(1, 11))
    assert panel.plot.axes.get_ylim()[1] >= max(panel.plot.values["loss"])  # all curves in view
    assert all(v > 0 for v in panel.plot.values["loss"])
    assert panel.progress_bar.value() == 10
    (record,) = list_models(project)
    assert record.status == FINISHED and record.metrics["images"] == 2
    assert panel.table.rowCount() == 1 and panel.table.item(0, 4).text() == "finished"
    assert "trained" in panel.status.text()
    panel.table.selectRow(0)
    assert panel.grab().save(str(screenshot_dir / "training-panel.png"))


@pytest.mark.slow
def test_stop_ends_the_run_with_a_checkpoint(qtbot, project):
    panel = TrainingPanel(project)
    qtbot.addWidget(panel)
    tiny_settings(panel, 100_000)
    with qtbot.waitSignal(panel.trainer.progress, timeout=240_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.runFinished, timeout=60_000) as done:
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert done.args == ["cancelled"]
    assert not panel.is_running() and panel.start_button.isEnabled()
    (record,) = list_models(project)
    assert record.status == CANCELLED and record.checkpoint
    assert "Stopped at step" in panel.status.text()

"""A new model in use reaches the window: the session drops its model worker, so the next
prompt builds the predictor of the model now in use (model.registry.project_predictor)."""

from __future__ import annotations

import torch
from gui_support import open_and_wait
from PySide6.QtCore import Qt

from model.training.checkpoint import write_checkpoint
from model.training.registry import FINISHED, create_model, model_dir, update_model, use_model
from pipeline.store.database import Project
from pipeline.vocabulary import project_categories

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, demo_project, window


def finished_model(project: Project, name: str) -> int:
    """A registry row with a weights file written (usable), as a finished run leaves it."""
    ids = [c.id for c in project_categories(project)][:3]
    record = create_model(project, name=name, architecture="tiny", category_ids=ids, config={})
    path = write_checkpoint(
        model_dir(project, record.id),
        model_state={"w": torch.zeros(1)},
        architecture="tiny",
        categories=[f"c{i}" for i in ids],
        category_ids=ids,
        iteration=1,
        optimizer_state=None,
        scaler_state=None,
        info={},
    )
    update_model(project, record.id, status=FINISHED, checkpoint=project.relative(path))
    return record.id


def test_use_this_model_gives_the_session_a_new_model_worker(qtbot, window, demo_project):
    with Project.open(demo_project) as project:
        model_id = finished_model(project, "run one")
    open_and_wait(qtbot, window, demo_project)
    session = window.session
    old = session.model_worker
    assert old.is_running()
    window.show_training()
    panel = window.panels["training"]
    row = next(i for i, r in enumerate(panel.records) if r.id == model_id)
    panel.table.selectRow(row)
    with qtbot.waitSignal(session.modelWorkerChanged, timeout=5000):
        qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    assert old.closed  # closed at once; its thread ends without anyone waiting
    qtbot.waitUntil(lambda: not old.is_running(), timeout=5000)
    new = session.model_worker
    assert new is not old and new.is_running()
    assert new.predictor is None  # built anew from the registry on the first prompt


def test_a_model_put_in_use_by_another_process_drops_the_worker_within_a_tick(qtbot, demo_project):
    from app.gui.session import Session

    with Project.open(demo_project) as project:
        model_id = finished_model(project, "run one")
        session = Session(project, "tester")
        try:
            old = session.model_worker
            session.refresh_progress_later()  # nothing changed: the worker stays
            qtbot.waitUntil(lambda: not session._counting, timeout=10000)
            assert session.model_worker is old
            with Project.open(demo_project) as other:  # as `longtail models --use` would
                use_model(other, model_id)
            with qtbot.waitSignal(session.modelWorkerChanged, timeout=10000):
                session.refresh_progress_later()  # what the 3 s timer does
            qtbot.waitUntil(lambda: not old.is_running(), timeout=5000)
            assert session.model_worker is not old
        finally:
            session.close()

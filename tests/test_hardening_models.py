"""Issue 20, "Why" 9: model registry paths are fenced to the project's models folder,
at ``models --use`` and at load, and configuration values are checked when read."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run
from sqlalchemy import create_engine

from model.training.registry import FINISHED, IN_USE_KEY, create_model, update_model
from pipeline.errors import LongtailError
from pipeline.store.database import DB_NAME, Project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    with Project.create(tmp_path / "P"):
        pass
    return tmp_path / "P"


def _model(folder: Path, checkpoint: str, config: dict | None = None) -> int:
    with Project.open(folder) as project:
        record = create_model(
            project, name="m", architecture="r50-fpn-v2", category_ids=[], config=config or {}
        )
        update_model(project, record.id, status=FINISHED, checkpoint=checkpoint, finished=True)
        return record.id


def _mark_in_use(folder: Path, model_id: int) -> None:
    engine = create_engine(f"sqlite:///{folder / DB_NAME}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM meta WHERE key = ?", (IN_USE_KEY,))
        conn.exec_driver_sql(
            "INSERT INTO meta (key, value) VALUES (?, ?)", (IN_USE_KEY, str(model_id))
        )
    engine.dispose()


@pytest.mark.parametrize("stored", ["/etc/passwd", "/proc/self/mem", "../outside.pt"])
def test_use_refuses_a_file_outside_the_models_folder(capsys, project: Path, stored: str):
    (project.parent / "outside.pt").write_bytes(b"x")
    model_id = _model(project, stored)
    code, _, err = run(capsys, "models", str(project), "--use", str(model_id))
    assert code == 1 and "outside the project's models folder" in err
    assert len(err.strip().splitlines()) == 1


def test_a_link_out_of_the_models_folder_is_refused(capsys, project: Path):
    (project / "models" / "1").mkdir(parents=True)
    (project / "models" / "1" / "checkpoint.pt").symlink_to("/etc/passwd")
    model_id = _model(project, "models/1/checkpoint.pt")
    code, _, err = run(capsys, "models", str(project), "--use", str(model_id))
    assert code == 1 and "outside the project's models folder" in err


def test_loading_a_fenced_row_is_refused_before_the_file_is_opened(project: Path):
    from model.registry import project_predictor

    model_id = _model(project, "/proc/self/mem")
    _mark_in_use(project, model_id)  # a row edited behind longtail's back
    with Project.open(project) as p, pytest.raises(LongtailError, match="outside the project"):
        project_predictor(p)


def test_a_stored_configuration_value_is_checked_when_read(project: Path):
    from model.registry import project_predictor

    (project / "models" / "1").mkdir(parents=True)
    (project / "models" / "1" / "checkpoint.pt").write_bytes(b"not read")
    model_id = _model(project, "models/1/checkpoint.pt", config={"min_size": "abc"})
    _mark_in_use(project, model_id)
    with Project.open(project) as p, pytest.raises(LongtailError) as refused:
        project_predictor(p)
    assert f"model {model_id} (m): its configuration value min_size 'abc'" in str(refused.value)

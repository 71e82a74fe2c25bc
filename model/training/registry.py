"""The model registry: every training run of a project, its metrics, and the model in use.

Rows of the store's ``models`` table (one per run, written when the run starts and
updated as it ends); the model in use is the ``meta`` key :data:`IN_USE_KEY`. Torch-free,
so the CLI and the GUI list models without importing torch.

A model's files live in the project folder under ``models/<id>/`` (``model.pt``: the
weights; ``train_state.pt``: what resuming needs; ``model.json``: config and data hash).
The row stores the weights' path relative to the project folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipeline.constants import MODEL_IN_USE_KEY
from pipeline.errors import LongtailError
from pipeline.store import schema as s
from pipeline.store.database import Project, inserted_id, now, read_meta, write_meta
from pipeline.team import roles

IN_USE_KEY = MODEL_IN_USE_KEY

TRAINING = "training"  # the run is going (or died without saying so)
FINISHED = "finished"  # trained and evaluated: can be used
CANCELLED = "cancelled"  # stopped by the user; its last checkpoint can be resumed or used
FAILED = "failed"
STATUSES = (TRAINING, FINISHED, CANCELLED, FAILED)

MODELS_FOLDER = "models"


class ModelNotFoundError(LongtailError):
    """No model of that id in the project."""


@dataclass(frozen=True)
class ModelRecord:
    """One row of the registry."""

    id: int
    name: str
    architecture: str
    checkpoint: str | None  # the weights, relative to the project folder (or absolute)
    status: str
    category_ids: tuple[int, ...]  # the classes of the heads, in order (class i + 1)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    created_at: float = 0.0
    finished_at: float | None = None
    in_use: bool = False

    @property
    def iterations(self) -> int:
        return int(self.config.get("iterations_done", 0))

    @property
    def data_hash(self) -> str | None:
        return self.config.get("data_hash")

    def checkpoint_path(self, project: Project) -> Path | None:
        """The weights file, checked: inside the project's models folder (issue 20)."""
        return None if not self.checkpoint else fenced_model_file(project, self.checkpoint, self.id)

    @property
    def usable(self) -> bool:
        """Can it propose masks: a finished or cancelled run with weights written."""
        return self.status in (FINISHED, CANCELLED) and bool(self.checkpoint)

    def headline(self) -> dict[str, float | None]:
        """The metrics shown side by side: mask and box AP, LVIS AP_r/c/f (mask)."""
        m = self.metrics or {}
        coco_segm = (m.get("coco") or {}).get("segm") or {}
        coco_bbox = (m.get("coco") or {}).get("bbox") or {}
        lvis_segm = (m.get("lvis") or {}).get("segm") or {}
        return {
            "mask AP": coco_segm.get("AP"),
            "box AP": coco_bbox.get("AP"),
            "LVIS AP": lvis_segm.get("AP"),
            "AP_r": lvis_segm.get("APr"),
            "AP_c": lvis_segm.get("APc"),
            "AP_f": lvis_segm.get("APf"),
        }


def models_dir(project: Project) -> Path:
    """Where this project's model files go: ``<project>/models`` (or
    ``$LONGTAIL_MODELS_DIR`` for a project on a database server, which has no folder)."""
    if project.folder is not None:
        return project.folder / MODELS_FOLDER
    override = os.environ.get("LONGTAIL_MODELS_DIR")
    if not override:
        raise LongtailError(
            "training needs a folder for its checkpoints and a project on a database server "
            "has none: set LONGTAIL_MODELS_DIR to a folder"
        )
    return Path(override).expanduser().resolve()


def fenced_model_file(project: Project, stored: str, model_id: int) -> Path:
    """The file a registry row names, refused (one located line) unless it lies inside
    :func:`models_dir` once every link is followed, and is a regular file if it exists:
    a row edited to name ``/etc/passwd`` or ``/proc/self/mem`` is never opened."""
    where = f"model {model_id}"
    try:
        root = Path(os.path.realpath(models_dir(project)))
    except LongtailError as exc:
        raise LongtailError(f"{where}: its weights cannot be checked ({exc})") from None
    real = Path(os.path.realpath(project.resolve(stored)))
    if root not in real.parents:
        raise LongtailError(
            f"{where}: its weights file {stored!r} lies outside the project's models folder "
            f"{root}; only files there are used (train again, or fix the row)"
        )
    if real.exists() and not real.is_file():
        raise LongtailError(f"{where}: its weights file {stored!r} is not a regular file")
    return real


def model_dir(project: Project, model_id: int) -> Path:
    return models_dir(project) / str(model_id)


def _record(row: Any, in_use: int | None) -> ModelRecord:
    return ModelRecord(
        id=int(row.id),
        name=row.name,
        architecture=row.architecture,
        checkpoint=row.checkpoint,
        status=row.status,
        category_ids=tuple(int(c) for c in (row.categories or ())),
        config=dict(row.config or {}),
        metrics=row.metrics,
        created_at=float(row.created_at),
        finished_at=row.finished_at,
        in_use=in_use == int(row.id),
    )


def _in_use_id(conn: Any) -> int | None:
    value = read_meta(conn, IN_USE_KEY)
    return int(value) if value else None


def list_models(project: Project) -> list[ModelRecord]:
    """Every model of the project, oldest first."""
    with project.read() as conn:
        in_use = _in_use_id(conn)
        rows = conn.execute(select(s.models).order_by(s.models.c.id)).all()
    return [_record(r, in_use) for r in rows]


def get_model(project: Project, model_id: int) -> ModelRecord:
    with project.read() as conn:
        in_use = _in_use_id(conn)
        row = conn.execute(select(s.models).where(s.models.c.id == int(model_id))).first()
    if row is None:
        known = ", ".join(str(m.id) for m in list_models(project)) or "none yet"
        raise ModelNotFoundError(f"no model {model_id} in this project (models: {known})")
    return _record(row, in_use)


def in_use_model(project: Project) -> ModelRecord | None:
    """The model marked in use, if any (a deleted row reads as none)."""
    with project.read() as conn:
        in_use = _in_use_id(conn)
        if in_use is None:
            return None
        row = conn.execute(select(s.models).where(s.models.c.id == in_use)).first()
    return None if row is None else _record(row, in_use)


def create_model(
    project: Project,
    *,
    name: str,
    architecture: str,
    category_ids: list[int],
    config: dict[str, Any],
) -> ModelRecord:
    """A new row for a run that is starting (status ``training``)."""
    with project.write() as conn:
        new_id = inserted_id(
            conn.execute(
                s.models.insert().values(
                    name=name,
                    architecture=architecture,
                    checkpoint=None,
                    status=TRAINING,
                    categories=list(category_ids),
                    config=config,
                    metrics=None,
                    created_at=now(),
                )
            )
        )
    return get_model(project, new_id)


def update_model(
    project: Project,
    model_id: int,
    *,
    status: str | None = None,
    checkpoint: str | None = None,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    finished: bool = False,
) -> ModelRecord:
    """Change a row; ``config`` is merged into the stored one."""
    if status is not None and status not in STATUSES:
        raise LongtailError(f"unknown model status {status!r}")
    current = get_model(project, model_id)
    values: dict[str, Any] = {}
    if status is not None:
        values["status"] = status
    if checkpoint is not None:
        values["checkpoint"] = checkpoint
    if config is not None:
        values["config"] = {**current.config, **config}
    if metrics is not None:
        values["metrics"] = metrics
    if finished:
        values["finished_at"] = now()
    if values:
        with project.write() as conn:
            conn.execute(s.models.update().where(s.models.c.id == int(model_id)).values(**values))
    return get_model(project, model_id)


def use_model(project: Project, model_id: int) -> ModelRecord:
    """Mark a model in use: it proposes masks from now on (CLI ``predict``, the GUI)."""
    record = get_model(project, model_id)
    if not record.usable:
        raise LongtailError(
            f"model {model_id} cannot be used: it is {record.status}"
            + ("" if record.checkpoint else " and has no weights written")
        )
    path = record.checkpoint_path(project)
    if path is None or not path.is_file():
        raise LongtailError(f"model {model_id}: its weights file {path} is missing")
    with project.write() as conn:
        roles.require_in(conn, roles.MODELS, target=roles.project_target(project))
        write_meta(conn, IN_USE_KEY, str(record.id))
    return get_model(project, model_id)


def stop_using(project: Project) -> None:
    """No trained model in use: proposals come from the default weights again."""
    with project.write() as conn:
        roles.require_in(conn, roles.MODELS, target=roles.project_target(project))
        conn.execute(s.meta.delete().where(s.meta.c.key == IN_USE_KEY))

"""The predictor a project proposes masks with: its trained model in use, else the default.

:func:`project_predictor` is what the CLI's ``predict`` and the GUI's model worker call.
When a model of the project's registry is marked in use (``longtail models PROJECT
--use ID``, or "Use this model" in Model -> Train), it is loaded from its checkpoint
with its sigmoid (federated) heads; otherwise :meth:`Predictor.load` gives what it gives
without a trained model: COCO / ImageNet weights from torchvision's cache, or the
classical fallback for box prompts.
"""

from __future__ import annotations

from typing import Any

import torch

from pipeline.store import Project
from pipeline.vocabulary import Category, project_categories

from .predictor import Predictor
from .training.architectures import build_for_training
from .training.checkpoint import read_model_file
from .training.loss import use_federated_heads
from .training.registry import ModelRecord, in_use_model
from .weights import LONGTAIL, WeightsError, WeightsReport


def project_predictor(
    project: Project,
    device: torch.device | str | None = None,
    *,
    architecture: str | None = None,
    **kwargs: Any,
) -> Predictor:
    """The predictor of the project's model in use, else :meth:`Predictor.load`'s default.

    ``architecture`` picks the default's architecture (the model in use has its own).
    Other keyword arguments go to :class:`Predictor` (and to ``Predictor.load`` for the
    default). A model in use whose file is missing or damaged raises a
    :class:`~model.weights.WeightsError` naming it, rather than silently proposing with
    another model.
    """
    record = in_use_model(project)
    if record is None:
        if architecture is not None:
            kwargs["architecture"] = architecture
        return Predictor.load(project_categories(project), device=device, **kwargs)
    return trained_predictor(project, record, device=device, **kwargs)


def model_categories(project: Project, record: ModelRecord, names: list[str]) -> list[Category]:
    """The model's classes as project categories (by id; the stored name if one is gone)."""
    by_id = {c.id: c for c in project_categories(project)}
    out = []
    for index, category_id in enumerate(record.category_ids):
        known = by_id.get(category_id)
        if known is None:
            name = names[index] if index < len(names) else f"category {category_id}"
            known = Category(name=name, id=category_id)
        out.append(known)
    return out


def trained_predictor(
    project: Project,
    record: ModelRecord,
    device: torch.device | str | None = None,
    **kwargs: Any,
) -> Predictor:
    """A :class:`Predictor` on a registry model's weights."""
    path = record.checkpoint_path(project)
    where = f"model {record.id} ({record.name})"
    if path is None:
        raise WeightsError(f"{where} has no weights file yet (status {record.status})")
    saved = read_model_file(path)
    categories = model_categories(project, record, list(saved.get("categories") or []))
    config = record.config
    model = build_for_training(
        record.architecture,
        len(categories) + 1,
        min_size=int(config.get("min_size", 800)),
        max_size=int(config.get("max_size", 1333)),
    )
    use_federated_heads(model)
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise WeightsError(f"{where}: {path} does not fit its architecture ({first})") from None
    report = WeightsReport(
        record.architecture,
        source=f"trained model {record.id}",
        path=path,
        kind=LONGTAIL,
        parts=[f"trained on this project ({record.iterations} iterations)"],
        matched_categories=len(categories),
        total_categories=len(categories),
    )
    return Predictor(model, categories, weights=report, device=device, **kwargs)


__all__ = ["model_categories", "project_predictor", "trained_predictor"]

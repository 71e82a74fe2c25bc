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

from pipeline.store.database import Project
from pipeline.vocabulary import Category, project_categories

from .predictor import FallbackPredictor, Predictor
from .training.architectures import build_for_training
from .training.checkpoint import read_model_file
from .training.loss import use_federated_heads
from .training.registry import ModelRecord, in_use_model
from .weights import LONGTAIL, WeightsError, WeightsReport, find_cached, unused_models_hint
from .zoo import DEFAULT_ARCHITECTURE
from .zoo import architecture as architecture_spec


def project_predictor(
    project: Project,
    device: torch.device | str | None = None,
    *,
    architecture: str | None = None,
    prompts_only: bool = False,
    **kwargs: Any,
) -> Predictor:
    """The predictor of the project's model in use, else :meth:`Predictor.load`'s default.

    ``prompts_only`` (the GUI's model worker): the caller only asks box and point
    prompts of an untrained predictor, so when no model is in use and no trained mask
    weights are on disk, a :class:`~model.predictor.FallbackPredictor` is returned at
    once instead of building a network that would go unused (the classical fallback
    answers either way; whole-image proposals need a trained model in both cases).

    ``architecture`` picks the default's architecture (the model in use has its own).
    Other keyword arguments go to :class:`Predictor` (and to ``Predictor.load`` for the
    default). A model in use whose file is missing or damaged raises a
    :class:`~model.weights.WeightsError` naming it, rather than silently proposing with
    another model.
    """
    record = in_use_model(project)
    if record is None:
        categories = project_categories(project)
        hint = unused_models_hint(project)  # trained models, none in use: say which to use
        if prompts_only and not mask_weights_offline(architecture, kwargs):
            return FallbackPredictor(
                categories,
                weights=WeightsReport(
                    architecture or DEFAULT_ARCHITECTURE,
                    total_categories=len(categories),
                    note=hint,
                ),
                fallback_settings=kwargs.get("fallback_settings"),
            )
        if architecture is not None:
            kwargs["architecture"] = architecture
        predictor = Predictor.load(categories, device=device, **kwargs)
        predictor.weights.note = hint
        return predictor
    return trained_predictor(project, record, device=device, **kwargs)


def mask_weights_offline(architecture: str | None, load_kwargs: dict[str, Any]) -> bool:
    """Would :meth:`Predictor.load` find trained mask weights (a ``weights`` file named,
    or a COCO Mask R-CNN in torchvision's cache)? Looks at files only, loads nothing."""
    if load_kwargs.get("weights") is not None:
        return True
    if not load_kwargs.get("use_cache", True):
        return False
    key = architecture_spec(architecture or DEFAULT_ARCHITECTURE).coco_checkpoint
    return key is not None and find_cached(key) is not None


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


def config_int(record: ModelRecord, key: str, default: int, low: int, high: int) -> int:
    """A whole-number value of a registry row's configuration, checked when read: a
    stored ``min_size: "abc"`` is one located line, not a ValueError."""
    value = record.config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        value = None
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise WeightsError(
            f"model {record.id} ({record.name}): its configuration value {key} "
            f"{record.config.get(key)!r} is not a whole number from {low} to {high}"
        )
    return number


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
    # The row's values are checked before its file is read (both come from the database).
    min_size = config_int(record, "min_size", 800, 32, 8192)
    max_size = config_int(record, "max_size", 1333, min_size, 16384)
    saved = read_model_file(path)
    categories = model_categories(project, record, list(saved.get("categories") or []))
    model = build_for_training(
        record.architecture, len(categories) + 1, min_size=min_size, max_size=max_size
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


__all__ = ["mask_weights_offline", "model_categories", "project_predictor", "trained_predictor"]

"""A training run's files: one checkpoint (weights + what resuming needs) and its JSON.

``models/<id>/checkpoint.pt`` holds plain state dicts and values only, so it loads with
``torch.load(weights_only=True)``::

    {"model": state_dict, "architecture": "r50-fpn-v2", "categories": [names],
     "category_ids": [ids], "heads": "federated-sigmoid", "iteration": int,
     "optimizer": state_dict, "scaler": state_dict or None, "format": 1}

The keys ``model``, ``architecture`` and ``categories`` are those
:func:`model.weights.load_weights` reads as a longtail checkpoint, so the same file
starts another run (``--weights``) or proposes masks. ``models/<id>/checkpoint.json``
holds the run's config, the data snapshot's hash and the iteration, for people and
for ``--resume`` to check it continues the same run.

Both are written through :func:`pipeline.outputs.atomic_path`: a temporary file beside
the target named ``.longtail-tmp-<hash of the name>-<pid>-<random>.tmp``, fsynced, then
renamed over the target (and the folder fsynced), with the mode the umask gives (0644
or 0664, so the project's group can read a model; never 0600). A run killed while
writing leaves the previous checkpoint intact and a temporary file that the next run
of that model folder (:func:`sweep_leftovers`) or the next write removes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pipeline.outputs import atomic_path, output_target, sweep_temporaries

from ..weights import WeightsError, read_checkpoint
from .runfiles import CHECKPOINT, CHECKPOINT_JSON, read_checkpoint_info

__all__ = ["CHECKPOINT", "CHECKPOINT_JSON", "read_checkpoint_info", "read_model_file"]
FORMAT = 1
HEADS = "federated-sigmoid"


def _atomic(path: Path, write: Any) -> None:
    target = output_target(path, internal=True)  # never a folder, a device or a database
    assert target is not None
    with atomic_path(target) as temp:
        write(temp)


def sweep_leftovers(folder: Path) -> list[Path]:
    """Remove the temporary files a killed checkpoint write left in ``folder``."""
    return [p for name in (CHECKPOINT, CHECKPOINT_JSON) for p in sweep_temporaries(folder / name)]


def write_checkpoint(
    folder: Path,
    *,
    model_state: Mapping[str, torch.Tensor],
    architecture: str,
    categories: list[str],
    category_ids: list[int],
    iteration: int,
    optimizer_state: Mapping[str, Any] | None,
    scaler_state: Mapping[str, Any] | None,
    info: Mapping[str, Any],
) -> Path:
    """Write ``checkpoint.pt`` and ``checkpoint.json`` into ``folder``; the .pt path."""
    data = {
        "format": FORMAT,
        "model": {k: v.detach().cpu() for k, v in model_state.items()},
        "architecture": architecture,
        "categories": list(categories),
        "category_ids": [int(c) for c in category_ids],
        "heads": HEADS,
        "iteration": int(iteration),
        "optimizer": optimizer_state,
        "scaler": scaler_state,
    }
    path = folder / CHECKPOINT
    _atomic(path, lambda tmp: torch.save(data, tmp))
    text = json.dumps({**info, "iteration": int(iteration)}, indent=2, sort_keys=True)
    _atomic(folder / CHECKPOINT_JSON, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A longtail checkpoint, safely loaded; a clear error for anything else."""
    data = read_checkpoint(path)
    if not isinstance(data.get("model"), Mapping):
        raise WeightsError(f"{path} is not a longtail training checkpoint (no 'model' state)")
    return data

"""The names of a training run's files, and its checkpoint's JSON side (torch-free).

``models/<id>/checkpoint.pt`` holds the weights (:mod:`model.training.checkpoint` writes
and reads it, with torch); ``models/<id>/checkpoint.json`` the run's config, data hash
and iteration, which the parent of a training child (:mod:`model.training.isolate`)
reads without importing torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import LongtailError

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_JSON = "checkpoint.json"


def read_checkpoint_info(folder: Path) -> dict[str, Any] | None:
    """``checkpoint.json`` of a run folder, or None when there is none yet."""
    path = folder / CHECKPOINT_JSON
    if not path.is_file():
        return None
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return info
    except (OSError, json.JSONDecodeError) as exc:
        raise LongtailError(f"{path} is damaged ({exc})") from None

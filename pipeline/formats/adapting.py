"""What the format adapters share: the COCO-shaped document an import adapter builds,
the image files an export adapter places, and the folder an export writes into."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..errors import LongtailError
from .report import ImportReport


@dataclass
class Adapted:
    """A foreign dataset read into a COCO-shaped document (ids from 1, or the format's
    own class numbers), the folder its images lie in, and the split of each image."""

    doc: dict[str, Any]
    root: Path
    source: Path  # the file (or folder) reports name
    splits: dict[Any, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportedImage:
    """An exported image's file on disk and its split."""

    path: Path
    split: str


def image_size(path: Path, report: ImportReport, name: str) -> tuple[int, int] | None:
    """(width, height) from the file's header, or None and a problem."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            return int(width), int(height)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        report.problem(f"the image cannot be read ({exc})", image_id=name)
        return None


def place_image(source: Path, target: Path) -> None:
    """Put an image file where a folder format wants it: a hard link where the file
    system allows it (no copy of the pixels), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def dataset_name(file_name: str, *prefixes: str) -> str:
    """An image's name inside a folder format: its ``file_name`` less a leading folder
    the format itself adds (``images/<split>/`` for YOLO, ``JPEGImages/`` for VOC), so
    that a dataset imported from the format is written back under the same names."""
    parts = Path(file_name).parts
    for prefix in prefixes:
        if len(parts) > 1 and parts[0] == prefix:
            parts = parts[1:]
    return Path(*parts).as_posix()


def empty_folder(out: str | os.PathLike[str]) -> Path:
    """The folder an export writes into: new, or existing and empty (never merged into
    a dataset already there)."""
    path = Path(out).expanduser()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise LongtailError(
            f"{path} already exists and is not an empty folder; a folder export writes a "
            "new dataset (name a new folder)"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["Adapted", "ExportedImage", "dataset_name", "empty_folder", "image_size", "place_image"]

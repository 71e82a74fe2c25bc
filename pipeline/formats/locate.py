"""Finding the image files an annotation file names, and reading them once.

COCO files name an image by ``file_name`` relative to an image folder; LVIS v1 files
by ``coco_url`` only (tools take its last two parts: split folder and file name).
The first candidate that exists under a root wins: ``file_name``, then the last two
parts of ``coco_url``, then its last part. Without an explicit root, the file's
own folder and its parent are searched (COCO's layout: ``annotations/`` beside
``val2017/``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from ..images import ImageInfo, probe_files
from .report import ImportReport
from .source import SourceImage

Progress = Callable[[int, int], None]

_SPLITS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "minival": "val",
    "test": "test",
    "testdev": "test",
}


def infer_split(path: Path) -> str | None:
    """``train``, ``val`` or ``test`` when the file's name says which, else None.

    ``instances_val2017.json`` -> val, ``lvis_v1_train.json`` -> train.
    """
    words = {_SPLITS[w] for w in re.split(r"[^a-z]+", path.stem.lower()) if w in _SPLITS}
    return words.pop() if len(words) == 1 else None


def search_roots(json_path: Path, images_root: str | os.PathLike[str] | None) -> list[Path]:
    """Folders to look for images in: the one given, else the file's folder and its parent."""
    if images_root is not None:
        return [Path(images_root).expanduser().resolve()]
    folder = json_path.resolve().parent
    return [folder, folder.parent] if folder.parent != folder else [folder]


def relative_names(file_name: str | None, coco_url: str | None) -> list[str]:
    """Relative paths an image may have under a root, most specific first."""
    names = []
    if file_name:
        names.append(file_name)
    if coco_url:
        url_parts = PurePosixPath(coco_url.split("?", 1)[0]).parts
        if len(url_parts) >= 2:
            names.append("/".join(url_parts[-2:]))
        if url_parts:
            names.append(url_parts[-1])
    return list(dict.fromkeys(n for n in names if n and n not in (".", "/")))


def find_file(roots: Sequence[Path], names: Sequence[str]) -> tuple[Path, str] | None:
    """The first ``root / name`` that is a file, and the name it was found under."""
    for root in roots:
        for name in names:
            path = root / name
            if path.is_file():
                return path, name
    return None


def keep_readable(
    images: list[SourceImage],
    report: ImportReport,
    progress: Progress | None,
    where: Callable[[SourceImage], dict],
) -> list[SourceImage]:
    """Read each image's file once; keep those that read and have the size the annotation
    file gives (their ``info`` set). The others are problems located by ``where``."""
    good = []
    for image, info in zip(images, probe_files([i.path for i in images], progress), strict=True):
        if not isinstance(info, ImageInfo):
            problem = f"the image file {image.path} cannot be read: {info}"
        elif (info.width, info.height) != (image.width, image.height):
            problem = (
                f"the file says the image is {image.width}x{image.height}, but "
                f"{image.path} is {info.width}x{info.height}"
            )
        else:
            image.info = info
            good.append(image)
            continue
        report.problem(problem, **where(image))
        report.images_skipped += 1
    return good

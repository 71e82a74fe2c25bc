"""Finding the image files an annotation file names, and reading them once.

COCO files name an image by ``file_name`` relative to an image folder; LVIS v1 files
by ``coco_url`` only (tools take its last two parts: split folder and file name).
The first candidate that exists under a searched folder wins: ``file_name``, then the
last two parts of ``coco_url``, then its last part. Without an explicit root, the
file's own folder and its parent are searched (COCO's layout: ``annotations/`` beside
``val2017/``), and the parent is the image root.

Every candidate must lie inside the image root (:meth:`pipeline.images.ImageRoot.place`):
a name that leaves it, or a link that leads out of it, refuses the image, naming
the field; the file is not opened.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..images import ImageInfo, ImageRoot, OutsideRootError, probe_files
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


@dataclass(frozen=True)
class ImageSearch:
    """Where an annotation file's images are looked for (``folders``, in order) and the
    image root they must lie in (``root``, which holds every folder)."""

    root: ImageRoot
    folders: tuple[Path, ...]
    # Folders resolved so far (ImageRoot.place): each folder's links read once an import.
    resolved: dict[str, str] = dataclasses.field(default_factory=dict, compare=False, repr=False)


def image_search(
    json_path: Path, images_root: str | os.PathLike[str] | None, *, follow_symlinks: bool = False
) -> ImageSearch:
    """The folder given (it is the root), else the file's folder and its parent (the root)."""
    if images_root is not None:
        root = ImageRoot.at(images_root, follow_symlinks=follow_symlinks)
        return ImageSearch(root, (root.folder,))
    folder = Path(os.path.realpath(json_path)).parent
    root = ImageRoot(folder.parent, follow_symlinks)
    return ImageSearch(root, (folder, folder.parent) if folder.parent != folder else (folder,))


def relative_names(file_name: str | None, coco_url: str | None) -> list[tuple[str, str]]:
    """(field, relative path) pairs an image may be found under, most specific first."""
    names = []
    if file_name:
        names.append(("file_name", file_name))
    if coco_url:
        url_parts = PurePosixPath(coco_url.split("?", 1)[0]).parts
        if len(url_parts) >= 2:
            names.append(("coco_url", "/".join(url_parts[-2:])))
        if url_parts:
            names.append(("coco_url", url_parts[-1]))
    unique: dict[str, str] = {}
    for field, name in names:
        if name and name not in (".", "/"):
            unique.setdefault(name, field)
    return [(field, name) for name, field in unique.items()]


@dataclass(frozen=True)
class Found:
    """What looking for an image gave: the file (``path``, ``name``), or the refusal of a
    field whose path leaves the root (``refused``), or neither (not found)."""

    path: Path | None = None
    name: str | None = None
    refused: str | None = None  # "'file_name' '../x.jpg' is outside the image root /data"
    first: tuple[Path, str] | None = None  # where a reference-only image would be


def find_file(search: ImageSearch, names: Sequence[tuple[str, str]]) -> Found:
    """The first candidate under ``search`` that is a file. A name that leaves the root
    from every searched folder, or a candidate that exists but leads out through a
    symbolic link, refuses the image (nothing is opened)."""
    root = search.root
    for field, name in names:
        if _plain(name):
            continue  # inside every searched folder by name: no lexical check to make
        if not any(root.holds(os.path.join(folder, name)) for folder in search.folders):
            try:
                root.check(os.path.join(search.folders[0], name), search.resolved)
            except OutsideRootError as exc:
                return Found(refused=f"'{field}' {name!r} {exc.reason}")
    first = None
    for folder in search.folders:
        for field, name in names:
            candidate = os.path.join(folder, name)
            if not _plain(name) and not root.holds(candidate):
                continue
            try:
                path = root.check(candidate, search.resolved)
            except OutsideRootError as exc:
                if os.path.lexists(os.path.normpath(candidate)):
                    return Found(refused=f"'{field}' {name!r} {exc.reason}")
                continue
            first = first or (Path(path), name)
            if os.path.isfile(path):
                return Found(Path(path), name, first=first)
    return Found(first=first)


def _plain(name: str) -> bool:
    """A relative name with no ``..`` part: joined to a searched folder (which lies in the
    root) it stays inside the root by name, so only :meth:`ImageRoot.place`'s link check
    is left to make (a third of an import's path checks were this lexical test)."""
    return (
        bool(name)
        and "\x00" not in name
        and not os.path.isabs(name)
        and ".." not in name.replace("\\", "/").split("/")
    )


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

"""What an importer hands to the writer: categories, images and encoded annotations.

Each format (COCO, LVIS, labelme) reads its files into these values and checks them;
:mod:`.writer` stores them the same way whatever the format was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..images import ImageInfo, ImageRoot
from ..vocabulary import Category

Key = int | str
"""How the input names a thing: a COCO/LVIS id, or a labelme label or file name."""


@dataclass(frozen=True)
class SourceCategory:
    """A category as the input gives it."""

    key: Key
    category: Category
    supercategory: str | None = None


@dataclass
class SourceImage:
    """An image as the input gives it, with its file found (and read, unless by reference)."""

    key: Key  # the input's image id (labelme: the JSON file's name)
    file: str  # the annotation file it comes from, as reports show it
    file_name: str  # the name it is exported under
    path: Path  # where the image file is (or would be, for a reference)
    width: int
    height: int
    info: ImageInfo | None = None  # None: recorded by reference, not read
    coco_url: str | None = None
    extra: dict[str, Any] | None = None
    annotations: list[Any] = field(default_factory=list)  # the input's own records
    negative_keys: list[Key] = field(default_factory=list)
    not_exhaustive_keys: list[Key] = field(default_factory=list)
    split: str | None = None  # None: the import's split


@dataclass(frozen=True)
class SourceFile:
    """A COCO-shaped document read and checked once (:func:`.cocolike.read_document`):
    what the encode and write steps take. The images hold their annotation records
    until each is encoded."""

    categories: tuple[SourceCategory, ...]
    images: tuple[SourceImage, ...]
    licenses: tuple[dict[str, Any], ...]
    root: ImageRoot  # the image root the images were placed in


# Encoded.mask_kind of an annotation with a box and no mask: stored as a marked instance
# (no segment) that stage 3 segments with the box as its prompt.
BOX_ONLY = ""


class Encoded(NamedTuple):
    """One annotation checked and in stored form: an instance and its accepted segment
    (or, with ``mask_kind`` BOX_ONLY, a marked instance with its box and no segment)."""

    source_id: int | None
    category_key: Key
    is_crowd: bool
    box: tuple[float, float, float, float] | None  # the box the input gave
    mask_kind: str
    mask: bytes
    area: int
    bbox: tuple[float, float, float, float]  # the mask's extent

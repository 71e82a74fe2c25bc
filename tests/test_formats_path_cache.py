"""ImageRoot.place with a cache of resolved folders (one import's path checks) refuses
exactly what it refuses without one: a link in a folder or in a file name that leads out,
a link made after the folder was cached, and a folder swapped for a link is caught on
the next import (a new cache)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.formats.locate import find_file, image_search
from pipeline.images import ImageRoot, OutsideRootError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the cache is used on POSIX only")


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "root"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.jpg").write_bytes(b"a")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"s")
    (root / "images" / "link.jpg").symlink_to(outside / "secret.jpg")
    (root / "linked").symlink_to(outside)  # a folder that leads out
    (root / "inner").symlink_to(root / "images")  # a folder link that stays inside
    return {"root": root, "outside": outside}


NAMES = [
    "images/a.jpg",
    "images/link.jpg",
    "images/missing.jpg",
    "linked/secret.jpg",
    "linked/missing.jpg",
    "inner/a.jpg",
    "inner/link.jpg",
    "images/../images/a.jpg",
    "images",
    "linked",
]


def _outcome(root: ImageRoot, name: str, cache: dict[str, str] | None) -> str:
    try:
        return str(root.place(name, cache))
    except OutsideRootError as exc:
        return f"refused: {exc.reason}"


def test_with_and_without_a_cache_every_name_gives_the_same_answer(world):
    root = ImageRoot.at(world["root"])
    cache: dict[str, str] = {}
    for _ in range(2):  # the second round with every folder cached
        for name in NAMES:
            assert _outcome(root, name, cache) == _outcome(root, name, None), name
    assert "refused" in _outcome(root, "images/link.jpg", cache)
    assert "refused" in _outcome(root, "linked/secret.jpg", cache)
    assert "refused" in _outcome(root, "inner/link.jpg", cache)
    assert _outcome(root, "inner/a.jpg", cache) == str(world["root"] / "inner" / "a.jpg")


def test_a_file_swapped_for_a_link_after_its_folder_was_cached_is_refused(world):
    root = ImageRoot.at(world["root"])
    cache: dict[str, str] = {}
    root.place("images/a.jpg", cache)
    os.remove(world["root"] / "images" / "a.jpg")
    (world["root"] / "images" / "a.jpg").symlink_to(world["outside"] / "secret.jpg")
    with pytest.raises(OutsideRootError, match="symbolic link"):
        root.place("images/a.jpg", cache)


def test_each_import_resolves_its_folders_afresh(world, tmp_path):
    """A folder swapped for a link between two imports is caught by the second."""
    file = world["root"] / "annotations.json"
    file.write_text("{}")
    names = [("file_name", "images/a.jpg")]
    assert find_file(image_search(file, world["root"]), names).path is not None
    images = world["root"] / "images"
    images.rename(tmp_path / "moved")
    (tmp_path / "moved" / "a.jpg").rename(world["outside"] / "a.jpg")
    images.symlink_to(world["outside"])
    found = find_file(image_search(file, world["root"]), names)
    assert found.path is None
    assert found.refused is not None and "symbolic link" in found.refused

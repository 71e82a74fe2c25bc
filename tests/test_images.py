"""Adding image folders by reference: sizes with EXIF orientation, hashes, the report, file checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import make_image

from pipeline.errors import LongtailError, NotFoundError
from pipeline.images import (
    add_image_folder,
    check_image_files,
    find_image,
    list_images,
    probe_image,
)
from pipeline.store.database import Project


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    make_image(root / "a.jpg", 64, 48, color=(10, 20, 30))
    make_image(root / "sub" / "b.png", 30, 20, color=(200, 0, 0))
    make_image(root / "sub" / "deep" / "c.webp", 16, 12, color=(0, 200, 0))
    make_image(root / "d.bmp", 8, 8, color=(1, 2, 3))
    make_image(root / "e.tif", 9, 7, color=(4, 5, 6))
    make_image(root / "rotated.jpg", 40, 10, color=(7, 8, 9), exif_orientation=6)
    shutil.copy(root / "a.jpg", root / "sub" / "a-copy.jpg")  # a duplicate
    (root / "notes.txt").write_text("not an image")
    (root / "broken.jpg").write_bytes((root / "a.jpg").read_bytes()[:300])  # truncated
    (root / "fake.png").write_bytes(b"this is no png")
    (root / ".hidden.jpg").write_bytes(b"ignored")
    return root


def test_folder_import_reports_every_problem_and_adds_the_good(
    empty_project: Project, tmp_path: Path
):
    root = _folder(tmp_path)
    report = add_image_folder(empty_project, root)
    assert sorted(report.added) == sorted(
        ["a.jpg", "sub/b.png", "sub/deep/c.webp", "d.bmp", "e.tif", "rotated.jpg"]
    )
    assert report.duplicates == [("sub/a-copy.jpg", "a.jpg")]
    assert report.unsupported == ["notes.txt"]
    assert sorted(f for f, _ in report.corrupt) == ["broken.jpg", "fake.png"]
    assert all(reason for _, reason in report.corrupt)
    assert "6 images added" in report.summary()
    images = {i.file_name: i for i in list_images(empty_project)}
    assert (images["sub/b.png"].width, images["sub/b.png"].height) == (30, 20)
    # EXIF orientation 6 turns the picture: it is displayed 10 wide and 40 high
    assert (images["rotated.jpg"].width, images["rotated.jpg"].height) == (10, 40)
    assert len(images["a.jpg"].sha256) == 64
    # stored by reference, relative to the project folder
    assert not Path(images["a.jpg"].path).is_absolute()
    assert empty_project.resolve(images["a.jpg"].path).resolve() == (root / "a.jpg").resolve()


def test_adding_the_same_folder_again_adds_nothing(empty_project: Project, tmp_path: Path):
    root = _folder(tmp_path)
    add_image_folder(empty_project, root)
    again = add_image_folder(empty_project, root)
    assert again.added == []
    assert len(again.already_present) == 6


def test_check_finds_missing_and_changed_files(empty_project: Project, tmp_path: Path):
    root = _folder(tmp_path)
    add_image_folder(empty_project, root)
    assert check_image_files(empty_project).missing == []
    (root / "d.bmp").unlink()
    make_image(root / "sub" / "b.png", 30, 20, color=(0, 0, 255))  # same name, new content
    check = check_image_files(empty_project)
    assert [i.file_name for i in check.missing] == ["d.bmp"]
    assert [i.file_name for i in check.changed] == ["sub/b.png"]
    assert check.checked == 6


def test_find_image_by_id_name_or_path(empty_project: Project, tmp_path: Path):
    root = _folder(tmp_path)
    add_image_folder(empty_project, root)
    by_name = find_image(empty_project, "sub/b.png")
    assert find_image(empty_project, by_name.id).file_name == "sub/b.png"
    assert find_image(empty_project, str(by_name.id)).id == by_name.id
    assert find_image(empty_project, str(root / "sub" / "b.png")).id == by_name.id
    with pytest.raises(NotFoundError, match="not in the project"):
        find_image(empty_project, "nope.jpg")


def test_probe_and_folder_errors(tmp_path: Path, empty_project: Project):
    with pytest.raises(LongtailError, match="file not found"):
        probe_image(tmp_path / "none.jpg")
    with pytest.raises(LongtailError, match="not a folder"):
        add_image_folder(empty_project, tmp_path / "nowhere")


def test_tiny_coco_train_folder(tiny_coco: Path, empty_project: Project):
    report = add_image_folder(empty_project, tiny_coco / "train2017", split="train")
    assert len(report.added) == 50 and report.problems == 0
    assert all(i.split == "train" for i in list_images(empty_project))

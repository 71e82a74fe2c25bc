"""A full disk: one line saying so, and the project as it was. Before, an import printed
two tracebacks ("database or disk is full").

A real full disk is a small tmpfs mounted where the tests run as root; everywhere,
SQLite's ``max_page_count`` makes the database full at a chosen size the same way
(SQLITE_FULL, the error a full disk gives).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from skips import needs
from sqlalchemy import event

from app.cli import main
from pipeline.errors import DiskFullError
from pipeline.formats import import_coco
from pipeline.images import add_image_folder
from pipeline.store.database import Project
from pipeline.vocabulary import add_categories, shipped_vocabulary


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (root only; skipped elsewhere)."""
    if os.geteuid() != 0:
        needs("root", "mounting a small tmpfs needs root; CI runs as root")
    folder.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        needs("a tmpfs mount", f"this sandbox refused it: {exc}; run as root on a normal Linux")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def _project(folder: Path, images: Path) -> None:
    with Project.create(folder) as project:
        add_categories(project, shipped_vocabulary("coco"))
        add_image_folder(project, images)


def test_an_import_onto_a_full_disk_says_so_in_one_line(tiny_coco, tmp_path, capsys):
    _project(tmp_path / "p", tiny_coco / "val2017")
    with Project.open(tmp_path / "p") as project:
        before = project.counts()
    room = (tmp_path / "p" / "longtail.db").stat().st_size // 1024 + 96  # KiB: not the import
    with small_disk(tmp_path / "disk", f"{room}k") as disk:
        shutil.copytree(tmp_path / "p", disk / "p")
        truth = tiny_coco / "annotations" / "instances_val2017.json"
        code = main(["import", str(disk / "p"), str(truth), "--format", "coco"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1, err
        assert "is full" in err[0] and "Traceback" not in err[0]
        with Project.open(disk / "p") as project:
            assert project.counts() == before


def test_an_export_onto_a_full_disk_says_so_in_one_line(tiny_coco, tmp_path, capsys):
    _project(tmp_path / "p", tiny_coco / "val2017")
    truth = tiny_coco / "annotations" / "instances_val2017.json"
    assert main(["import", str(tmp_path / "p"), str(truth), "--format", "coco"]) == 0
    capsys.readouterr()
    with small_disk(tmp_path / "disk", "64k") as disk:
        out = disk / "out.json"
        code = main(["export", str(tmp_path / "p"), str(out), "--format", "coco"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and "the disk is full" in err[0], err
        assert not out.exists() and list(disk.iterdir()) == []  # no half file, no temp file


def test_a_database_that_cannot_grow_refuses_the_import_and_keeps_the_project(tiny_coco, tmp_path):
    """The same, wherever the tests run: the database may not grow past its size."""
    _project(tmp_path / "p", tiny_coco / "val2017")
    with Project.open(tmp_path / "p") as project:
        before = project.counts()
        pages = (tmp_path / "p" / "longtail.db").stat().st_size // 4096

        @event.listens_for(project.engine, "connect")
        def _limit(dbapi_conn, _record):
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 8}")

        project.engine.dispose()  # new connections get the limit
        truth = tiny_coco / "annotations" / "instances_val2017.json"
        with pytest.raises(DiskFullError, match="is full") as caught:
            import_coco(project, truth, images_root=tiny_coco / "val2017")
        assert "\n" not in str(caught.value)
    with Project.open(tmp_path / "p") as project:
        assert project.counts() == before

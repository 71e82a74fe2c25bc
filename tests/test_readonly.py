"""A project on a read-only folder (a read-only mount, say) opens for reading: status and
export run; a change says 'read-only'. Before, even status said "is not a longtail
project (unable to open database file)".

The read-only view is a read-only bind mount where the tests run as root (root ignores
permission bits), else the folder with its write bits removed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from skips import needs
from stages_support import box_mask, category_ids, confirmed_pair, make_project, segment_and_accept

from app.cli import main
from pipeline.errors import ReadOnlyProjectError
from pipeline.stages import Pipeline
from pipeline.store.database import DB_NAME, Project, write_meta


@contextmanager
def read_only_view(folder: Path, view: Path) -> Iterator[Path]:
    """``folder`` as a process sees a read-only mount of it."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    view.mkdir()
    mounted = False
    try:
        subprocess.run(["mount", "--bind", str(folder), str(view)], check=True, capture_output=True)
        mounted = True
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(view)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        if mounted:
            subprocess.run(["umount", str(view)], check=False)
        needs("a read-only bind mount", f"this sandbox refused it: {exc}; run as root on a normal Linux")
    try:
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=False)


@pytest.fixture
def finished_project(tmp_path: Path) -> Path:
    """A closed project with one accepted instance (images in the sibling folder)."""
    with make_project(tmp_path, images=2) as project:
        service = Pipeline(project)
        service.seed()
        confirmed_pair(service, category_ids(project), [(20, 20, 30, 25)])
        segment_and_accept(service, box_mask(20, 20, 30, 25))
    assert not (tmp_path / "project" / f"{DB_NAME}-wal").exists()  # closed cleanly
    return tmp_path / "project"


def test_status_and_export_run_on_a_read_only_project(finished_project, tmp_path, capsys):
    writable_out = tmp_path / "writable.json"
    assert main(["export", str(finished_project), str(writable_out), "--format", "lvis"]) == 0
    capsys.readouterr()
    with read_only_view(finished_project, tmp_path / "view") as view:
        assert main(["status", str(view)]) == 0
        out = capsys.readouterr().out
        assert "images      2" in out and "all 2 image files present and unchanged" in out
        read_only_out = tmp_path / "read_only.json"
        assert main(["export", str(view), str(read_only_out), "--format", "lvis"]) == 0
        assert read_only_out.read_bytes() == writable_out.read_bytes()
        with Project.open(view) as project:
            assert project.read_only and project.counts()["segments"] == 1
        assert sorted(p.name for p in view.iterdir()) == [DB_NAME]  # nothing was written


def test_a_change_to_a_read_only_project_says_read_only(finished_project, tmp_path, capsys):
    with read_only_view(finished_project, tmp_path / "view") as view:
        with Project.open(view) as project:
            with pytest.raises(ReadOnlyProjectError, match="read-only"), project.write():
                pass
            with pytest.raises(ReadOnlyProjectError, match="read-only"):
                Pipeline(project).next_item(3, "someone")
            with pytest.raises(ReadOnlyProjectError):
                project.update_settings(verify_min_iou=0.5)
        truth = tmp_path / "truth.json"
        truth.write_text('{"images": [], "annotations": [], "categories": []}')
        code = main(["import", str(view), str(truth), "--format", "coco"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and "read-only" in err[0]
    with Project.open(finished_project) as project:  # writable again where it was
        assert not project.read_only


def _copy_while_open(source: Path, target: Path, *, keep_shm: bool) -> None:
    """The files of a project as a crash leaves them: changes still in the -wal file."""
    with Project.open(source) as project:
        project.set_meta("note", "written after the last checkpoint")
        conn = sqlite3.connect(source / DB_NAME)  # holds the WAL open while copying
        try:
            conn.execute("PRAGMA wal_autocheckpoint=0")
            target.mkdir()
            for suffix in ("", "-wal") + (("-shm",) if keep_shm else ()):
                shutil.copy(source / f"{DB_NAME}{suffix}", target / f"{DB_NAME}{suffix}")
        finally:
            conn.close()


def test_a_read_only_copy_reads_the_changes_still_in_its_wal_file(finished_project, tmp_path):
    _copy_while_open(finished_project, tmp_path / "copy", keep_shm=True)
    assert (tmp_path / "copy" / f"{DB_NAME}-wal").stat().st_size > 0
    with (
        read_only_view(tmp_path / "copy", tmp_path / "view") as view,
        Project.open(view) as project,
    ):
        assert project.get_meta("note") == "written after the last checkpoint"


def test_a_read_only_copy_without_its_shm_file_says_what_to_do(finished_project, tmp_path):
    _copy_while_open(finished_project, tmp_path / "copy", keep_shm=False)
    with read_only_view(tmp_path / "copy", tmp_path / "view") as view:
        if os.access(view, os.W_OK):
            needs("a user that a read-only mount binds", "root may still write to this view here; run as root on a normal Linux")
        with pytest.raises(ReadOnlyProjectError, match="not closed cleanly"):
            Project.open(view)


def test_an_older_read_only_project_cannot_be_upgraded_and_says_so(finished_project, tmp_path):
    with Project.open(finished_project) as project, project.write() as conn:
        write_meta(conn, "schema_version", "1")
    with (
        read_only_view(finished_project, tmp_path / "view") as view,
        pytest.raises(ReadOnlyProjectError, match="written by an older longtail"),
    ):
        Project.open(view)

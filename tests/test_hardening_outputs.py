"""Issue 20, "Why" 1, 2 and 12: no writer replaces the project's database, a special file
or a folder; links are written through; killed writes leave a recognisable temporary
file that the next write of the same target sweeps (pipeline/outputs.py, decision 0023)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import run
from conftest import make_image

from app.cli import main
from pipeline.outputs import TEMP_PREFIX, OutputError, output_target, write_output
from pipeline.store.database import DB_NAME, Project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "P"
    make_image(tmp_path / "imgs" / "a.png")
    code = main(["init", str(folder), "--images", str(tmp_path / "imgs"), "--vocabulary", "coco"])
    assert code == 0
    return folder


def _still_a_project(folder: Path) -> None:
    with Project.open(folder) as p:
        assert p.counts()["images"] == 1


def test_export_over_the_projects_own_database_is_refused_and_the_project_survives(
    capsys, project: Path
):
    before = (project / DB_NAME).read_bytes()[:16]
    code, out, err = run(capsys, "export", str(project), str(project / DB_NAME), "--format", "coco")
    assert code != 0 and "wrote" not in out
    assert "database" in err and len(err.strip().splitlines()) == 1
    assert (project / DB_NAME).read_bytes()[:16] == before
    _still_a_project(project)
    for tail in ("-wal", "-shm"):
        code, _, err = run(
            capsys, "export", str(project), str(project / (DB_NAME + tail)), "--format", "coco"
        )
        assert code != 0 and "database" in err
    _still_a_project(project)


def test_a_hard_link_or_a_symlink_to_the_database_is_refused(capsys, project: Path, tmp_path):
    hard = tmp_path / "innocent.json"
    os.link(project / DB_NAME, hard)
    code, _, err = run(capsys, "export", str(project), str(hard), "--format", "coco")
    assert code != 0 and "database" in err
    soft = tmp_path / "soft.json"
    soft.symlink_to(project / DB_NAME)
    code, _, err = run(capsys, "export", str(project), str(soft), "--format", "coco")
    assert code != 0 and "a link to" in err and "database" in err
    _still_a_project(project)


def test_predict_out_over_the_database_is_refused_before_the_model_loads(capsys, project: Path):
    code, out, err = run(
        capsys, "predict", str(project), "--image", "1", "--box", "10,10,40,40",
        "--out", str(project / DB_NAME),
    )  # fmt: skip
    assert code != 0 and "database" in err and "Traceback" not in err
    _still_a_project(project)


def test_the_projects_internal_folders_are_no_output(capsys, project: Path):
    code, _, err = run(
        capsys, "export", str(project), str(project / "models" / "x.json"), "--format", "coco"
    )
    assert code != 0 and "models" in err
    # but a plain file in the project folder is fine
    code, out, _ = run(capsys, "export", str(project), str(project / "e.json"), "--format", "coco")
    assert code == 0 and json.loads((project / "e.json").read_bytes())["images"]


def test_folders_fifos_and_devices_are_refused_with_one_line(capsys, project: Path, tmp_path):
    adir = tmp_path / "adir"
    adir.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, word in ((adir, "folder"), (fifo, "FIFO"), (Path("/dev/null"), "device")):
        code, out, err = run(capsys, "export", str(project), str(target), "--format", "coco")
        assert code != 0 and word in err, (target, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert adir.is_dir() and fifo.is_fifo() and Path("/dev/null").is_char_device()
    # stats --out S where S/report.html is a folder: one line, nothing drawn
    stats = tmp_path / "S"
    (stats / "report.html").mkdir(parents=True)
    code, _, err = run(capsys, "stats", str(project), "--out", str(stats))
    assert code != 0 and "report.html" in err and "folder" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(stats.glob("*.png"))


def test_a_symlink_is_written_through_and_stays_a_link(capsys, project: Path, tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    code, _, _ = run(capsys, "export", str(project), str(link), "--format", "coco")
    assert code == 0
    assert link.is_symlink() and json.loads(real.read_bytes())["categories"]


def test_dash_is_standard_output_for_export(project: Path):
    done = subprocess.run(
        [sys.executable, "-m", "app", "export", str(project), "-", "--format", "lvis"],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["images"] and b"LVIS" in done.stderr
    assert not Path("-").exists()


def test_a_killed_writes_temporary_file_is_recognisable_and_swept(tmp_path: Path):
    target = tmp_path / "out.json"
    write_output(target, b"1")
    # A write killed half-way: its process (a pid that is gone) left a temporary file.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from pipeline.outputs import _name_key

    leftover = tmp_path / f"{_name_key(target)}{dead.pid}-deadbeef"
    leftover.write_bytes(b"x" * 1000)
    other = tmp_path / f"{_name_key(tmp_path / 'other.json')}{dead.pid}-deadbeef"
    other.write_bytes(b"y")
    write_output(target, b"2")
    assert not leftover.exists()  # swept by the next write of the same target
    assert other.exists()  # another target's leftover waits for its own writer
    assert target.read_bytes() == b"2"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)] == [other.name]


def test_a_checkpoint_write_goes_through_the_helper(tmp_path: Path):
    import torch

    from model.training import checkpoint as ck

    folder = tmp_path / "models" / "1"
    from pipeline.outputs import _name_key

    stale = folder / f"{_name_key(folder / ck.CHECKPOINT)}999999999-0"
    folder.mkdir(parents=True)
    stale.write_bytes(b"partial")
    ck.write_checkpoint(
        folder,
        model_state={"w": torch.zeros(2)},
        architecture="r50-fpn-v2",
        categories=["a"],
        category_ids=[1],
        iteration=3,
        optimizer_state=None,
        scaler_state=None,
        info={},
    )
    assert (folder / ck.CHECKPOINT).is_file() and not stale.exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_stdout_only_where_allowed(tmp_path: Path):
    with pytest.raises(OutputError, match="standard output"):
        output_target("-")
    assert output_target("-", stdout_ok=True) is None
    with pytest.raises(OutputError, match="folder"):
        output_target(str(tmp_path) + "/")


def test_the_previous_writers_leftovers_are_swept_once_old(tmp_path: Path):
    target = tmp_path / "export.json"
    old = tmp_path / ".export.json.k3j9x2qa.tmp"  # what a killed export left (6.7 MB in the issue)
    old.write_bytes(b"x" * 100)
    fresh = tmp_path / ".export.json.abcdefgh.tmp"
    fresh.write_bytes(b"y")
    stale = os.path.getmtime(old) - 3600
    os.utime(old, (stale, stale))
    write_output(target, b"{}")
    assert not old.exists() and fresh.exists()  # a fresh one may be a writer at work

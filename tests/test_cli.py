"""The CLI's first commands: --version, init, status, demo, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import run
from conftest import make_image

from pipeline import __version__


def test_version_from_the_console_script():
    done = subprocess.run(
        [sys.executable, "-m", "app", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == f"longtail {__version__}"


def test_init_and_status_on_tiny_coco(capsys, tmp_path: Path, tiny_coco: Path):
    project = tmp_path / "proj"
    code, out, _ = run(
        capsys,
        "init",
        str(project),
        "--images",
        str(tiny_coco / "train2017"),
        "--vocabulary",
        "coco",
    )
    assert code == 0 and "50 images added" in out and "80 categories" in out
    code, out, _ = run(capsys, "status", str(project), "--json")
    status = json.loads(out)
    assert code == 0
    assert status["images"] == 50 and status["categories"] == 80
    assert set(status["stages"]) == {"1", "2", "3", "4", "5", "6"}
    assert all(stage["open"] == 0 for stage in status["stages"].values())
    assert status["files"] == {
        "checked": 50,
        "missing": [],
        "changed": [],
        "outside": [],
        "image_roots_recorded": True,
    }
    code, out, _ = run(capsys, "status", str(project))
    assert code == 0 and "object spotting" in out and "all 50 image files present" in out


def test_status_reports_missing_and_changed_files(capsys, tmp_path: Path):
    images = tmp_path / "images"
    make_image(images / "one.png")
    make_image(images / "two.png", color=(1, 1, 1))
    assert run(capsys, "init", str(tmp_path / "p"), "--images", str(images))[0] == 0
    (images / "one.png").unlink()
    make_image(images / "two.png", color=(9, 9, 9))
    code, out, _ = run(capsys, "status", str(tmp_path / "p"))
    assert code == 0
    assert "missing file: one.png" in out and "changed file: two.png" in out


def test_init_with_a_text_vocabulary(capsys, tmp_path: Path):
    make_image(tmp_path / "images" / "a.png")
    (tmp_path / "v.txt").write_text("date, dates\nfig\n")
    code, out, _ = run(
        capsys,
        "init",
        str(tmp_path / "p"),
        "--images",
        str(tmp_path / "images"),
        "--vocabulary",
        str(tmp_path / "v.txt"),
    )
    assert code == 0 and "2 categories" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "{tmp}/nothing"], "does not exist"),
        (["status", "{tmp}"], "is not a longtail project"),
        (["init", "{tmp}/p", "--images", "{tmp}/none"], "does not exist or is not a folder"),
        (
            ["init", "{tmp}/p", "--images", "{tmp}", "--vocabulary", "imagenet"],
            "neither 'coco', 'lvis'",
        ),
    ],
)
def test_user_errors_are_one_line_and_exit_1(capsys, tmp_path: Path, argv, message):
    code, out, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 1
    assert err.startswith("longtail: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "p").exists()  # a failed init creates nothing


def test_init_refuses_an_existing_project(capsys, tmp_path: Path):
    make_image(tmp_path / "images" / "a.png")
    assert run(capsys, "init", str(tmp_path / "p"), "--images", str(tmp_path / "images"))[0] == 0
    code, _, err = run(capsys, "init", str(tmp_path / "p"), "--images", str(tmp_path / "images"))
    assert code == 1 and "already holds a longtail project" in err


def test_demo_builds_once_and_reopens(capsys, tmp_path: Path):
    code, out, _ = run(capsys, "demo", "--no-gui", "--path", str(tmp_path / "demo"))
    assert code == 0 and "images      5" in out and "categories  80" in out
    code, out, _ = run(capsys, "demo", "--no-gui", "--path", str(tmp_path / "demo"))
    assert code == 0 and "images      5" in out  # opened, not rebuilt or doubled

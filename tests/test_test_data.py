"""The suite runs whole on a fresh clone: its data is in tests/data, and a skip is only
ever for a missing system service that the message says how to enable."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_reads_data_from_outside_the_repository():
    offenders = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if '"shared"' in line or "../shared" in line or "shared/data" in line
    ]
    assert offenders == []


def test_the_data_the_tests_name_is_in_the_repository(test_data: Path, tiny_coco: Path):
    for name in ("instances_train2017.json", "instances_val2017.json"):
        assert (tiny_coco / "annotations" / name).is_file()
    assert len(list((tiny_coco / "val2017").glob("*.jpg"))) == 50
    assert len(list((test_data / "snacks_labelme").glob("*.json"))) == 18
    for name in ("lvis_v05_val_100.json", "lvis_v1_categories.json", "coco_to_lvis_synset.json"):
        assert (test_data / name).is_file()
    assert "licence" in (test_data / "README.md").read_text()


def run_beside_our_conftest(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    for name in ("conftest.py", "skips.py", "gui_support.py"):  # conftest and its plugins
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_case.py").write_text(body)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-rA", str(tmp_path / "test_case.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_skip_for_missing_data_fails_the_run(tmp_path: Path):
    result = run_beside_our_conftest(
        tmp_path,
        "import pytest\n\ndef test_x():\n    pytest.skip('tiny_coco is not present')\n",
    )
    assert result.returncode == 1, result.stdout
    assert "not a missing service" in result.stdout
    assert "1 failed" in result.stdout


def test_a_skip_for_a_missing_service_that_says_how_passes(tmp_path: Path):
    result = run_beside_our_conftest(
        tmp_path,
        "import skips\nfrom skips import needs\n\n"
        "def test_x():\n    needs('Xvfb', 'apt-get install xvfb')\n\n"
        "def test_y():\n    import pytest\n    pytest.skip(skips.POSTGRES)\n",
    )
    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout

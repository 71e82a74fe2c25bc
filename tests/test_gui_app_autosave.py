"""Nothing lost, end to end: the app (as ``longtail gui`` starts it) is killed with
SIGKILL while a mask is being drawn on a held segmentation item; started again, it
goes back to that item and the drawing is there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_image

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).parent / "scripts" / "gui_app_driver.py"


@pytest.fixture
def held_segmentation_item(tmp_path: Path) -> tuple[Path, int]:
    """A project with one image, one marked instance (no point, so no model proposal
    is asked) and its segmentation item held by 'alice'."""
    from pipeline.annotations import add_instance
    from pipeline.images import add_image_folder, list_images
    from pipeline.stages import SEGMENTATION, Pipeline
    from pipeline.store.database import Project
    from pipeline.vocabulary import add_categories, project_categories, shipped_vocabulary

    make_image(tmp_path / "images" / "street.png", 200, 150, color=(90, 140, 60))
    folder = tmp_path / "project"
    with Project.create(folder) as project:
        add_categories(project, shipped_vocabulary("coco"))
        add_image_folder(project, tmp_path / "images")
        image = list_images(project)[0]
        dog = next(c for c in project_categories(project) if c.name == "dog")
        add_instance(project, image.id, dog.id)
        pipeline = Pipeline(project)
        pipeline.seed()
        item = pipeline.next_item(SEGMENTATION, "alice")
        assert item is not None
    return folder, item.id


def test_a_drawing_in_the_app_survives_sigkill_and_is_restored_on_restart(
    held_segmentation_item, tmp_path
):
    folder, item_id = held_segmentation_item
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(REPO),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    args = [sys.executable, str(DRIVER)]
    child = subprocess.Popen(
        [*args, "draw", str(folder), "alice"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
    )
    try:
        line = b""
        deadline = time.monotonic() + 120
        while not line.startswith(b"SAVED") and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                break
        assert line.startswith(b"SAVED"), "the app never saved a draft of the drawing"
        _, drawn, area, seconds = line.decode().split()
        assert int(area) > 0
        assert float(seconds) < 2.0  # written about a second after the edit at the latest
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL

    from pipeline.stages import Pipeline
    from pipeline.store.database import Project

    with Project.open(folder) as project:  # killed: the item is still alice's
        assert item_id in {i.id for i in Pipeline(project).held("alice")}

    done = subprocess.run(
        [*args, "restore", str(folder), "alice"],
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    out = done.stdout.decode()
    restored = [line for line in out.splitlines() if line.startswith("RESTORED")]
    assert restored, done.stderr.decode()[-2000:]
    assert restored[0].split()[1:] == [drawn, area, "3"]

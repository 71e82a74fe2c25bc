"""Shared fixtures. Qt runs offscreen; real data comes from tests/data (in the repository)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Registered here, before any test module imports a helper from it, so that pytest
# rewrites its asserts (a module that lists it in its own pytest_plugins after importing
# from it got "Module already imported so cannot be rewritten").
pytest_plugins = ["gui_support"]

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``tests/data``: the real datasets the tests read (see its README for sources and
    licences). It is part of the repository, so a missing file is a failure, not a skip."""
    return TEST_DATA


@pytest.fixture(scope="session")
def tiny_coco(test_data: Path) -> Path:
    """The tiny COCO subset: annotations/instances_{train,val}2017.json, train2017/, val2017/."""
    return test_data / "tiny_coco"


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where a test saves its screenshots: a folder in tmp_path, so test runs leave the
    tracked pictures alone; with LONGTAIL_SCREENSHOTS=docs, docs/screenshots/ (retaking
    the pictures the docs show)."""
    if os.environ.get("LONGTAIL_SCREENSHOTS") == "docs":
        folder = REPO / "docs" / "screenshots"
    else:
        folder = tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def empty_project(tmp_path: Path):
    """A new project with no images and no categories."""
    from pipeline.store.database import Project

    with Project.create(tmp_path / "project") as project:
        yield project


@pytest.fixture
def coco_project(tmp_path: Path):
    """A new project with the COCO-80 vocabulary and no images."""
    from pipeline.store.database import Project
    from pipeline.vocabulary import add_categories, shipped_vocabulary

    with Project.create(tmp_path / "project") as project:
        add_categories(project, shipped_vocabulary("coco"))
        yield project


def load_script(path: str) -> Any:
    """A script of the repository that is not a package module (``bench/clicks.py``,
    ``tools/import_walk.py``), loaded as a module from its path relative to the root."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(path).stem, REPO / path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_image(
    path: Path, width: int = 64, height: int = 48, *, color=(120, 40, 200), exif_orientation=None
) -> Path:
    """Write a small real image file (format from the suffix)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (width, height), color)
    kwargs = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif
    img.save(path, **kwargs)
    return path


@pytest.fixture
def explorer(qtbot, tmp_path: Path):
    """An explorer window on the hand-made three-image project (stats_support), shown at
    1280x760 with its grid filled; yields (HandMade, ExplorerView)."""
    from stats_support import build_hand_made

    from app.gui.session import Session
    from app.gui.widgets.explorer import ExplorerView

    made = build_hand_made(tmp_path)
    session = Session(made.project, "editor")
    view = ExplorerView(session)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    view.show()
    qtbot.waitUntil(lambda: view.model.rowCount() == 3, timeout=5000)
    yield made, view
    view.close()
    session.close()
    made.project.close()


@pytest.fixture
def x_display():
    """A private Xvfb server of 1400x900; yields its DISPLAY (":N"). Each xdist worker
    probes its own range of display numbers, and a number another process took in the
    meantime is passed over."""
    import shutil
    import subprocess
    import time

    from skips import needs

    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        needs("Xvfb", "apt-get install xvfb; .ci/run installs it")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = 140 + 60 * (int(worker) if worker.isdigit() else 0)
    for number in range(first, first + 60):
        socket = Path(f"/tmp/.X11-unix/X{number}")
        if socket.exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        server = subprocess.Popen(
            [xvfb, f":{number}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while not socket.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if socket.exists() and server.poll() is None:
            break
        server.kill()
        if time.monotonic() >= deadline:
            pytest.fail(f"Xvfb did not start: {server.stderr.read().decode(errors='replace')}")
    else:
        pytest.fail(f"no free X display number in :{first}-:{first + 59}")
    yield f":{number}"
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip must be for a missing system service and say how to enable it (tests/skips.py);
    any other skip (missing data above all) fails the test, so a fresh clone runs everything."""
    from skips import is_service_reason

    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[2])
        if not is_service_reason(reason):
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} was skipped for a reason that is not a missing service: "
                f"{reason!r}; tests/data carries the test data, and a service skip goes "
                "through tests/skips.py's needs(SERVICE, HOW)"
            )

"""Smoke test on a real X server: the app opens its window through Qt's xcb plugin.

Everything else runs offscreen; this one starts ``Xvfb`` (skipped where it is not
installed; ``.ci/run`` installs it with the xcb libraries) and launches the app as a
user would, with ``QT_QPA_PLATFORM=xcb``. The window's pixels are read back from the X
server, so a window that never mapped, or mapped black, fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gui_support import clean_exit
from xcb_support import xcb_env

REPO = Path(__file__).resolve().parents[1]


def test_the_window_opens_on_a_real_x_server_with_the_demo_project(x_display, tmp_path):
    from app.demo import build_demo

    with build_demo(tmp_path / "demo"):
        pass
    shot = tmp_path / "window.png"
    env = xcb_env(x_display, tmp_path, LONGTAIL_EXIT_AFTER_SHOWN="1", LONGTAIL_SCREENSHOT=str(shot))
    done = subprocess.run(
        [sys.executable, "-m", "app", "gui", str(tmp_path / "demo"), "--annotator", "smoke"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "longtail: window shown in" in done.stderr
    assert "longtail: project open in" in done.stderr

    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.width >= 800 and image.height >= 500
    # Drawn by Qt and read back from the X server: many colours, not one flat fill.
    colours = image.resize((200, 120)).getcolors(maxcolors=200 * 120)
    assert colours is not None and len(colours) > 50


REPEATS = 5


def test_lifecycle_paths_exit_cleanly_five_times_each_on_a_real_x_server(x_display, tmp_path):
    """Issue 18's checks, as a user does them on a real window (xcb): open a project with
    open stage-3 items, Ctrl+3, wait for the proposal, Ctrl+Q; switch the annotator; open
    a second project, then Statistics, Explorer and Train. Each run exits 0 with neither
    "QThread" nor "Traceback" on stderr (the abort of a thread destroyed while running)."""
    from test_gui_lifecycle import DRIVER, segmentation_project

    first = segmentation_project(tmp_path, "first", images=2)
    second = segmentation_project(tmp_path, "second", images=1)
    env = xcb_env(x_display, tmp_path, PYTHONPATH=str(REPO))
    for mode in ("proposal", "in-flight", "annotator", "second"):
        for run in range(REPEATS):
            done = subprocess.run(
                [sys.executable, str(DRIVER), mode, str(first), str(second)],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            clean_exit(done, f"{mode} run {run + 1}: ")
            assert "STEP quit" in done.stderr, done.stderr[-3000:]

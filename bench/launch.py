"""Time from launching ``longtail gui`` to its window shown, and to the project open;
a project switch; and quitting with a model proposal in flight.

Each launch run starts a fresh process (``python -m app gui DEMO --annotator bench``)
with ``LONGTAIL_EXIT_AFTER_SHOWN=1``; the app prints ``window shown in X s`` once its
window is exposed and ``project open in X s`` once the first stage's view is shown (both
measured from the process start). The wall clock around the process is reported too.

``project_switch_s``: in a window on a project whose stage 3 has a proposal running,
File -> Open of a second project until its first stage view is shown (the old
session, its views, workers and panels closed). ``quit_in_flight_s``: the app (as
``longtail gui`` runs it) with a proposal that takes a minute running, from Ctrl+Q to
the process gone. The model is a stand-in that sleeps (no torch), as a GrabCut on a
huge photo runs for minutes.

Prints one JSON object; targets: <= 1.5 s to the window, <= 1.5 s for a project
switch, <= 1 s to quit with a proposal in flight.

    .venv/bin/python bench/launch.py --runs 5 [--platform xcb]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHOWN = re.compile(r"window shown in ([0-9.]+) s")
OPEN = re.compile(r"project open in ([0-9.]+) s")


def one_run(project: Path, qpa: str, config: Path) -> dict[str, float]:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM=qpa,
        LONGTAIL_EXIT_AFTER_SHOWN="1",
        XDG_CONFIG_HOME=str(config),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app", "gui", str(project), "--annotator", "bench"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.perf_counter() - start
    shown, opened = SHOWN.search(done.stderr), OPEN.search(done.stderr)
    if done.returncode != 0 or shown is None or opened is None:
        raise SystemExit(f"launch failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return {
        "window_shown_s": float(shown.group(1)),
        "project_open_s": float(opened.group(1)),
        "process_wall_s": wall,
    }


class SleepingPredictor:
    """A prompt takes a minute (no torch): the request the app must not wait for."""

    trained = False

    def __init__(self) -> None:
        import threading

        self.started = threading.Event()

    def box_to_mask(self, pixels, box, category=None, **_):
        self.started.set()
        time.sleep(60)
        raise RuntimeError("never wanted")

    def point_to_mask(self, pixels, point, category=None, **_):
        return self.box_to_mask(pixels, (point[0], point[1], 1, 1))

    def prefetch(self, images) -> None:
        pass

    def close(self) -> None:
        pass


def segmentation_project(root: Path, name: str, images: int = 3) -> Path:
    """A project whose stage 3 has open items with points (so proposals are asked)."""
    import numpy as np
    from PIL import Image

    from pipeline.annotations import add_instance
    from pipeline.images import add_image_folder, list_images
    from pipeline.stages import Pipeline
    from pipeline.store.database import Project
    from pipeline.vocabulary import add_categories, project_categories, shipped_vocabulary

    folder = root / f"{name}-images"
    folder.mkdir(parents=True)
    for i in range(images):
        pixels = np.full((480, 640, 3), (90, 140, 60 + 10 * i), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"yard{i}.png")
    with Project.create(root / name) as project:
        add_categories(project, shipped_vocabulary("coco"))
        add_image_folder(project, folder)
        dog = next(c for c in project_categories(project) if c.name == "dog")
        for image in list_images(project):
            add_instance(project, image.id, dog.id, point=(200.0, 150.0))
        Pipeline(project).seed()
    return root / name


def child(mode: str, first: str, second: str) -> int:
    """The measured app, in this process: ``switch`` prints SWITCH <s>; ``quit`` prints
    QUIT <time.time()> as it presses Ctrl+Q (the parent times the exit)."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    import app.gui.workers.model as model_worker
    from app.gui.app import create_application, run_gui
    from app.gui.main_window import MainWindow

    made: list[SleepingPredictor] = []
    model_worker.default_predictor = lambda _p: made.append(SleepingPredictor()) or made[-1]
    create_application()

    def poll(ready, then) -> None:
        if ready():
            then()
        else:
            QTimer.singleShot(5, lambda: poll(ready, then))

    def in_flight() -> bool:
        return bool(made) and made[-1].started.is_set()

    def start() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if not windows:
            QTimer.singleShot(10, start)
            return
        win = windows[0]

        def opened_first() -> None:
            win.opened.disconnect(opened_first)
            win.set_stage(3)
            poll(in_flight, lambda: measure(win))

        win.opened.connect(opened_first)

    def measure(win) -> None:
        if mode == "quit":
            print("QUIT", f"{time.time():.4f}", flush=True)
            QTest.keyClick(win, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
            return
        began = time.perf_counter()

        def shown() -> None:
            QApplication.processEvents()  # the first stage view painted
            print("SWITCH", f"{time.perf_counter() - began:.4f}", flush=True)
            win.close()

        win.opened.connect(shown)
        win.open_project(second)

    QTimer.singleShot(0, start)
    return run_gui(first, annotator="bench")


def one_lifecycle_run(mode: str, first: Path, second: Path, qpa: str, config: Path) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM=qpa, XDG_CONFIG_HOME=str(config))
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(first), str(second)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    ended = time.time()
    key = "QUIT" if mode == "quit" else "SWITCH"
    line = next((x for x in done.stdout.splitlines() if x.startswith(key)), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"{mode} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    value = float(line.split()[1])
    return ended - value if mode == "quit" else value


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--platform",
        default=os.environ.get("QT_QPA_PLATFORM") or "offscreen",
        help="Qt platform plugin: offscreen (default) or xcb (needs DISPLAY)",
    )
    args = parser.parse_args()

    # bench/pipeline.py would shadow the package: the repository comes first
    sys.path.insert(0, str(REPO))
    if args.child:
        raise SystemExit(child(*args.child))
    from app.demo import build_demo

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "demo"
        with build_demo(project):
            pass
        config = Path(tmp) / "config"
        runs = [one_run(project, args.platform, config) for _ in range(args.runs)]
        first = segmentation_project(Path(tmp), "first")
        second = segmentation_project(Path(tmp), "second")
        switches = [
            one_lifecycle_run("switch", first, second, args.platform, config)
            for _ in range(args.runs)
        ]
        quits = [
            one_lifecycle_run("quit", first, second, args.platform, config)
            for _ in range(args.runs)
        ]
    report = {
        "benchmark": "launch",
        "platform": args.platform,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "window_shown_s": summary([r["window_shown_s"] for r in runs]),
        "project_open_s": summary([r["project_open_s"] for r in runs]),
        "process_wall_s": summary([r["process_wall_s"] for r in runs]),
        "project_switch_s": summary(switches),
        "quit_in_flight_s": summary(quits),
        "target_window_shown_s": 1.5,
        "target_project_switch_s": 1.5,
        "target_quit_in_flight_s": 1.0,
    }
    report["meets_target"] = (
        report["window_shown_s"]["median"] <= 1.5
        and report["project_switch_s"]["median"] <= 1.5
        and report["quit_in_flight_s"]["median"] <= 1.0
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

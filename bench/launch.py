"""Time from launching ``longtail gui`` to its window shown, and to the project open.

Each run starts a fresh process (``python -m app gui DEMO --annotator bench``) with
``LONGTAIL_EXIT_AFTER_SHOWN=1``; the app prints ``window shown in X s`` once its window
is exposed and ``project open in X s`` once the first stage's view is shown (both
measured from the process start). The wall clock around the process is reported too.
Prints one JSON object; the target is <= 1.5 s to the window.

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


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--platform",
        default=os.environ.get("QT_QPA_PLATFORM") or "offscreen",
        help="Qt platform plugin: offscreen (default) or xcb (needs DISPLAY)",
    )
    args = parser.parse_args()

    # bench/pipeline.py would shadow the package: the repository comes first
    sys.path.insert(0, str(REPO))
    from app.demo import build_demo

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "demo"
        with build_demo(project):
            pass
        runs = [one_run(project, args.platform, Path(tmp) / "config") for _ in range(args.runs)]
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
        "target_window_shown_s": 1.5,
    }
    report["meets_target"] = report["window_shown_s"]["median"] <= 1.5
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

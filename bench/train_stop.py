"""Benchmark: seconds from SIGTERM to the end of ``python -m model.training``, under load.

    .venv/bin/python bench/train_stop.py [--tries 3] [--load 2] [--size 640]

Builds a small project of synthetic shapes, then for each try starts a training run of
the ``tiny`` model at ``size`` px (a step takes seconds on one thread, most of it the
backward pass), waits for its first periodic checkpoint, sends SIGTERM at a different
moment of the next step each try (its forward, its backward, ...), and times the
command until it exits. ``--load N`` keeps N busy processes spinning meanwhile. Prints
one JSON object: each try's delay, seconds, exit status and the step ``--resume``
continues from; the target is at most 2 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def _spin(until: float) -> None:
    while time.time() < until:
        pass


def one_try(folder: Path, size: int, delay: float, cli: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    # python -m model.training prints JSON lines; longtail train a bar and a last line.
    program = (
        [str(Path(sys.executable).parent / "longtail"), "train"]
        if cli
        else [sys.executable, "-m", "model.training"]
    )
    command = [
        *program, str(folder), "--model", "tiny",
        "--min-size", str(size), "--max-size", str(size), "--no-weights-cache",
        "--iterations", "1000", "--checkpoint-every", "1", "--no-evaluate",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert process.stdout is not None
    if cli:
        # longtail train draws a bar, not events: its first checkpoint file says the same.
        runs = len(list(folder.glob("models/*/checkpoint.pt")))
        while len(list(folder.glob("models/*/checkpoint.pt"))) == runs:
            time.sleep(0.05)
    else:
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "checkpoint" and event["iteration"] == 1:
                break
    time.sleep(delay)
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=120)
    seconds = time.monotonic() - asked
    last = json.loads(rest.splitlines()[-1]) if rest.strip() and not cli else {}
    return {
        "delay_s": delay,
        "seconds": round(seconds, 3),
        "status": process.returncode,
        "resumes_from": last.get("iteration"),
        "stopped_at": last.get("stopped_at"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--load", type=int, default=2, help="busy processes meanwhile")
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--cli", action="store_true", help="time longtail train instead")
    args = parser.parse_args()
    from training_support import shapes_project

    results = []
    with tempfile.TemporaryDirectory() as work:
        with shapes_project(Path(work), train=4, val=1, size=64) as project:
            folder = project.folder
        hogs = [mp.Process(target=_spin, args=(time.time() + 600,)) for _ in range(args.load)]
        for hog in hogs:
            hog.start()
        try:
            for i in range(args.tries):
                results.append(one_try(folder, args.size, 0.5 + 1.5 * i, args.cli))
        finally:
            for hog in hogs:
                hog.kill()
    print(
        json.dumps(
            {
                "bench": "training stop under load",
                "command": "longtail train" if args.cli else "python -m model.training",
                "load_processes": args.load,
                "cores": os.cpu_count(),
                "size": args.size,
                "tries": results,
                "max_seconds": max(r["seconds"] for r in results),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

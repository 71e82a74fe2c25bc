"""A stop ends training within about 2 s even in the middle of a step's backward pass.

The loop runs in a child process (model.training.isolate); the parent ends it when it
does not stop within a second, records the run as cancelled at its last periodic
checkpoint, and says the iteration ``--resume`` continues from.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_support import shapes_project

from model.training.registry import CANCELLED, list_models
from pipeline.store.database import Project

REPO = Path(__file__).resolve().parents[1]
# A tiny model at 800 px: a step takes seconds on one thread, most of it backward.
SLOW = ["--model", "tiny", "--min-size", "800", "--max-size", "800", "--no-weights-cache"]


@pytest.fixture
def shapes(tmp_path):
    with shapes_project(tmp_path, train=4, val=1, size=64) as project:
        folder = project.folder
    return folder


def test_sigterm_in_the_middle_of_a_step_ends_the_run_within_seconds(shapes):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "model.training", str(shapes), *SLOW]
    options = ["--iterations", "1000", "--checkpoint-every", "1", "--no-evaluate"]
    process = subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        began = None
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "checkpoint" and event["iteration"] == 0:
                began = time.monotonic()  # step 1 begins
            if event["event"] == "checkpoint" and event["iteration"] == 1:
                break  # step 2 begins
        step = time.monotonic() - began
        # Past step 2's forward pass (about 40% of a step here), inside its backward pass.
        time.sleep(0.6 * step)
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
        stopped_after = time.monotonic() - asked
    finally:
        process.kill()
    print(f"stopped {stopped_after:.2f} s after SIGTERM (a step took {step:.1f} s)")
    assert process.returncode == 130
    events = [json.loads(x) for x in rest.splitlines()]
    last = events[-1]
    assert last["event"] == "cancelled"
    assert stopped_after < 3.0  # 2 s asked; a second of slack for shared CI cores
    with Project.open(shapes) as project:
        (record,) = list_models(project)
        assert record.status == CANCELLED and record.iterations == last["iteration"] >= 1
        data = torch.load(record.checkpoint_path(project), weights_only=True)
    assert data["iteration"] == last["iteration"]


def test_the_child_may_start_data_loading_workers(shapes):
    """The training child is not daemonic: DataLoader workers (--workers N) can start."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    tiny = ["--model", "tiny", "--min-size", "64", "--max-size", "64", "--no-weights-cache"]
    done = subprocess.run(
        [sys.executable, "-m", "model.training", str(shapes), *tiny, "--iterations", "1"]
        + ["--workers", "1", "--no-evaluate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1])["event"] == "done"

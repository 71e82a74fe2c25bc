"""Data-parallel training under torchrun: 2 gloo processes on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_support import shapes_project

from model.training.registry import FINISHED, list_models

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_gloo_processes_both_step_and_write_one_checkpoint(tmp_path):
    with shapes_project(tmp_path, train=6, val=0, size=64) as project:
        folder = project.folder
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "model.training", str(folder),
        "--model", "tiny", "--iterations", "3", "--batch-size", "1",
        "--min-size", "64", "--max-size", "64", "--no-evaluate", "--no-weights-cache",
        "--checkpoint-every", "2", "--device", "cpu",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    start = next(e for e in events if e["event"] == "start")
    assert start["world_size"] == 2 and start["total_batch"] == 2
    progress = [e for e in events if e["event"] == "progress"]
    # one line per step (rank 0 speaks), each counting the images of both ranks
    assert [e["iteration"] for e in progress] == [1, 2, 3]
    assert all(e["images"] == 2 and e["ranks"] == 2 for e in progress)
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert [e["iteration"] for e in checkpoints] == [0, 2, 3]  # once each, not once per rank
    from pipeline.store.database import Project

    with Project.open(folder) as project:
        models = list_models(project)
    assert len(models) == 1 and models[0].status == FINISHED
    assert models[0].config["world_size"] == 2
    files = sorted(p.name for p in (folder / "models" / str(models[0].id)).iterdir())
    assert files == ["checkpoint.json", "checkpoint.pt", "heldout.json"]


def test_ranks_other_than_0_finish_without_waiting_for_the_evaluation(tmp_path):
    """Rank 0 evaluates alone; another rank returns at once, with no collective call (no
    process group exists here: a barrier would raise)."""
    import torch

    from model.training import distributed as dist_utils
    from model.training.architectures import build_for_training
    from model.training.config import TrainConfig
    from model.training.loop import Built, Checkpointer, Plan, finish
    from model.training.snapshot import take_snapshot

    with shapes_project(tmp_path, train=2, val=1, size=48) as project:
        snapshot = take_snapshot(project)
        config = TrainConfig(architecture="tiny", evaluate=True)
        plan = Plan(project, snapshot, config, 1, tmp_path / "m", None, "scratch", None)
        model = build_for_training("tiny", snapshot.num_classes, min_size=48, max_size=48)
        built = Built(model, "scratch", "", [])
        ctx = dist_utils.Context(1, 2, 1, torch.device("cpu"))
        assert ctx.distributed and not ctx.is_main
        said = []
        checkpointer = Checkpointer(plan, [], ctx, said.append)
        result = finish(plan, ctx, said.append, built, checkpointer, 3, False, [], False)
    assert result.iterations_done == 3 and result.metrics is None  # rank 0's to compute

"""Checkpoint files: readable by the project's group, fsynced, leftovers recognised and swept."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
import torch

from model.training.checkpoint import (
    CHECKPOINT,
    CHECKPOINT_JSON,
    read_model_file,
    sweep_leftovers,
    write_checkpoint,
)
from pipeline.outputs import TEMP_PREFIX, temporary_name


def write(folder, iteration=1):
    return write_checkpoint(
        folder,
        model_state={"w": torch.ones(2)},
        architecture="tiny",
        categories=["a"],
        category_ids=[1],
        iteration=iteration,
        optimizer_state=None,
        scaler_state=None,
        info={"model_id": 1},
    )


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_checkpoints_take_the_mode_the_umask_gives_not_0600(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write(tmp_path / "models" / "1")
    finally:
        os.umask(old)
    for name in (CHECKPOINT, CHECKPOINT_JSON):
        mode = stat.S_IMODE((path.parent / name).stat().st_mode)
        assert mode == 0o666 & ~umask, oct(mode)


def test_a_killed_write_leaves_a_recognisable_temporary_that_the_next_run_sweeps(tmp_path):
    folder = tmp_path / "models" / "1"
    write(folder, iteration=1)
    # A writer killed mid-save: its process is gone, its temporary file stays.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    pid = int(dead.stdout)
    name = temporary_name(folder / CHECKPOINT).split("-")
    left = folder / "-".join([*name[:-2], str(pid), name[-1]])
    left.write_bytes(b"half a checkpoint")
    assert left.name.startswith(TEMP_PREFIX) and left.name.endswith(".tmp")
    assert read_model_file(folder / CHECKPOINT)["iteration"] == 1  # the old one is intact
    assert sweep_leftovers(folder) == [left]
    assert not left.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted([CHECKPOINT, CHECKPOINT_JSON])


def test_the_checkpoint_is_fsynced_before_its_rename(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os,
        "replace",
        lambda a, b: (calls.append(f"replace {os.path.basename(b)}"), real_replace(a, b))[1],
    )
    write(tmp_path / "m")
    at = calls.index(f"replace {CHECKPOINT}")
    assert "fsync" in calls[:at]

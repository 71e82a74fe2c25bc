"""The training commands: train, models, evaluate --model, predict with the model in use;
Ctrl-C on a real training process; the pipeline end to end on tiny_coco."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_support import one_thread, shapes_project  # noqa: F401 (autouse)

from app.cli.main import main
from model.training.registry import CANCELLED, FINISHED, get_model, list_models

REPO = Path(__file__).resolve().parents[1]
TINY = ["--model", "tiny", "--min-size", "64", "--max-size", "64", "--no-weights-cache"]


@pytest.fixture
def shapes(tmp_path):
    with shapes_project(tmp_path, train=6, val=2, size=64) as project:
        folder = project.folder
    return folder


def test_train_registers_a_model_that_models_lists_and_use_marks(shapes, capsys):
    assert main(["train", str(shapes), *TINY, "--iterations", "2", "--lr", "0.01"]) == 0
    out = capsys.readouterr()
    assert "model 1: 2 iterations" in out.out and "mask AP" in out.out
    assert "from scratch" in out.err
    assert main(["models", str(shapes)]) == 0
    listing = capsys.readouterr().out
    assert "mask AP" in listing and "finished" in listing and "tiny" in listing
    assert main(["models", str(shapes), "--use", "1"]) == 0
    assert "now proposes masks" in capsys.readouterr().out
    assert main(["models", str(shapes), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["in_use"] and entry["status"] == FINISHED and entry["iterations"] == 2
    assert set(entry["metrics"]["lvis"]["segm"]) >= {"APr", "APc", "APf"}


def test_evaluate_a_registry_model_on_the_held_out_split_stores_the_numbers(shapes, capsys):
    assert main(["train", str(shapes), *TINY, "--iterations", "1", "--no-evaluate"]) == 0
    capsys.readouterr()
    from pipeline.store.database import Project

    with Project.open(shapes) as project:
        assert get_model(project, 1).metrics is None
    assert main(["evaluate", str(shapes), "--model", "1", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["images"] == 2 and set(metrics["coco"]) == {"segm", "bbox"}
    with Project.open(shapes) as project:
        assert get_model(project, 1).metrics["coco"] == metrics["coco"]


def test_command_errors_are_one_clear_line(shapes, capsys):
    assert main(["evaluate", str(shapes), "--model", "9"]) == 1
    assert "no model 9" in capsys.readouterr().err
    assert main(["evaluate", "gt.json"]) == 1
    assert "GT.json RESULTS.json, or PROJECT --model ID" in capsys.readouterr().err
    assert main(["models", str(shapes), "--use", "3"]) == 1
    assert "no model 3" in capsys.readouterr().err
    assert main(["train", str(shapes), *TINY, "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", str(shapes), *TINY, "--iterations", "0"]) == 1
    assert "iterations must be at least 1" in capsys.readouterr().err


def test_ctrl_c_stops_training_with_a_checkpoint_and_status_130(shapes):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "model.training", str(shapes), *TINY, "--iterations", "10000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for line in process.stdout:
            if json.loads(line)["event"] == "progress":
                break
        asked = time.monotonic()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        stopped_after = time.monotonic() - asked
    finally:
        process.kill()
    assert process.returncode == 130
    events = [json.loads(x) for x in rest.splitlines()]
    assert events[-1]["event"] == "cancelled"
    assert stopped_after < 10  # about 2 s on an idle machine; shared CI cores are slower
    from pipeline.store.database import Project

    with Project.open(shapes) as project:
        (record,) = list_models(project)
        assert record.status == CANCELLED and record.iterations == events[-1]["iteration"]
        data = torch.load(record.checkpoint_path(project), weights_only=True)
    assert data["iteration"] == events[-1]["iteration"]


@pytest.mark.slow
def test_tiny_coco_curated_by_the_pipeline_trains_evaluates_and_predicts(
    tmp_path, tiny_coco, capsys
):
    # Eight train images of tiny_coco, replayed through the six stages by two annotators.
    truth = json.loads((tiny_coco / "annotations" / "instances_train2017.json").read_text())
    images = sorted(truth["images"], key=lambda im: im["id"])[:8]
    keep = {im["id"] for im in images}
    folder = tmp_path / "images"
    folder.mkdir()
    for im in images:
        shutil.copy(tiny_coco / "train2017" / im["file_name"], folder / im["file_name"])
    truth["images"] = images
    truth["annotations"] = [a for a in truth["annotations"] if a["image_id"] in keep]
    truth_path = tmp_path / "truth.json"
    truth_path.write_text(json.dumps(truth))
    project = str(tmp_path / "project")
    assert main(["init", project, "--images", str(folder), "--vocabulary", "coco"]) == 0
    assert main(["simulate", project, "--truth", str(truth_path), "--annotators", "2"]) == 0
    capsys.readouterr()

    tiny = ["--model", "tiny", "--min-size", "128", "--max-size", "192", "--no-weights-cache"]
    assert main(["train", project, *tiny, "--iterations", "3", "--batch-size", "2"]) == 0
    out = capsys.readouterr()
    assert "model 1: 3 iterations" in out.out
    assert main(["models", project, "--use", "1"]) == 0
    assert main(["evaluate", project, "--model", "1"]) == 0
    assert "model 1:" in capsys.readouterr().out

    results = tmp_path / "masks.json"
    image = images[0]["file_name"]
    assert (
        main(["predict", project, "--image", image, "--box", "10,10,80,60", "--out", str(results)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "trained model 1" in printed
    (mask,) = json.loads(results.read_text())
    assert mask["source"] in ("model",) or mask["source"].startswith("fallback")


def test_heldout_fraction_sets_the_project_setting_the_split_follows(shapes, capsys):
    from sqlalchemy import update

    from pipeline.store import schema as s
    from pipeline.store.database import Project

    with Project.open(shapes) as project, project.write() as conn:
        conn.execute(update(s.images).values(split="train"))
    args = ["train", str(shapes), *TINY, "--iterations", "1", "--no-evaluate"]
    assert main([*args, "--heldout-fraction", "0.5"]) == 0
    assert "(hash 50%)" in capsys.readouterr().err
    with Project.open(shapes) as project:
        assert project.settings().heldout_fraction == 0.5
    assert main([*args, "--heldout-fraction", "1.5"]) == 1
    assert "heldout_fraction must be in [0, 1)" in capsys.readouterr().err

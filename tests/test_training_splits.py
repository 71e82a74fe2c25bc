"""Splits are recorded, not recomputed: a model keeps the held-out images it was
evaluated on (by content), later imports move none of them, content duplicates fall on
one side, and ``evaluate --model`` scores the model's own recorded set."""

from __future__ import annotations

import json
import shutil

import pytest
from training_support import make_shapes, one_thread, shapes_project  # noqa: F401 (fixture)

from app.cli.main import main
from model.training.registry import create_model, model_dir
from model.training.snapshot import HELDOUT, content_keys, record_heldout, take_snapshot
from pipeline.formats import import_lvis

TINY = ["--model", "tiny", "--min-size", "64", "--max-size", "64", "--no-weights-cache"]


def import_more(project, folder, count, split, prefix):
    doc = make_shapes(folder / prefix, count, size=48, seed=7, prefix=prefix)
    path = folder / f"{prefix}.json"
    path.write_text(json.dumps(doc))
    import_lvis(project, path, images_root=folder / prefix, split=split)


def register(project, snapshot):
    """A registered model whose run recorded ``snapshot``'s held-out set."""
    record = create_model(project, name="m", architecture="tiny", category_ids=[1, 2, 3], config={})
    record_heldout(model_dir(project, record.id), snapshot, content_keys(project))
    return record.id


@pytest.fixture
def hashed(tmp_path):
    """A project of train images only: the hash rule holds out 30%."""
    with shapes_project(tmp_path, train=24, val=0, size=48) as project:
        project.update_settings(heldout_fraction=0.3)
        yield project


def test_an_import_moves_no_image_out_of_a_registered_models_held_out_set(hashed, tmp_path):
    before = take_snapshot(hashed)
    held = {im.id for im in before.heldout}
    assert 0 < len(held) < len(before.images)
    register(hashed, before)
    import_more(hashed, tmp_path, 1, "val", "late")  # the project's first val image
    after = take_snapshot(hashed)
    assert held <= {im.id for im in after.heldout}
    assert len(after.heldout) == len(held) + 1
    assert "held out before" in after.heldout_rule


def test_content_duplicates_fall_on_one_side(tmp_path):
    with shapes_project(tmp_path, train=4, val=0, size=48) as project:
        # The same files imported a second time as val: byte-identical copies.
        shutil.copytree(tmp_path / "train", tmp_path / "again")
        doc = json.loads((tmp_path / "train.json").read_text())
        (tmp_path / "again.json").write_text(json.dumps(doc))
        import_lvis(project, tmp_path / "again.json", images_root=tmp_path / "again", split="val")
        snapshot = take_snapshot(project)
        keys = content_keys(project)
    sides: dict[str, set[str]] = {}
    for image in snapshot.images:
        sides.setdefault(keys[image.id], set()).add(image.split)
    assert len(sides) == 4 and all(len(s) == 1 for s in sides.values())
    assert all(s == {HELDOUT} for s in sides.values())  # a held-out copy takes the others


def test_evaluate_model_scores_the_recorded_set_after_the_fraction_changes(tmp_path, capsys):
    with shapes_project(tmp_path, train=16, val=0, size=48) as project:
        folder = project.folder
    args = ["train", str(folder), *TINY, "--iterations", "1", "--heldout-fraction", "0.1"]
    assert main([*args, "--no-evaluate"]) == 0
    recorded = json.loads((folder / "models" / "1" / "heldout.json").read_text())
    ids = sorted(entry["image_id"] for entry in recorded["images"])
    assert ids
    from pipeline.store.database import Project

    with Project.open(folder) as project:  # what train --heldout-fraction 0.6 sets
        project.update_settings(heldout_fraction=0.6)
        now = sorted(im.id for im in take_snapshot(project).heldout)
    assert now != ids
    capsys.readouterr()
    assert main(["evaluate", str(folder), "--model", "1"]) == 0
    out = capsys.readouterr().out
    assert "recorded with model 1" in out
    assert main(["evaluate", str(folder), "--model", "1", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["images"] == len(ids)
    assert f"the {len(ids)} held-out images recorded with model 1" == metrics["heldout_rule"]

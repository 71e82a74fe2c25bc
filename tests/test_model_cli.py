"""``longtail predict`` and ``longtail weights`` end to end (in-process, offline)."""

from __future__ import annotations

import json
import urllib.error

import numpy as np
import pytest
import torch
from cli_support import run
from PIL import Image

from pipeline.formats import exported_ids
from pipeline.images import add_image_folder
from pipeline.masks.geometry import Mask
from pipeline.vocabulary import project_categories


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return folder


@pytest.fixture
def project(coco_project, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    image = np.full((90, 120, 3), (40, 90, 40), np.uint8)
    image[20:70, 30:90] = (230, 60, 50)
    Image.fromarray(image).save(folder / "scene.png")
    add_image_folder(coco_project, folder)
    return coco_project


def test_box_prompt_without_weights_uses_the_fallback_and_says_so(
    project, torch_home, tmp_path, capsys
):
    out_file = tmp_path / "out.json"
    code, out, err = run(
        capsys, "predict", project.folder, "--image", "scene.png", "--box", "25,15,70,60",
        "--out", out_file,
    )  # fmt: skip
    assert code == 0, err
    assert "no weights found" in out and "classical fallback" in out
    (result,) = json.loads(out_file.read_text())
    assert result["category_id"] is None and result["source"].startswith("fallback:")
    mask = Mask.from_rle(result["segmentation"], 90, 120)
    truth = np.zeros((90, 120), np.uint8)
    truth[20:70, 30:90] = 1
    assert mask.iou(Mask.from_bitmap(truth)) > 0.9


def test_point_prompt_with_a_category(project, torch_home, tmp_path, capsys):
    out_file = tmp_path / "out.json"
    code, out, err = run(
        capsys, "predict", project.folder, "--image", "1", "--point", "60,45",
        "--category", "dog", "--out", out_file,
    )  # fmt: skip
    assert code == 0, err
    (result,) = json.loads(out_file.read_text())
    dog = next(c for c in project_categories(project) if c.name == "dog")
    ids = exported_ids(project)  # results carry the export's ids (COCO's 18 for dog)
    assert result["category_id"] == ids.category(dog.id) == 18
    assert result["image_id"] == ids.image(1)


def test_user_errors_are_one_line(project, torch_home, tmp_path, capsys):
    out_file = tmp_path / "out.json"
    code, _, err = run(capsys, "predict", project.folder, "--image", "1", "--out", out_file)
    assert code == 1 and err.count("\n") == 1 and "need trained weights" in err
    code, _, err = run(
        capsys, "predict", project.folder, "--image", "nope.png", "--box", "1,1,5,5",
        "--out", out_file,
    )  # fmt: skip
    assert code == 1 and "not in the project" in err
    code, _, err = run(
        capsys, "predict", project.folder, "--image", "1", "--box", "1,1,5,5",
        "--category", "unicorn", "--out", out_file,
    )  # fmt: skip
    assert code == 1 and "unicorn" in err and err.count("\n") == 1
    assert not out_file.exists()


def test_box_prompt_with_a_cached_coco_checkpoint_uses_the_model(
    project, torch_home, tmp_path, capsys
):
    from model.zoo import build_model

    torch.manual_seed(0)
    state = build_model("r50-fpn-v2", 91).state_dict()
    torch.save(state, torch_home / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth")
    code, out, _ = run(capsys, "weights")
    assert code == 0 and "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth" in out
    assert str(torch_home / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth") in out
    out_file = tmp_path / "out.json"
    code, out, err = run(
        capsys, "predict", project.folder, "--image", "1", "--box", "25,15,70,60",
        "--category", "cat", "--device", "cpu", "--out", out_file,
    )  # fmt: skip
    assert code == 0, err
    assert "coco weights" in out
    (result,) = json.loads(out_file.read_text())
    assert result["source"] in ("model", "fallback:colour", "fallback:grabcut")
    assert result["segmentation"]["size"] == [90, 120]


def test_weights_lists_and_fetch_fails_offline_in_one_line(torch_home, monkeypatch, capsys):
    code, out, _ = run(capsys, "weights")
    assert code == 0 and "no checkpoints found" in out and str(torch_home) in out

    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    code, out, err = run(capsys, "weights", "fetch", "maskrcnn_resnet50_fpn_v2_coco")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "cannot download maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth" in err

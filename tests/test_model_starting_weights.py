"""Starting weights on the inference side (issue 22 item 3): one scoring path, softmax
rows calibrated for sigmoid heads, no random mask channel, foreign checkpoints by name,
and a hint when trained models sit unused."""

from __future__ import annotations

import contextlib
import io
import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from model import weights as W
from model.predictor import Predictor
from model.training.loss import use_federated_heads
from model.zoo import build_model

CATEGORIES = ["cat", "dog", "zebra"]
SIZES = dict(min_size=64, max_size=96)
HEADS = dict(rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20)
TINY = {**SIZES, **HEADS}
CLS = "roi_heads.box_predictor.cls_score."
MASK = "roi_heads.mask_predictor.mask_fcn_logits."


@pytest.fixture(autouse=True)
def no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture(scope="module")
def coco_state():
    """A state dict with the keys and shapes of torchvision's COCO Mask R-CNN v2."""
    torch.manual_seed(1)
    return build_model("r50-fpn-v2", 91, **TINY).state_dict()


def picture() -> np.ndarray:
    image = np.full((48, 64, 3), 30, np.uint8)
    image[12:36, 16:48] = (220, 180, 40)
    return image


def test_a_longtail_checkpoint_passed_as_a_file_scores_with_sigmoids(tmp_path):
    """predict --weights <a longtail checkpoint> scored a sigmoid-trained head with a
    softmax: 1/(K+1) = 0.25 for every class instead of the trained 0.009."""
    torch.manual_seed(0)
    model = build_model("r50-fpn-v2", len(CATEGORIES) + 1, **TINY)
    state = model.state_dict()
    state[CLS + "weight"].zero_()
    state[CLS + "bias"].fill_(math.log(0.009 / 0.991))  # every class at sigmoid 0.009
    file = tmp_path / "model.pt"
    torch.save(
        {"model": state, "architecture": "r50-fpn-v2", "categories": CATEGORIES,
         "heads": "federated-sigmoid"},
        file,
    )  # fmt: skip
    with Predictor.load(
        CATEGORIES, "r50-fpn-v2", file, device="cpu", model_kwargs=HEADS, **SIZES
    ) as p:
        assert p.weights.scoring == W.SIGMOID
        found = p.box_to_mask(picture(), (14, 10, 36, 28), category="dog")
        detections = p.propose(picture(), score_threshold=0.0)
    assert found.score == pytest.approx(0.009, abs=1e-4)
    assert all(d.score <= 0.0091 for d in detections)


def softmax_trained_head(offset: float = 5.0) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """A 91-class head trained with softmax cross-entropy on two clusters of RoI
    features (background, and COCO class 'cat'); every logit started ``offset`` high,
    which softmax training never moves (the common offset has zero gradient)."""
    torch.manual_seed(0)
    head = nn.Linear(1024, 91)
    with torch.no_grad():
        head.weight.normal_(std=0.01)
        head.bias.fill_(offset)
    cat = W.COCO_CLASSES.index("cat")
    centre_bg, centre_cat = torch.randn(1024), torch.randn(1024)
    background = centre_bg + 0.3 * torch.randn(64, 1024)
    cats = centre_cat + 0.3 * torch.randn(64, 1024)
    features = torch.cat([background, cats])
    labels = torch.cat([torch.zeros(64, dtype=torch.long), torch.full((64,), cat)])
    optimiser = torch.optim.SGD(head.parameters(), lr=0.05)
    for _ in range(60):
        optimiser.zero_grad()
        nn.functional.cross_entropy(head(features), labels).backward()
        optimiser.step()
    assert head.bias.mean().item() == pytest.approx(offset, abs=0.05)  # still there
    return head, background, cats


def test_softmax_rows_come_into_a_sigmoid_head_calibrated(tmp_path, coco_state):
    head, background, cats = softmax_trained_head()
    state = dict(coco_state)
    state[CLS + "weight"] = head.weight.detach().clone()
    state[CLS + "bias"] = head.bias.detach().clone()
    file = tmp_path / "coco.pth"
    torch.save(state, file)
    model = use_federated_heads(build_model("r50-fpn-v2", 3, **TINY))  # a training start
    report = W.load_weights(model, "r50-fpn-v2", ["cat", "unicorn"], file)
    assert report.kind == W.COCO and report.trained_rows == (0,)
    layer = model.roi_heads.box_predictor.cls_score
    with torch.no_grad():
        on_background = layer(background)[:, 1].sigmoid()
        on_cats = layer(cats)[:, 1].sigmoid()
        # copied as they were (today's code), the sigmoid reads the common offset
        raw = (head(background)[:, W.COCO_CLASSES.index("cat")]).sigmoid()
        # the softmax's own odds of cat against background
        softmax = head(background).softmax(-1)
        odds = softmax[:, W.COCO_CLASSES.index("cat")] / (
            softmax[:, W.COCO_CLASSES.index("cat")] + softmax[:, 0]
        )
    assert raw.mean() > 0.9  # every background RoI a cat
    assert on_background.mean() < 0.1 and on_cats.mean() > 0.9
    assert torch.allclose(on_background, odds, atol=1e-5)
    # a plain (softmax) model keeps the rows as they are: the softmax cancels the offset
    plain = build_model("r50-fpn-v2", 3, **TINY)
    W.load_weights(plain, "r50-fpn-v2", ["cat", "unicorn"], file)
    assert torch.equal(plain.state_dict()[CLS + "bias"][1], head.bias[W.COCO_CLASSES.index("cat")])


def test_a_category_coco_lacks_gets_the_mean_mask_channel_not_a_random_one(tmp_path, coco_state):
    file = tmp_path / "coco.pth"
    torch.save(coco_state, file)
    with Predictor.load(
        ["cat", "sofa bed"], "r50-fpn-v2", file, device="cpu", model_kwargs=HEADS, **SIZES
    ) as p:
        state = p.model.state_dict()
        real = [i for i, n in enumerate(W.COCO_CLASSES) if i and n != "N/A"]
        for suffix in ("weight", "bias"):
            mean = coco_state[MASK + suffix][real].mean(0)
            assert torch.allclose(state[MASK + suffix][2], mean, atol=1e-6)
            cat = W.COCO_CLASSES.index("cat")
            assert torch.equal(state[MASK + suffix][1], coco_state[MASK + suffix][cat])
        found = p.box_to_mask(picture(), (14, 10, 36, 28), category="sofa bed")
        # its score is the best trained class's (cat's), not its own random row's
        cat_found = p.box_to_mask(picture(), (14, 10, 36, 28), category="cat")
    assert found.category == "sofa bed" and found.score == pytest.approx(cat_found.score)


def _detectron2_pth(path):
    t = torch.zeros(2)
    torch.save(
        {"model": {"backbone.bottom_up.stem.conv1.weight": t,
                   "proposal_generator.rpn_head.conv.weight": t,
                   "roi_heads.box_predictor.cls_score.weight": t},
         "optimizer": {}, "iteration": 90000},
        path,
    )  # fmt: skip


def _detectron2_pkl(path):
    with open(path, "wb") as f:
        pickle.dump(
            {"model": {"backbone.bottom_up.stem.conv1.weight": np.zeros((2, 2), np.float32)},
             "__author__": "Detectron2 Model Zoo", "matching_heuristics": True},
            f, protocol=2,
        )  # fmt: skip


def _mmdet(path):
    t = torch.zeros(2)
    torch.save(
        {"meta": {"mmdet_version": "3.3.0", "epoch": 12},
         "state_dict": {"backbone.conv1.weight": t, "neck.lateral_convs.0.conv.weight": t,
                        "roi_head.bbox_head.fc_cls.weight": t}},
        path,
    )  # fmt: skip


def _sam(path):
    t = torch.zeros(2)
    torch.save(
        {"image_encoder.patch_embed.proj.weight": t, "prompt_encoder.pe_layer.x": t,
         "mask_decoder.iou_token.weight": t},
        path,
    )  # fmt: skip


@pytest.mark.parametrize(
    "write, name, toolkit",
    [
        (_detectron2_pth, "model_final.pth", "detectron2"),
        (_detectron2_pkl, "model_final_f10217.pkl", "detectron2"),
        (_mmdet, "mask_rcnn_r50_fpn_1x_coco.pth", "MMDetection"),
        (_sam, "sam_vit_b_01ec64.pth", "Segment Anything"),
    ],
)
def test_foreign_checkpoints_are_refused_by_name(tmp_path, write, name, toolkit):
    file = tmp_path / name
    write(file)
    model = build_model("r50-fpn-v2", 3, **TINY)
    with pytest.raises(W.WeightsError, match=f"{name} is a {toolkit}") as caught:
        W.load_weights(model, "r50-fpn-v2", ["cat", "dog"], file)
    assert "\n" not in str(caught.value)


def test_trained_models_not_in_use_are_named_with_the_command_that_uses_one(coco_project, tmp_path):
    from app.cli import main
    from model.training.registry import FINISHED, create_model, update_model
    from pipeline.images import add_image_folder

    folder = tmp_path / "images"
    folder.mkdir()
    from PIL import Image

    Image.fromarray(picture()).save(folder / "scene.png")
    add_image_folder(coco_project, folder)
    for name in ("first", "second"):
        record = create_model(
            coco_project, name=name, architecture="r50-fpn-v2", category_ids=[1], config={}
        )
        update_model(
            coco_project, record.id, status=FINISHED, checkpoint=f"models/{record.id}/c.pt"
        )
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            ["predict", str(coco_project.folder), "--image", "scene.png", "--box", "14,10,36,28",
             "--out", str(tmp_path / "out.json")]
        )  # fmt: skip
    assert code == 0, err.getvalue()
    text = out.getvalue()
    assert "2 trained models (1, 2) but none is in use" in text
    assert f"longtail models {coco_project.folder} --use 2" in text
    # whole-image proposals are refused with the same hint
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            ["predict", str(coco_project.folder), "--image", "scene.png",
             "--out", str(tmp_path / "out.json")]
        )  # fmt: skip
    assert code != 0 and "--use 2" in err.getvalue()


def test_the_apps_prompt_predictor_carries_the_unused_models_hint(coco_project):
    from model.registry import project_predictor
    from model.training.registry import FINISHED, create_model, update_model

    assert project_predictor(coco_project, prompts_only=True).weights.note == ""
    record = create_model(
        coco_project, name="m", architecture="r50-fpn-v2", category_ids=[1], config={}
    )
    update_model(coco_project, record.id, status=FINISHED, checkpoint=f"models/{record.id}/c.pt")
    predictor = project_predictor(coco_project, prompts_only=True)  # the GUI worker's call
    assert f"--use {record.id}" in predictor.weights.note
    assert f"--use {record.id}" in predictor.weights.summary()

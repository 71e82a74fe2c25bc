"""model.zoo: both architectures build, run on a tiny image, and keep torchvision's layout."""

from __future__ import annotations

import pytest
import torch

from model.zoo import ARCHITECTURES, ClassAgnosticMaskPredictor, build_model, is_class_agnostic
from pipeline.errors import LongtailError

TINY = dict(
    min_size=64,
    max_size=96,
    rpn_pre_nms_top_n_test=50,
    rpn_post_nms_top_n_test=20,
    box_detections_per_img=5,
    rpn_pre_nms_top_n_train=50,
    rpn_post_nms_top_n_train=20,
    rpn_batch_size_per_image=16,
    box_batch_size_per_image=8,
)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_each_architecture_runs_on_a_small_image(name):
    torch.manual_seed(0)
    model = build_model(name, 4, **TINY).eval()
    assert model.roi_heads.box_predictor.cls_score.out_features == 4
    with torch.inference_mode():
        (out,) = model([torch.rand(3, 48, 64)])
    assert out["masks"].shape[1:] == (1, 48, 64)
    assert out["boxes"].shape[0] == out["masks"].shape[0] <= 5


def test_r50_has_torchvision_v2_keys_and_shapes():
    from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

    ours = build_model("r50-fpn-v2", 91).state_dict()
    theirs = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in theirs)


def test_swin_backbone_gives_a_256_channel_pyramid():
    model = build_model("swin-t", 2, **TINY).eval()
    with torch.inference_mode():
        maps = model.backbone(torch.rand(1, 3, 64, 96))
    assert list(maps) == ["0", "1", "2", "3", "pool"]
    assert [tuple(m.shape[-2:]) for m in list(maps.values())[:4]] == [
        (16, 24),
        (8, 12),
        (4, 6),
        (2, 3),
    ]
    assert all(m.shape[1] == 256 for m in maps.values())
    # The trunk keeps the classifier's key names, so ImageNet weights load as they are.
    assert "body.features.0.0.weight" in model.backbone.state_dict()


def test_class_agnostic_mask_head_trains_and_infers():
    torch.manual_seed(0)
    model = build_model("r50-fpn-v2", 5, class_agnostic_masks=True, **TINY)
    assert is_class_agnostic(model)
    predictor = model.roi_heads.mask_predictor
    assert isinstance(predictor, ClassAgnosticMaskPredictor)
    assert predictor.mask_fcn_logits.out_channels == 1
    masks = torch.zeros(1, 48, 64, dtype=torch.uint8)
    masks[0, 10:30, 10:40] = 1
    target = {
        "boxes": torch.tensor([[10.0, 10.0, 40.0, 30.0]]),
        "labels": torch.tensor([3]),
        "masks": masks,
    }
    model.train()
    losses = model([torch.rand(3, 48, 64)], [target])
    losses["loss_mask"].backward()
    assert predictor.mask_fcn_logits.weight.grad is not None
    model.eval()
    with torch.inference_mode():
        (out,) = model([torch.rand(3, 48, 64)])
    assert out["masks"].shape[1:] == (1, 48, 64)


def test_unknown_architecture_and_empty_vocabulary_are_user_errors():
    with pytest.raises(LongtailError, match="unknown model 'yolo'"):
        build_model("yolo", 3)
    with pytest.raises(LongtailError, match="at least one category"):
        build_model("r50-fpn-v2", 1)

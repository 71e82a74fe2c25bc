"""Starting weights: only BatchNorm layers with pretrained statistics are frozen; the
repeat-factor threshold does something on a small project."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from training_support import one_thread, shapes_project  # noqa: F401 (autouse)

from model.training.config import TrainConfig
from model.training.loop import START_IMAGENET, train
from model.training.registry import get_model
from model.training.sampler import image_repeat_factors


def imagenet_file(tmp_path):
    """A ResNet-50 classifier whose BatchNorm layers hold trained-looking statistics."""
    from torchvision.models import resnet50

    torch.manual_seed(3)
    classifier = resnet50()
    for module in classifier.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "resnet50.pth"
    torch.save(classifier.state_dict(), path)
    return path


@pytest.mark.slow
def test_an_imagenet_start_freezes_the_backbone_statistics_and_lets_fpn_and_heads_learn(tmp_path):
    path = imagenet_file(tmp_path)
    with shapes_project(tmp_path, train=4, val=1, size=64) as project:
        config = TrainConfig(
            architecture="r50-fpn-v2",
            iterations=1,
            batch_size=2,
            min_size=64,
            max_size=64,
            scale_jitter=False,
            weights=str(path),
            evaluate=False,
            lr=0.001,
            warmup_iterations=0,
        )
        result = train(project, config)
        assert result.weights == START_IMAGENET
        record = get_model(project, result.model_id)
        frozen = record.config["frozen_batch_norms"]
        state = torch.load(record.checkpoint_path(project), weights_only=True)["model"]
    assert frozen and all(name.startswith("backbone.body.") for name in frozen)
    source = torch.load(path, weights_only=True)
    # the backbone kept the statistics it came with ...
    for name in frozen:
        key = name.removeprefix("backbone.body.") + ".running_mean"
        assert torch.equal(state[f"{name}.running_mean"], source[key]), name
    # ... while the randomly initialised FPN and head layers learnt theirs (not 0 / 1)
    others = [
        key.removesuffix(".running_mean")
        for key in state
        if key.endswith(".running_mean") and not key.startswith("backbone.body.")
    ]
    assert len(others) >= 16
    for name in others:
        assert not torch.all(state[f"{name}.running_mean"] == 0), name


def test_the_default_repeat_threshold_repeats_rare_categories_of_a_small_project():
    # 100 train images: a category in 2 of them, another in all.
    images = [[1, 2] if i < 2 else [1] for i in range(100)]
    config = TrainConfig()
    assert config.rfs_threshold_for(100) == 0.1
    factors = image_repeat_factors(images, config.rfs_threshold_for(100))
    assert factors[0].item() > 2.0  # sqrt(0.1 / 0.02) = 2.24
    assert factors[50].item() == 1.0
    # LVIS's 0.001 from 10,000 images on; it repeated nothing on this project
    assert config.rfs_threshold_for(20_000) == 0.001
    assert image_repeat_factors(images, 0.001).max().item() == 1.0
    assert TrainConfig(rfs_threshold=0.0).rfs_threshold_for(100) == 0.0

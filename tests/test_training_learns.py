"""A tiny Mask R-CNN learns: synthetic coloured shapes, mask AP on held-out shapes > 0.5.

The most expensive training test (about a minute on two CPU cores): 32 train images of
64 px with red squares, blue discs and green triangles, 100 steps of the ``tiny``
architecture from scratch with the federated loss and repeat-factor sampling, then our
evaluator on 10 held-out images.
"""

from __future__ import annotations

import pytest
import torch
from training_support import shapes_project

from model.training.config import TrainConfig
from model.training.loop import train


@pytest.mark.slow
def test_a_tiny_model_learns_masks_of_shapes_it_has_not_seen(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on two busy shared cores spin against each other
    try:
        with shapes_project(tmp_path, train=32, val=10, size=64) as project:
            config = TrainConfig(
                architecture="tiny",
                iterations=100,
                batch_size=4,
                lr=0.02,
                warmup_iterations=10,
                min_size=64,
                max_size=64,
                scale_jitter=False,
                checkpoint_every=1000,
                use_weights_cache=False,
                seed=0,
            )
            result = train(project, config)
    finally:
        torch.set_num_threads(threads)
    losses = [x["loss"] for x in result.losses]
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    segm = result.metrics["coco"]["segm"]
    assert result.metrics["images"] == 10
    assert segm["AP"] > 0.5, result.metrics
    assert result.metrics["lvis"]["segm"]["AP"] > 0.5

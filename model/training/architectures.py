"""The architectures training can build: the zoo's, plus ``tiny`` for tests and demos.

``tiny`` is a Mask R-CNN on a one-block-per-stage ResNet with a 64-channel FPN and
slim heads (about 5 M parameters, a twentieth of R50-FPN v2): it trains from scratch
on small images in a minute on a CPU, which is what the tests and a first look at a
new project need. It has no published weights; it always starts from scratch.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, RPNHead, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from pipeline.errors import LongtailError

from ..names import TINY
from ..zoo import ARCHITECTURES, build_model

TINY_CHANNELS = 64
TINY_MASK_CHANNELS = 32  # the mask head runs on every positive RoI: keep it slim


def build_tiny(
    num_classes: int, *, min_size: int = 256, max_size: int = 512, **kwargs: Any
) -> MaskRCNN:
    """A small Mask R-CNN (see the module docstring); keyword arguments go to MaskRCNN."""
    trunk = ResNet(BasicBlock, [1, 1, 1, 1])
    backbone = BackboneWithFPN(
        trunk,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[64, 128, 256, 512],
        out_channels=TINY_CHANNELS,
        extra_blocks=LastLevelMaxPool(),
        norm_layer=nn.BatchNorm2d,
    )
    sizes = ((16,), (32,), (64,), (128,), (256,))
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    options = {
        "rpn_pre_nms_top_n_train": 600,
        "rpn_post_nms_top_n_train": 300,
        "rpn_pre_nms_top_n_test": 300,
        "rpn_post_nms_top_n_test": 100,
        "box_batch_size_per_image": 64,
        **kwargs,
    }
    return MaskRCNN(
        backbone,
        num_classes=None,
        min_size=min_size,
        max_size=max_size,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(TINY_CHANNELS, anchors.num_anchors_per_location()[0]),
        box_head=TwoMLPHead(TINY_CHANNELS * 7 * 7, 256),
        box_predictor=FastRCNNPredictor(256, num_classes),
        mask_head=MaskRCNNHeads(TINY_CHANNELS, [TINY_MASK_CHANNELS, TINY_MASK_CHANNELS], 1),
        mask_predictor=MaskRCNNPredictor(TINY_MASK_CHANNELS, TINY_MASK_CHANNELS, num_classes),
        **options,
    )


TRAINABLE = (*ARCHITECTURES, TINY)


def build_for_training(
    name: str, num_classes: int, *, min_size: int = 800, max_size: int = 1333
) -> MaskRCNN:
    """A randomly initialised model of architecture ``name`` (a zoo name or ``tiny``)."""
    if name == TINY:
        if num_classes < 2:
            raise LongtailError("a model needs at least one category (num_classes >= 2)")
        return build_tiny(num_classes, min_size=min_size, max_size=max_size)
    if name not in ARCHITECTURES:
        raise LongtailError(f"unknown model {name!r}; choose one of {', '.join(TRAINABLE)}")
    return build_model(name, num_classes, min_size=min_size, max_size=max_size)

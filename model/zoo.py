"""The model zoo: Mask R-CNN with a ResNet-50-FPN v2 or a Swin-T + FPN backbone.

A small table of builders (:data:`ARCHITECTURES`), each a plain function returning a
torchvision :class:`~torchvision.models.detection.MaskRCNN` with random weights;
:mod:`model.weights` fills them in. Both share torchvision's v2 heads (a two-conv RPN
head, a four-conv + FC box head and a four-conv mask head, batch norm), so a model's
heads read the same whatever its backbone.

``num_classes`` counts the background, as torchvision does: a project with K
categories has ``K + 1`` classes and category ``i`` (0-based) is class ``i + 1``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn
from torchvision.models import swin_t
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, RPNHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator
from torchvision.models.resnet import resnet50
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

from pipeline.errors import LongtailError

from .names import DEFAULT_ARCHITECTURE, R50_FPN_V2, SWIN_T

FPN_CHANNELS = 256


@dataclass(frozen=True)
class Architecture:
    """One entry of the zoo: how to build it and which checkpoints can start it."""

    name: str
    description: str
    build: Callable[..., MaskRCNN]
    coco_checkpoint: str | None  # key of model.weights.KNOWN: a whole COCO Mask R-CNN
    backbone_checkpoint: str  # key of model.weights.KNOWN: the ImageNet classifier


# ---------------------------------------------------------------- class-agnostic masks


class ClassAgnosticMaskPredictor(MaskRCNNPredictor):
    """One mask channel shared by every class, seen by torchvision as ``num_classes``.

    A subclass of torchvision's predictor (same layers, same state-dict keys; only
    ``mask_fcn_logits`` has one output) instead of a new RoI head: the single channel
    is expanded (a view, no copy) to ``num_classes`` channels, so torchvision's mask
    loss and inference, which pick the channel of each RoI's label, work unchanged.
    """

    def __init__(self, in_channels: int, dim_reduced: int, num_classes: int) -> None:
        super().__init__(in_channels, dim_reduced, 1)
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = super().forward(x)
        return logits.expand(-1, self.num_classes, -1, -1)


def is_class_agnostic(model: MaskRCNN) -> bool:
    return isinstance(model.roi_heads.mask_predictor, ClassAgnosticMaskPredictor)


# ---------------------------------------------------------------- Swin-T + FPN


class SwinFeatures(nn.Module):
    """torchvision ``swin_t`` stages 1-4 as a feature pyramid body.

    ``features`` is the classifier's ``features`` (patch embedding, four stages and the
    patch mergings between them; its state-dict keys are the classifier's). The
    outputs of blocks 1, 3, 5 and 7 (strides 4, 8, 16, 32; 96/192/384/768 channels,
    channels-last) each get a LayerNorm and turn channels-first.
    """

    LEVELS = (1, 3, 5, 7)
    CHANNELS = (96, 192, 384, 768)

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features
        self.norms = nn.ModuleList(nn.LayerNorm(c) for c in self.CHANNELS)

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        out: OrderedDict[str, Tensor] = OrderedDict()
        level = 0
        for index, block in enumerate(self.features):
            x = block(x)
            if index in self.LEVELS:
                out[str(level)] = self.norms[level](x).permute(0, 3, 1, 2).contiguous()
                level += 1
        return out


class SwinFPN(nn.Module):
    """Swin-T body + FeaturePyramidNetwork (96/192/384/768 -> 256, plus a pooled level)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = SwinFeatures(swin_t(weights=None).features)
        self.fpn = FeaturePyramidNetwork(
            list(SwinFeatures.CHANNELS), FPN_CHANNELS, extra_blocks=LastLevelMaxPool()
        )
        self.out_channels = FPN_CHANNELS

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        maps: OrderedDict[str, Tensor] = self.fpn(self.body(x))
        return maps


# ---------------------------------------------------------------- builders


def _anchors() -> AnchorGenerator:
    sizes = ((32,), (64,), (128,), (256,), (512,))
    return AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))


def _mask_rcnn(
    backbone: nn.Module, num_classes: int, class_agnostic_masks: bool, **kwargs: Any
) -> MaskRCNN:
    """torchvision's v2 heads on any 256-channel FPN backbone."""
    anchors = _anchors()
    channels = backbone.out_channels
    model = MaskRCNN(
        backbone,
        num_classes=num_classes,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(channels, anchors.num_anchors_per_location()[0], conv_depth=2),
        box_head=FastRCNNConvFCHead(
            (channels, 7, 7), [256, 256, 256, 256], [1024], norm_layer=nn.BatchNorm2d
        ),
        mask_head=MaskRCNNHeads(channels, [256, 256, 256, 256], 1, norm_layer=nn.BatchNorm2d),
        **kwargs,
    )
    if class_agnostic_masks:
        model.roi_heads.mask_predictor = ClassAgnosticMaskPredictor(256, 256, num_classes)
    return model


def build_r50_fpn_v2(
    num_classes: int, *, class_agnostic_masks: bool = False, **kwargs: Any
) -> MaskRCNN:
    """torchvision's ``maskrcnn_resnet50_fpn_v2`` layout (same state-dict keys and shapes)."""
    # Batch norm everywhere, all layers trainable: the v2 recipe. Random weights here.
    backbone = _resnet_fpn_extractor(resnet50(weights=None), 5, norm_layer=nn.BatchNorm2d)
    return _mask_rcnn(backbone, num_classes, class_agnostic_masks, **kwargs)


def build_swin_t(
    num_classes: int, *, class_agnostic_masks: bool = False, **kwargs: Any
) -> MaskRCNN:
    """Mask R-CNN on Swin-T + FPN, with the same heads as the ResNet model."""
    return _mask_rcnn(SwinFPN(), num_classes, class_agnostic_masks, **kwargs)


ARCHITECTURES: dict[str, Architecture] = {
    R50_FPN_V2: Architecture(
        R50_FPN_V2,
        "Mask R-CNN, ResNet-50-FPN v2 (torchvision)",
        build_r50_fpn_v2,
        coco_checkpoint="maskrcnn_resnet50_fpn_v2_coco",
        backbone_checkpoint="resnet50_imagenet",
    ),
    SWIN_T: Architecture(
        SWIN_T,
        "Mask R-CNN, Swin-T + FPN",
        build_swin_t,
        coco_checkpoint=None,
        backbone_checkpoint="swin_t_imagenet",
    ),
}


def architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(ARCHITECTURES)
        raise LongtailError(f"unknown model {name!r}; choose one of {known}") from None


def build_model(
    name: str,
    num_classes: int,
    *,
    class_agnostic_masks: bool = False,
    min_size: int = 800,
    max_size: int = 1333,
    **kwargs: Any,
) -> MaskRCNN:
    """A randomly initialised Mask R-CNN of architecture ``name`` (see :data:`ARCHITECTURES`).

    ``num_classes`` includes the background. ``min_size``/``max_size`` are the resize
    bounds of torchvision's transform; other keyword arguments go to ``MaskRCNN``.
    """
    if num_classes < 2:
        raise LongtailError("a model needs at least one category (num_classes >= 2)")
    return architecture(name).build(
        num_classes,
        class_agnostic_masks=class_agnostic_masks,
        min_size=min_size,
        max_size=max_size,
        **kwargs,
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "ARCHITECTURES",
    "DEFAULT_ARCHITECTURE",
    "Architecture",
    "ClassAgnosticMaskPredictor",
    "SwinFPN",
    "SwinFeatures",
    "architecture",
    "build_model",
    "count_parameters",
    "is_class_agnostic",
]

"""Sigmoid classification with the federated loss, over torchvision's ``RoIHeads``.

LVIS is labelled federatedly: for an image, only some categories are known present
(P), some known absent (N), and the rest were never asked. A softmax over every class
would punish the model for every unasked category; the federated loss (Zhou et al.
2021, "Probabilistic two-stage detection"; detectron2's ``use_fed_loss``) uses one
sigmoid per class instead and, each iteration, trains only a subset of the classes:

- the classes present in the batch (the images' positives);
- every verified negative of the batch's images (always included);
- further classes sampled with weight ``image_count ** 0.5`` until the subset holds
  ``num_classes`` (50) classes; those are negatives only where we believe them absent.

Per image, each class has a :class:`ClassState` telling whether a region that is not
an instance of it may be punished for scoring it:

- ``VERIFIED_NEGATIVE``: verified absent (N_c) -> yes, and always in the subset;
- ``MAY_PUNISH``: an exhaustive positive (every instance is annotated), or a category
  nobody spotted in an image whose spotting finished (a "likely negative") -> yes;
- ``NOT_EXHAUSTIVE``: a positive answered "some are missing", or a *pending* pair (an
  instance still being segmented; :func:`pipeline.federated.pair_state`) -> never as a
  false positive (a background region may be a missing instance); its accepted
  instances still train;
- ``UNVERIFIED``: spotted, confirmed but not accepted, rejected, or an image whose
  spotting is unfinished -> neither positive nor negative: no gradient.

Built by composition: :class:`FederatedRoIHeads` subclasses torchvision's ``RoIHeads``,
keeps its forward pass, sampling, box regression and mask loss, and only replaces the
classification loss (and, for inference, softmax scores by sigmoid scores). The
state-dict keys are torchvision's, so weights move freely between the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import IntEnum
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import boxes as box_ops

FED_LOSS_CLASSES = 50
FREQ_WEIGHT_POWER = 0.5
PRIOR_PROBABILITY = 0.01  # the initial sigmoid score of a class (RetinaNet / detectron2)


class ClassState(IntEnum):
    """How one (image, class) pair may be trained; see the module docstring."""

    UNVERIFIED = 0
    MAY_PUNISH = 1
    NOT_EXHAUSTIVE = 2
    VERIFIED_NEGATIVE = 3


def fed_loss_classes(
    present: Tensor,
    always: Tensor,
    class_weights: Tensor,
    num_classes: int = FED_LOSS_CLASSES,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The classes (1-based) the loss covers this iteration.

    ``present`` and ``always`` (verified negatives) are class indices; more are drawn
    without replacement from ``class_weights`` (size K + 1, index 0 = background, never
    drawn) until ``num_classes`` are chosen, or the weights run out.
    """
    chosen: Tensor = torch.unique(torch.cat([present, always]).long())
    chosen = chosen[chosen > 0]
    missing = num_classes - chosen.numel()
    if missing <= 0:
        return chosen
    prob = class_weights.detach().float().clone().cpu()
    prob[0] = 0.0
    prob[chosen.cpu()] = 0.0
    available = int((prob > 0).sum())
    if available == 0:
        return chosen
    drawn = torch.multinomial(prob, min(missing, available), replacement=False, generator=generator)
    return torch.cat([chosen, drawn.to(chosen.device)]).sort().values


def federated_loss(
    class_logits: Tensor,
    labels: Tensor,
    image_of_roi: Tensor,
    states: Tensor,
    loss_classes: Tensor,
) -> Tensor:
    """Sigmoid cross-entropy over ``loss_classes`` with the per-image federated masks.

    ``class_logits`` (R, K + 1) and ``labels`` (R,; 0 = background) are the sampled RoIs;
    ``image_of_roi`` (R,) the batch index of each RoI's image; ``states`` (B, K + 1) the
    :class:`ClassState` of each image's classes. Normalised by R, as detectron2 does.
    The background column is not trained (a sigmoid head has no background class).
    """
    rois, width = class_logits.shape
    if rois == 0:
        return class_logits.sum() * 0.0
    logits = class_logits.float()
    target = torch.zeros_like(logits)
    target[torch.arange(rois, device=logits.device), labels] = 1.0
    in_subset = torch.zeros(width, dtype=torch.bool, device=logits.device)
    in_subset[loss_classes.to(logits.device)] = True
    in_subset[0] = False
    roi_states = states.to(logits.device)[image_of_roi]  # (R, K + 1)
    may_punish = (roi_states == ClassState.MAY_PUNISH) | (
        roi_states == ClassState.VERIFIED_NEGATIVE
    )
    # A positive target always trains; a negative one only where the image allows it.
    weight = in_subset.unsqueeze(0) & ((target > 0) | may_punish)
    weight[:, 0] = False
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (loss * weight).sum() / rois


class FederatedRoIHeads(RoIHeads):
    """torchvision's ``RoIHeads`` with a federated sigmoid classification loss.

    Targets carry ``fed_states`` (a LongTensor of size K + 1 of :class:`ClassState`)
    besides torchvision's boxes, labels and masks. ``class_weights`` (K + 1; the
    training images per class ** 0.5) weigh the sampled negatives.
    """

    sigmoid_scores = True  # class probabilities are sigmoids (the Predictor reads this)

    def __init__(
        self,
        *args: Any,
        fed_loss_num_classes: int = FED_LOSS_CLASSES,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fed_loss_num_classes = fed_loss_num_classes
        self.class_weights: Tensor | None = None
        self._sampled_labels: list[Tensor] | None = None
        self._class_logits: Tensor | None = None
        self.last_loss_classes: Tensor | None = None  # for tests and logging
        self.box_predictor.register_forward_hook(self._keep_class_logits)

    @classmethod
    def from_heads(cls, heads: RoIHeads, **kwargs: Any) -> FederatedRoIHeads:
        """The same modules and settings as ``heads``, with the federated loss."""
        return cls(
            heads.box_roi_pool,
            heads.box_head,
            heads.box_predictor,
            heads.proposal_matcher.high_threshold,
            heads.proposal_matcher.low_threshold,
            heads.fg_bg_sampler.batch_size_per_image,
            heads.fg_bg_sampler.positive_fraction,
            heads.box_coder.weights,
            heads.score_thresh,
            heads.nms_thresh,
            heads.detections_per_img,
            heads.mask_roi_pool,
            heads.mask_head,
            heads.mask_predictor,
            **kwargs,
        )

    # -------------------------------------------------------- what the loss needs

    def _keep_class_logits(
        self, _module: nn.Module, _inputs: object, output: tuple[Tensor, Tensor]
    ) -> None:
        if self.training:
            self._class_logits = output[0]  # (class_logits, box_regression)

    def select_training_samples(self, proposals: Any, targets: Any) -> Any:  # torchvision's
        out = super().select_training_samples(proposals, targets)
        self._sampled_labels = out[2]
        return out

    # -------------------------------------------------------- the loss

    def forward(
        self, features: Any, proposals: Any, image_shapes: Any, targets: Any = None
    ) -> Any:  # torchvision's signature
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        self._class_logits, self._sampled_labels = None, None
        result, losses = super().forward(features, proposals, image_shapes, targets)
        if self._class_logits is None or self._sampled_labels is None:  # pragma: no cover
            raise RuntimeError("the box predictor did not run")
        losses["loss_classifier"] = self.classification_loss(
            self._class_logits, self._sampled_labels, targets
        )
        self._class_logits, self._sampled_labels = None, None
        return result, losses

    def classification_loss(
        self, class_logits: Tensor, labels: Sequence[Tensor], targets: Sequence[dict]
    ) -> Tensor:
        """The federated loss of one batch (replaces torchvision's softmax cross-entropy)."""
        width = class_logits.shape[1]
        device = class_logits.device
        states = torch.stack([_states_of(t, width, device) for t in targets])  # (B, K + 1)
        image_of_roi = torch.cat(
            [
                torch.full((len(x),), i, dtype=torch.long, device=device)
                for i, x in enumerate(labels)
            ]
        )
        flat_labels = torch.cat(list(labels))
        present = torch.cat([t["labels"] for t in targets]).to(device)
        always = torch.nonzero(states == ClassState.VERIFIED_NEGATIVE)[:, 1]
        weights = self.class_weights
        if weights is None or weights.numel() != width:
            weights = torch.ones(width)
        classes = fed_loss_classes(present, always, weights, self.fed_loss_num_classes)
        self.last_loss_classes = classes
        return federated_loss(class_logits, flat_labels, image_of_roi, states, classes)

    # -------------------------------------------------------- inference

    def postprocess_detections(
        self, class_logits: Tensor, box_regression: Tensor, proposals: Any, image_shapes: Any
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """torchvision's post-processing with one sigmoid per class instead of a softmax."""
        num_classes = class_logits.shape[-1]
        boxes_per_image = [len(p) for p in proposals]
        pred_boxes = self.box_coder.decode(box_regression, proposals)
        pred_scores = torch.sigmoid(class_logits.float())
        out_boxes: list[Tensor] = []
        out_scores: list[Tensor] = []
        out_labels: list[Tensor] = []
        for boxes, scores, shape in zip(
            pred_boxes.split(boxes_per_image, 0),
            pred_scores.split(boxes_per_image, 0),
            image_shapes,
            strict=True,
        ):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            labels = torch.arange(num_classes, device=boxes.device).view(1, -1).expand_as(scores)
            boxes = boxes[:, 1:].reshape(-1, 4)
            scores = scores[:, 1:].reshape(-1)
            labels = labels[:, 1:].reshape(-1)
            keep = torch.where(scores > self.score_thresh)[0]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.batched_nms(boxes, scores, labels, self.nms_thresh)[
                : self.detections_per_img
            ]
            out_boxes.append(boxes[keep])
            out_scores.append(scores[keep])
            out_labels.append(labels[keep])
        return out_boxes, out_scores, out_labels


def _states_of(target: dict, width: int, device: torch.device) -> Tensor:
    states = target.get("fed_states")
    if states is None:
        # No federated labels given: an exhaustively labelled image (COCO-style).
        return torch.full((width,), int(ClassState.MAY_PUNISH), dtype=torch.long, device=device)
    if states.numel() != width:
        raise ValueError(f"fed_states has {states.numel()} entries, the head has {width} classes")
    moved: Tensor = states.to(device=device, dtype=torch.long)
    return moved


def use_federated_heads(model: MaskRCNN, **kwargs: Any) -> MaskRCNN:
    """Give ``model`` the federated sigmoid heads (in place; same parameters)."""
    if not isinstance(model.roi_heads, FederatedRoIHeads):
        model.roi_heads = FederatedRoIHeads.from_heads(model.roi_heads, **kwargs)
    return model


def init_sigmoid_classifier(model: MaskRCNN, rows: Sequence[int] | None = None) -> None:
    """Start the class scores at :data:`PRIOR_PROBABILITY` (the given rows, else all), so
    that the first iterations are not swamped by every class's negatives."""
    layer = model.roi_heads.box_predictor.cls_score
    bias = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
    with torch.no_grad():
        if rows is None:
            nn.init.normal_(layer.weight, std=0.01)
            layer.bias.fill_(bias)
        else:
            for row in rows:
                nn.init.normal_(layer.weight[row], std=0.01)
                layer.bias[row] = bias


def class_weights(image_counts: Sequence[int], power: float = FREQ_WEIGHT_POWER) -> Tensor:
    """``image_count ** power`` per class, background (index 0) first and zero."""
    counts = torch.tensor([0, *image_counts], dtype=torch.float32)
    return counts.pow(power)

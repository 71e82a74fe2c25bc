"""model.training.loss: the federated sigmoid loss, by hand and through a real RoI head."""

from __future__ import annotations

import math

import pytest
import torch

from model.training.architectures import build_tiny
from model.training.loss import (
    ClassState,
    FederatedRoIHeads,
    class_weights,
    fed_loss_classes,
    federated_loss,
    init_sigmoid_classifier,
    use_federated_heads,
)

U, MAY, NE, VN = (
    ClassState.UNVERIFIED,
    ClassState.MAY_PUNISH,
    ClassState.NOT_EXHAUSTIVE,
    ClassState.VERIFIED_NEGATIVE,
)


def bce(x: float, y: float) -> float:
    p = 1 / (1 + math.exp(-x))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def tiny_batch():
    # Three RoIs: image 0 holds the first two, image 1 the third; classes 1..3.
    logits = torch.tensor(
        [[0.3, 1.2, -0.4, 0.7], [-1.0, 0.5, 2.0, -0.3], [0.2, -0.8, 0.9, 1.5]],
        requires_grad=True,
    )
    labels = torch.tensor([1, 0, 2])
    image_of_roi = torch.tensor([0, 0, 1])
    states = torch.tensor(
        [
            [U, MAY, NE, VN],  # image 0: 1 exhaustive positive, 2 not exhaustive, 3 absent
            [U, U, MAY, MAY],  # image 1: 1 unverified, 2 positive, 3 likely negative
        ]
    )
    return logits, labels, image_of_roi, states


def test_federated_loss_equals_a_hand_computation():
    logits, labels, image_of_roi, states = tiny_batch()
    loss = federated_loss(logits, labels, image_of_roi, states, torch.tensor([1, 2, 3]))
    x = logits.detach().tolist()
    expected = (
        # RoI 0 (image 0, class 1): 1 positive; 2 not exhaustive (skipped); 3 verified absent
        bce(x[0][1], 1)
        + bce(x[0][3], 0)
        # RoI 1 (image 0, background): 1 exhaustive -> negative; 2 skipped; 3 negative
        + bce(x[1][1], 0)
        + bce(x[1][3], 0)
        # RoI 2 (image 1, class 2): 1 unverified (skipped); 2 positive; 3 likely negative
        + bce(x[2][2], 1)
        + bce(x[2][3], 0)
    ) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_only_the_chosen_classes_are_trained():
    logits, labels, image_of_roi, states = tiny_batch()
    loss = federated_loss(logits, labels, image_of_roi, states, torch.tensor([2]))
    x = logits.detach().tolist()
    assert loss.item() == pytest.approx(bce(x[2][2], 1) / 3, rel=1e-6)


def test_not_exhaustive_and_unverified_classes_get_no_negative_gradient():
    logits, labels, image_of_roi, states = tiny_batch()
    federated_loss(logits, labels, image_of_roi, states, torch.tensor([1, 2, 3])).backward()
    grad = logits.grad
    # not exhaustive in image 0: neither its instance-free RoIs (0: class 1, 1: background)
    assert grad[0, 2] == 0 and grad[1, 2] == 0
    # unverified in image 1
    assert grad[2, 1] == 0
    # the background column is not a class of a sigmoid head
    assert (grad[:, 0] == 0).all()
    # verified and likely negatives, exhaustive positives: pushed down (sigmoid - 0 > 0)
    assert grad[0, 3] > 0 and grad[1, 1] > 0 and grad[1, 3] > 0 and grad[2, 3] > 0
    # positives: pulled up
    assert grad[0, 1] < 0 and grad[2, 2] < 0


def test_the_loss_classes_hold_the_batch_positives_every_verified_negative_and_samples():
    weights = class_weights([100] * 80)
    present, always = torch.tensor([3, 3, 7]), torch.tensor([60, 61])
    chosen = fed_loss_classes(present, always, weights, 50)
    assert len(chosen) == 50 and len(set(chosen.tolist())) == 50
    assert {3, 7, 60, 61} <= set(chosen.tolist())
    assert 0 not in chosen.tolist()


def test_never_sampled_a_class_with_no_training_images():
    counts = [0] * 40 + [9] * 40  # classes 1-40 were never seen in training
    chosen = fed_loss_classes(
        torch.tensor([50]), torch.tensor([], dtype=torch.long), class_weights(counts), 50
    )
    assert len(chosen) == 40  # class 50 (present) and the 39 others with images
    assert all(c > 40 for c in chosen.tolist())


def test_the_verified_negatives_are_kept_even_beyond_the_class_budget():
    chosen = fed_loss_classes(
        torch.arange(1, 40), torch.arange(40, 61), class_weights([1] * 80), num_classes=50
    )
    assert chosen.tolist() == list(range(1, 61))


def test_sampled_negatives_follow_the_square_root_of_image_counts():
    # Class 1 has 100x the images of class 2: drawn about 10x as often (sqrt).
    weights = class_weights([10000, 100] + [0] * 8)
    draws = [
        fed_loss_classes(
            torch.tensor([], dtype=torch.long),
            torch.tensor([], dtype=torch.long),
            weights,
            1,
            torch.Generator().manual_seed(i),
        ).item()
        for i in range(400)
    ]
    ratio = draws.count(1) / max(1, draws.count(2))
    assert 6 < ratio < 16


# ---------------------------------------------------------------- through torchvision's heads


def tiny_model(num_classes: int = 5):
    torch.manual_seed(0)
    model = use_federated_heads(build_tiny(num_classes, min_size=64, max_size=64))
    init_sigmoid_classifier(model)
    model.roi_heads.class_weights = class_weights([1] * (num_classes - 1))
    return model


def one_image_target(states: list[int]) -> tuple[list[torch.Tensor], list[dict]]:
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 10:40, 12:44] = 1
    target = {
        "boxes": torch.tensor([[12.0, 10.0, 44.0, 40.0]]),
        "labels": torch.tensor([1]),
        "masks": masks,
        "fed_states": torch.tensor(states),
    }
    return [image], [target]


def test_the_heads_keep_torchvision_parameters_and_names():
    model = tiny_model()
    assert isinstance(model.roi_heads, FederatedRoIHeads)
    plain = build_tiny(5, min_size=64, max_size=64)
    assert model.state_dict().keys() == plain.state_dict().keys()


def test_a_real_head_gives_no_gradient_to_not_exhaustive_and_unverified_class_rows():
    model = tiny_model()
    model.train()
    # class 1: the positive; 2: not exhaustive (no instance here); 3: unverified; 4: absent
    images, targets = one_image_target([U, MAY, NE, U, VN])
    torch.manual_seed(0)
    losses = model(images, targets)
    losses["loss_classifier"].backward()
    grad = model.roi_heads.box_predictor.cls_score.weight.grad
    assert set(model.roi_heads.last_loss_classes.tolist()) == {1, 2, 3, 4}
    assert grad[2].abs().sum() == 0  # not exhaustive, no instance of it: never a false positive
    assert grad[3].abs().sum() == 0  # unverified
    assert grad[0].abs().sum() == 0  # background column
    assert grad[4].abs().sum() > 0  # verified negative
    assert grad[1].abs().sum() > 0  # the positive


def test_inference_scores_are_sigmoids_of_the_class_logits():
    model = tiny_model()
    model.eval()
    model.roi_heads.score_thresh = 0.0
    with torch.no_grad():
        cls = model.roi_heads.box_predictor.cls_score
        cls.weight.zero_()
        cls.bias.copy_(torch.tensor([5.0, 2.0, -1.0, -3.0, 0.0]))
        out = model([torch.rand(3, 64, 64)])[0]
    assert len(out["scores"])
    allowed = {round(1 / (1 + math.exp(-b)), 5) for b in (2.0, -1.0, -3.0, 0.0)}
    assert {round(s, 5) for s in out["scores"].tolist()} <= allowed

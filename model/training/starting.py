"""A run's starting weights, and which BatchNorm layers they make worth freezing.

:func:`start_weights` fills a freshly built model: COCO weights (class predictors
mapped by category name, the rest re-initialised), else an ImageNet backbone, else
nothing. :func:`pretrained_batch_norms` names the BatchNorm layers whose statistics
came from those weights: only they are frozen with a small batch. A layer the weights
did not reach (an ImageNet start's FPN, RPN and RoI heads) keeps the fresh mean 0 /
variance 1 and must learn its statistics, or it normalises nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.vocabulary import Category

from ..weights import COCO, COCO_CLASSES, LONGTAIL, WeightsReport, checkpoint_rows, load_weights
from ..weights import read_checkpoint as read_weights_file
from .architectures import TINY
from .loss import init_sigmoid_classifier

START_COCO = "COCO weights"
START_IMAGENET = "ImageNet backbone"
START_LONGTAIL = "a longtail model"
START_SCRATCH = "scratch"


def start_weights(
    model: nn.Module,
    architecture: str,
    categories: list[Category],
    weights: str | None = None,
    *,
    use_cache: bool = True,
) -> tuple[WeightsReport, str]:
    """Initialise ``model`` (see the module docstring); the report and what was used."""
    if architecture == TINY and weights is None:
        report = WeightsReport(architecture)  # tiny has no published weights
    else:
        report = load_weights(model, architecture, categories, weights, use_cache=use_cache)
    if report.kind in (COCO, LONGTAIL):
        init_sigmoid_classifier(model, rows=_unmatched_rows(report, categories))
    else:
        init_sigmoid_classifier(model)
    start = {COCO: START_COCO, LONGTAIL: START_LONGTAIL, None: START_SCRATCH}.get(
        report.kind, START_IMAGENET
    )
    return report, start


def _unmatched_rows(report: WeightsReport, categories: list[Category]) -> list[int]:
    """Class rows (1-based) that no checkpoint category filled."""
    if report.kind == COCO:
        names = list(COCO_CLASSES[1:])
    else:
        assert report.path is not None
        names = [str(n) for n in read_weights_file(report.path).get("categories") or []]
    mapping = checkpoint_rows(names, categories)
    return [i + 1 for i, m in enumerate(mapping) if m is None]


def batch_norms(model: nn.Module) -> dict[str, nn.modules.batchnorm._BatchNorm]:
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    }


def pretrained_batch_norms(model: nn.Module) -> list[str]:
    """The BatchNorm layers whose running statistics are not a fresh layer's (mean 0,
    variance 1): those the starting weights filled. Call it right after loading them."""
    names = []
    for name, module in batch_norms(model).items():
        mean, var = module.running_mean, module.running_var
        if mean is None or var is None:
            continue
        if bool(torch.any(mean != 0)) or bool(torch.any(var != 1)):
            names.append(name)
    return names


def freeze_batch_norms(model: nn.Module, names: list[str]) -> int:
    """Put the named BatchNorm layers in eval mode (their statistics stay; their scale
    and shift still train); how many."""
    wanted = set(names)
    frozen = 0
    for name, module in batch_norms(model).items():
        if name in wanted:
            module.eval()
            frozen += 1
    return frozen

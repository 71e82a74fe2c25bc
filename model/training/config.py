"""A training run's settings (torch-free), and the command-line options that set them.

The same options serve ``longtail train`` and ``python -m model.training`` (the process
the GUI and ``torchrun`` start), so both read one definition.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from typing import Any

from pipeline.errors import LongtailError

from ..names import DEFAULT_ARCHITECTURE, TRAINABLE_ARCHITECTURES

RFS_THRESHOLD = 0.001  # LVIS's t: categories in under 0.1% of the images repeat
RFS_MIN_IMAGES = 10  # the default t repeats categories in under 10 train images
ARCHITECTURES = TRAINABLE_ARCHITECTURES
ADAMW_ARCHITECTURES = ("swin-t",)  # transformers train with AdamW; ResNets with SGD
REFERENCE_BATCH = 16  # the learning rates below are for 16 images per step


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run (stored with the model; ``--resume`` reuses it)."""

    architecture: str = DEFAULT_ARCHITECTURE
    iterations: int = 2000  # optimiser steps
    batch_size: int = 2  # images per process per forward
    accumulate: int = 1  # forwards per optimiser step (gradient accumulation)
    lr: float | None = None  # default: SGD 0.02, AdamW 1e-4, scaled to the total batch
    weight_decay: float | None = None  # default: SGD 1e-4, AdamW 0.05
    warmup_iterations: int | None = None  # default: min(500, iterations // 10)
    warmup_factor: float = 0.001
    lr_steps: tuple[float, ...] = (0.67, 0.89)  # fractions of the run where lr *= lr_gamma
    lr_gamma: float = 0.1
    min_size: int = 800
    max_size: int = 1333
    scale_jitter: bool = True  # shorter side drawn from 0.8-1.0 x min_size each batch
    lsj: bool = False  # large-scale jitter onto a min_size square instead
    hflip: float = 0.5
    rfs_threshold: float | None = None  # default: rfs_threshold_for(train images)
    fed_loss_classes: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    amp: bool | None = None  # default: on CUDA
    channels_last: bool | None = None  # default: on CUDA
    # BatchNorm layers whose statistics came from the starting weights keep them (eval
    # mode); default: when starting from weights with a batch under 16. Randomly
    # initialised layers (an ImageNet start's FPN and heads) always learn theirs.
    freeze_bn: bool | None = None
    weights: str | None = None  # a checkpoint file to start from (default: torchvision cache)
    use_weights_cache: bool = True
    num_workers: int = 0
    evaluate: bool = True
    name: str | None = None

    @property
    def optimizer(self) -> str:
        return "adamw" if self.architecture in ADAMW_ARCHITECTURES else "sgd"

    def total_batch(self, world_size: int = 1) -> int:
        return self.batch_size * self.accumulate * world_size

    def base_lr(self, world_size: int = 1) -> float:
        if self.lr is not None:
            return self.lr
        reference = 1e-4 if self.optimizer == "adamw" else 0.02
        return reference * self.total_batch(world_size) / REFERENCE_BATCH

    @property
    def warmup(self) -> int:
        if self.warmup_iterations is not None:
            return self.warmup_iterations
        return min(500, self.iterations // 10)

    def lr_at(self, iteration: int, world_size: int = 1) -> float:
        """Linear warm-up from ``warmup_factor``, then steps of ``lr_gamma``."""
        lr = self.base_lr(world_size)
        if iteration < self.warmup:
            alpha = iteration / max(1, self.warmup)
            lr *= self.warmup_factor * (1 - alpha) + alpha
        passed = sum(1 for s in self.lr_steps if iteration >= int(s * self.iterations))
        return lr * self.lr_gamma**passed

    def rfs_threshold_for(self, train_images: int) -> float:
        """Repeat-factor sampling's ``t``: the set value, else ``max(0.001, 10 / N)`` for
        N train images — LVIS's 0.001 from 10,000 images on, and on a smaller project
        every category in fewer than 10 train images is repeated (``sqrt(10 / n)``
        times for one in n images). A fixed 0.001 repeats nothing below 1,000 images."""
        if self.rfs_threshold is not None:
            return self.rfs_threshold
        return max(RFS_THRESHOLD, RFS_MIN_IMAGES / max(1, train_images))

    def check(self) -> None:
        for name in ("iterations", "batch_size", "accumulate", "checkpoint_every", "min_size"):
            if getattr(self, name) < 1:
                raise LongtailError(f"training setting {name} must be at least 1")
        if self.max_size < self.min_size:
            raise LongtailError("training setting max_size must be at least min_size")
        if not 0.0 <= self.hflip <= 1.0:
            raise LongtailError("training setting hflip must be a probability in [0, 1]")
        if self.rfs_threshold is not None and not 0.0 <= self.rfs_threshold <= 1.0:
            raise LongtailError(
                "training setting rfs_threshold must be in [0, 1] (0: no repeat-factor sampling)"
            )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lr_steps"] = list(self.lr_steps)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in known}
        if "lr_steps" in kwargs:
            kwargs["lr_steps"] = tuple(kwargs["lr_steps"])
        return cls(**kwargs)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The training options (defaults from :class:`TrainConfig`)."""
    d = TrainConfig()
    p.add_argument("project", help="project folder or database URL")
    p.add_argument(
        "--model",
        dest="architecture",
        choices=ARCHITECTURES,
        default=d.architecture,
        help="architecture (tiny: a small model for tests and a first look)",
    )
    p.add_argument("--iterations", type=int, default=d.iterations, help="optimiser steps")
    p.add_argument(
        "--batch-size", type=int, default=d.batch_size, help="images per step and process"
    )
    p.add_argument(
        "--accumulate", type=int, default=d.accumulate, help="forwards per step (small GPUs)"
    )
    p.add_argument(
        "--lr", type=float, default=None, help="base learning rate (default: by optimiser)"
    )
    p.add_argument("--min-size", type=int, default=d.min_size, help="shorter image side (800)")
    p.add_argument("--max-size", type=int, default=d.max_size, help="longer side at most (1333)")
    p.add_argument("--lsj", action="store_true", help="large-scale jitter instead of scale jitter")
    p.add_argument("--no-scale-jitter", action="store_true", help="train at min-size only")
    p.add_argument(
        "--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between checkpoints"
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--rfs-threshold",
        type=float,
        default=None,
        metavar="T",
        help="repeat-factor sampling threshold: an image with a category in a fraction f < T "
        "of the train images repeats sqrt(T / f) times (default max(0.001, 10 / train images): "
        "categories in under 10 images repeat; 0 turns it off)",
    )
    bn = p.add_mutually_exclusive_group()
    bn.add_argument(
        "--freeze-bn",
        dest="freeze_bn",
        action="store_true",
        default=None,
        help="keep the starting weights' BatchNorm statistics (default: with a batch under 16)",
    )
    bn.add_argument(
        "--train-bn", dest="freeze_bn", action="store_false", help="let every BatchNorm layer learn"
    )
    p.add_argument(
        "--weights", default=None, help="checkpoint to start from (default: torchvision cache)"
    )
    p.add_argument(
        "--no-weights-cache", action="store_true", help="do not look in torchvision's cache"
    )
    p.add_argument("--workers", type=int, default=d.num_workers, help="data loading processes")
    p.add_argument("--no-evaluate", action="store_true", help="skip the held-out evaluation")
    p.add_argument(
        "--heldout-fraction",
        type=float,
        default=None,
        metavar="F",
        help="set the project's share of held-out images (used when it has no val split; "
        "default setting 0.1)",
    )
    p.add_argument("--name", default=None, help="the model's name in the registry")
    p.add_argument("--resume", action="store_true", help="continue the last interrupted run")
    p.add_argument("--resume-model", type=int, default=None, metavar="ID", help="continue run ID")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    amp = p.add_mutually_exclusive_group()
    amp.add_argument(
        "--amp", dest="amp", action="store_true", default=None, help="mixed precision (CUDA)"
    )
    amp.add_argument("--no-amp", dest="amp", action="store_false", help="full precision")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    config = TrainConfig(
        architecture=args.architecture,
        iterations=args.iterations,
        batch_size=args.batch_size,
        accumulate=args.accumulate,
        lr=args.lr,
        min_size=args.min_size,
        max_size=max(args.max_size, args.min_size),
        scale_jitter=not args.no_scale_jitter,
        lsj=args.lsj,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        rfs_threshold=args.rfs_threshold,
        freeze_bn=args.freeze_bn,
        amp=args.amp,
        weights=args.weights,
        use_weights_cache=not args.no_weights_cache,
        num_workers=args.workers,
        evaluate=not args.no_evaluate,
        name=args.name,
    )
    config.check()
    return config


def set_heldout_fraction(project: str, fraction: float | None) -> None:
    """``--heldout-fraction``: store the project setting (checked) before the snapshot."""
    if fraction is None:
        return
    from pipeline.store.database import Project

    with Project.open(project) as opened:
        opened.update_settings(heldout_fraction=fraction)

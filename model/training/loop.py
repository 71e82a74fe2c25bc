"""The training loop: optimiser and schedule, AMP, accumulation, checkpoints, resume, cancel.

:func:`train` runs one training run of a project end to end: snapshot the store, build
the model with its starting weights, train for ``iterations`` optimiser steps, write a
checkpoint every ``checkpoint_every`` steps and at the end, evaluate on the held-out
split, and record everything in the registry. Progress goes to a ``report`` callback
as plain dicts (the entry point prints them as JSON lines).

Repeatability: every random draw is a function of the run's seed and the iteration —
the data order and augmentation (:mod:`model.training.sampler`) and the global torch
generator, reseeded before each forward (RPN / RoI sampling, multi-scale size,
federated negatives). So a run resumed from its checkpoint continues with exactly the
losses an uninterrupted run has (on the CPU; cuDNN kernels are not bitwise repeatable).

Cancelling (``stop`` set, e.g. by SIGINT/SIGTERM): the run stops at the next
iteration boundary — or, on one process, inside the current forward pass, which is then
discarded — writes a checkpoint of the last finished iteration and ends ``cancelled``;
``--resume`` continues it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from pipeline import roles
from pipeline.errors import LongtailError
from pipeline.store import Project
from pipeline.vocabulary import Category, project_categories

from ..weights import (
    COCO,
    COCO_CLASSES,
    LONGTAIL,
    WeightsReport,
    checkpoint_rows,
    load_weights,
    read_checkpoint,
)
from . import distributed as dist_utils
from . import registry
from .architectures import TINY, build_for_training
from .checkpoint import CHECKPOINT, read_checkpoint_info, read_model_file, write_checkpoint
from .config import REFERENCE_BATCH, TrainConfig
from .data import Augment, SnapshotDataset, collate, scale_jitter_sizes
from .evaluate import evaluate_model
from .loss import class_weights, init_sigmoid_classifier, use_federated_heads
from .sampler import (
    DistributedRepeatFactorSampler,
    RepeatFactorSampler,
    _seed,
    batch_stream,
    image_repeat_factors,
)
from .snapshot import Snapshot, SnapshotError, take_snapshot

Report = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    model_id: int
    status: str  # registry.FINISHED or registry.CANCELLED
    iterations_done: int
    checkpoint: Path | None
    metrics: dict[str, Any] | None
    weights: str  # what the run started from
    seconds: float
    losses: list[dict[str, float]] = field(default_factory=list)  # per iteration, this session


class _Stopped(Exception):
    """The stop flag was seen inside a forward pass."""


# ---------------------------------------------------------------- starting weights


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
    """Initialise ``model``: COCO weights (class predictors mapped by category name,
    the rest re-initialised), else an ImageNet backbone, else nothing; what was used."""
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
        names = [str(n) for n in read_checkpoint(report.path).get("categories") or []]
    mapping = checkpoint_rows(names, categories)
    return [i + 1 for i, m in enumerate(mapping) if m is None]


# ---------------------------------------------------------------- the run


def _categories_of(project: Project, snapshot: Snapshot) -> list[Category]:
    by_id = {c.id: c for c in project_categories(project)}
    return [
        by_id.get(c) or Category(name=n, id=c)
        for c, n in zip(snapshot.category_ids, snapshot.category_names, strict=True)
    ]


def _freeze_batch_norm(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def _resumable(project: Project, model_id: int | None) -> registry.ModelRecord:
    if model_id is not None:
        record = registry.get_model(project, model_id)
    else:
        candidates = [
            m
            for m in registry.list_models(project)
            if m.status in (registry.TRAINING, registry.CANCELLED, registry.FAILED)
        ]
        if not candidates:
            raise LongtailError("nothing to resume: no cancelled or interrupted training run")
        record = candidates[-1]
    if record.status == registry.FINISHED:
        raise LongtailError(
            f"model {record.id} finished its {record.iterations} iterations; start a new run"
        )
    return record


def train(
    project_target: str | Path | Project,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    resume_model: int | None = None,
    device: str | None = None,
    report: Report | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """One training run (see the module docstring). ``resume`` continues the latest
    interrupted run (or ``resume_model``) with its stored config."""
    emit = report or (lambda _event: None)
    stop = stop or threading.Event()
    ctx = dist_utils.setup(device)
    own_project = not isinstance(project_target, Project)
    project = Project.open(project_target) if own_project else project_target
    try:
        roles.require(project, roles.TRAIN)  # an admin's action in a team project
        return _train(project, config or TrainConfig(), resume, resume_model, ctx, emit, stop)
    finally:
        if own_project:
            project.close()
        dist_utils.teardown(ctx)


def _train(
    project: Project,
    config: TrainConfig,
    resume: bool,
    resume_model: int | None,
    ctx: dist_utils.Context,
    emit: Report,
    stop: threading.Event,
) -> TrainResult:
    started = time.perf_counter()
    main = ctx.is_main
    say: Report = emit if main else (lambda _e: None)
    snapshot = take_snapshot(project)
    if not any(im.instances for im in snapshot.train):
        raise SnapshotError(
            "the project has no accepted masks in its train split yet: nothing to train on "
            f"({snapshot.summary()['train_images']} train images with labels)"
        )
    checkpoint_state: dict[str, Any] | None = None
    if resume or resume_model is not None:
        record = _resumable(project, resume_model)
        stored = dict(record.config.get("train") or {})
        config = replace(TrainConfig.from_dict(stored), num_workers=config.num_workers)
        if record.data_hash and record.data_hash != snapshot.data_hash:
            raise LongtailError(
                f"model {record.id} was trained on other data (data hash {record.data_hash[:12]}, "
                f"now {snapshot.data_hash[:12]}): the project changed since; start a new run"
            )
        folder = registry.model_dir(project, record.id)
        if (folder / CHECKPOINT).is_file():
            checkpoint_state = read_model_file(folder / CHECKPOINT)
        model_id = record.id
        weights_used = str(record.config.get("start_weights", START_SCRATCH))
    else:
        config.check()
        model_id = None
        if main:
            model_id = registry.create_model(
                project,
                name=config.name or f"{config.architecture} {time.strftime('%Y-%m-%d %H:%M')}",
                architecture=config.architecture,
                category_ids=list(snapshot.category_ids),
                config={
                    "train": config.as_dict(),
                    "data_hash": snapshot.data_hash,
                    "snapshot": snapshot.summary(),
                    "iterations_done": 0,
                    "min_size": config.min_size,
                    "max_size": config.max_size,
                    "world_size": ctx.world_size,
                },
            ).id
        model_id = dist_utils.broadcast_int(model_id, ctx)
        weights_used = START_SCRATCH
    folder = registry.model_dir(project, model_id)
    if main and checkpoint_state is not None:
        registry.update_model(project, model_id, status=registry.TRAINING)
    try:
        result = _run(
            project,
            snapshot,
            config,
            model_id,
            folder,
            checkpoint_state,
            weights_used,
            ctx,
            say,
            stop,
        )
    except BaseException as exc:
        if main:
            # Keep the last checkpoint usable: the row points at it whatever went wrong.
            has_checkpoint = read_checkpoint_info(folder) is not None
            registry.update_model(
                project,
                model_id,
                status=registry.CANCELLED
                if isinstance(exc, KeyboardInterrupt)
                else registry.FAILED,
                checkpoint=project.relative(folder / CHECKPOINT) if has_checkpoint else None,
                config={"error": "".join(traceback.format_exception_only(exc)).strip()},
            )
        raise
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _run(
    project: Project,
    snapshot: Snapshot,
    config: TrainConfig,
    model_id: int,
    folder: Path,
    checkpoint_state: dict[str, Any] | None,
    weights_used: str,
    ctx: dist_utils.Context,
    say: Report,
    stop: threading.Event,
) -> TrainResult:
    device = ctx.device
    on_gpu = device.type == "cuda"
    amp = on_gpu if config.amp is None else bool(config.amp and on_gpu)
    channels_last = on_gpu if config.channels_last is None else bool(config.channels_last)
    categories = _categories_of(project, snapshot)

    torch.manual_seed(config.seed)
    model = build_for_training(
        config.architecture,
        snapshot.num_classes,
        min_size=config.min_size,
        max_size=config.max_size,
    )
    use_federated_heads(model, fed_loss_num_classes=config.fed_loss_classes)
    weights_summary = "resumed from its checkpoint"
    if checkpoint_state is None:
        report, weights_used = start_weights(
            model,
            config.architecture,
            categories,
            config.weights,
            use_cache=config.use_weights_cache,
        )
        weights_summary = report.summary()
    model.roi_heads.class_weights = class_weights(snapshot.train_image_counts())
    if config.lsj:
        model.transform.min_size = (config.min_size,)
        model.transform.max_size = config.min_size
    elif config.scale_jitter:
        model.transform.min_size = scale_jitter_sizes(config.min_size)
    freeze_bn = config.freeze_bn
    if freeze_bn is None:
        freeze_bn = (
            weights_used != START_SCRATCH and config.total_batch(ctx.world_size) < REFERENCE_BATCH
        )
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    optimizer = _optimizer(model, config)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    start_iteration = 0
    if checkpoint_state is not None:
        model.load_state_dict(checkpoint_state["model"])
        if checkpoint_state.get("optimizer"):
            optimizer.load_state_dict(checkpoint_state["optimizer"])
        if checkpoint_state.get("scaler"):
            scaler.load_state_dict(checkpoint_state["scaler"])
        start_iteration = int(checkpoint_state.get("iteration", 0))
    ddp_model = dist_utils.wrap(model, ctx)

    # Data: RFS over the train images' positive categories, sharded across ranks.
    train_images = snapshot.train
    factors = image_repeat_factors(
        [[a.category_id for a in im.instances] for im in train_images], config.rfs_threshold
    )
    rfs = RepeatFactorSampler(factors, config.seed)
    sampler = (
        DistributedRepeatFactorSampler(rfs, ctx.world_size, ctx.rank) if ctx.distributed else rfs
    )
    dataset = SnapshotDataset(
        snapshot,
        train_images,
        Augment(hflip=config.hflip, lsj=config.lsj, lsj_size=config.min_size),
    )
    stream = batch_stream(
        sampler,
        config.batch_size,
        config.seed,
        start=start_iteration * config.accumulate,
        rank=ctx.rank,
    )
    loader = DataLoader(
        dataset,
        batch_sampler=stream,
        collate_fn=collate,
        num_workers=config.num_workers,
        persistent_workers=False,
    )
    batches = iter(loader)

    def save(iteration: int) -> Path | None:
        path = None
        if ctx.is_main:
            path = write_checkpoint(
                folder,
                model_state=model.state_dict(),
                architecture=config.architecture,
                categories=[c.name for c in categories],
                category_ids=list(snapshot.category_ids),
                iteration=iteration,
                optimizer_state=optimizer.state_dict(),
                scaler_state=scaler.state_dict() if amp else None,
                info={
                    "model_id": model_id,
                    "train": config.as_dict(),
                    "data_hash": snapshot.data_hash,
                    "start_weights": weights_used,
                },
            )
            registry.update_model(
                project,
                model_id,
                checkpoint=project.relative(path),
                config={"iterations_done": iteration, "start_weights": weights_used},
            )
            say({"event": "checkpoint", "iteration": iteration, "path": str(path)})
        dist_utils.barrier(ctx)
        return path

    say(
        {
            "event": "start",
            "model_id": model_id,
            "architecture": config.architecture,
            "start_weights": weights_used,
            "weights": weights_summary,
            "snapshot": snapshot.summary(),
            "iterations": config.iterations,
            "start_iteration": start_iteration,
            "device": str(device),
            "world_size": ctx.world_size,
            "amp": amp,
            "optimizer": config.optimizer,
            "total_batch": config.total_batch(ctx.world_size),
        }
    )
    # One process can stop mid-forward; with several, every rank must stop at the same
    # step or the others would wait forever in the gradient all-reduce.
    hooks = []
    if not ctx.distributed:

        def check(_module: nn.Module, _inputs: object) -> None:
            if stop.is_set():
                raise _Stopped()

        hooks = [m.register_forward_pre_hook(check) for m in model.backbone.modules()]

    ddp_model.train()
    if freeze_bn:
        _freeze_batch_norm(model)
    losses_log: list[dict[str, float]] = []
    iteration = start_iteration
    path: Path | None = None
    loop_start = time.perf_counter()
    images_seen = 0.0
    autocast = (
        (lambda: torch.autocast(device_type="cuda", dtype=torch.float16))
        if amp
        else contextlib.nullcontext
    )
    cancelled = False
    last_checkpoint = start_iteration
    try:
        while iteration < config.iterations:
            if dist_utils.any_rank(stop.is_set(), ctx):
                cancelled = True
                break
            lr = config.lr_at(iteration, ctx.world_size)
            for group in optimizer.param_groups:
                group["lr"] = lr
            sums: dict[str, float] = {}
            step_images = 0
            try:
                for micro in range(config.accumulate):
                    images, targets = next(batches)
                    torch.manual_seed(_seed(config.seed, iteration, micro, ctx.rank, "step"))
                    images = [im.to(device, non_blocking=True) for im in images]
                    targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
                    with autocast():
                        parts = ddp_model(images, targets)
                        loss = sum(parts.values()) / config.accumulate
                    scaler.scale(loss).backward()
                    for name, value in parts.items():
                        sums[name] = sums.get(name, 0.0) + float(value.detach()) / config.accumulate
                    step_images += len(images)
            except _Stopped:
                optimizer.zero_grad(set_to_none=True)
                cancelled = True
                break
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            iteration += 1
            names = sorted(sums)
            reduced = dist_utils.all_sum([sums[n] for n in names] + [float(step_images)], ctx)
            parts_mean = {n: reduced[i] / ctx.world_size for i, n in enumerate(names)}
            images_seen += reduced[-1]
            total = sum(parts_mean.values())
            if not math.isfinite(total):
                raise LongtailError(
                    f"the loss diverged at iteration {iteration} ({parts_mean}); lower the "
                    "learning rate (--lr) or check the data"
                )
            losses_log.append({**parts_mean, "loss": total})
            elapsed = time.perf_counter() - loop_start
            done_here = iteration - start_iteration
            say(
                {
                    "event": "progress",
                    "iteration": iteration,
                    "iterations": config.iterations,
                    "loss": round(total, 6),
                    "losses": {n: round(v, 6) for n, v in parts_mean.items()},
                    "lr": lr,
                    "images": int(reduced[-1]),
                    "images_per_s": round(images_seen / elapsed, 3) if elapsed > 0 else None,
                    "eta_s": round(elapsed / done_here * (config.iterations - iteration), 1),
                    "ranks": ctx.world_size,
                }
            )
            if iteration % config.checkpoint_every == 0 and iteration < config.iterations:
                path = save(iteration)
                last_checkpoint = iteration
    finally:
        for hook in hooks:
            hook.remove()
    # A checkpoint of the last finished iteration (unless the one on disk already is).
    if iteration > last_checkpoint or checkpoint_state is None and last_checkpoint == 0:
        path = save(iteration)
    else:
        path = folder / CHECKPOINT
    metrics = None
    status = registry.CANCELLED if cancelled else registry.FINISHED
    if ctx.is_main:
        if not cancelled and config.evaluate:
            say({"event": "evaluating", "images": len(snapshot.heldout)})
            metrics = evaluate_model(
                model,
                snapshot,
                device,
                amp=amp,
                progress=lambda d, n: say({"event": "evaluation_progress", "done": d, "total": n}),
            )
            say({"event": "evaluation", "metrics": metrics})
        registry.update_model(
            project,
            model_id,
            status=status,
            checkpoint=project.relative(path) if path is not None else None,
            metrics=metrics,
            config={"iterations_done": iteration, "start_weights": weights_used},
            finished=True,
        )
    dist_utils.barrier(ctx)
    say(
        {
            "event": "cancelled" if cancelled else "done",
            "model_id": model_id,
            "status": status,
            "iteration": iteration,
            "checkpoint": str(path) if path is not None else None,
            "metrics": metrics,
        }
    )
    return TrainResult(
        model_id=model_id,
        status=status,
        iterations_done=iteration,
        checkpoint=path,
        metrics=metrics,
        weights=weights_used,
        seconds=0.0,
        losses=losses_log,
    )


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    lr = config.base_lr()
    if config.optimizer == "adamw":
        decay = 0.05 if config.weight_decay is None else config.weight_decay
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    decay = 1e-4 if config.weight_decay is None else config.weight_decay
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=decay)

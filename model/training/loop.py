"""The training loop, composed from named parts.

:func:`train` runs one training run of a project end to end:

1. :func:`plan_run` — snapshot the store and create (or, resuming, find) the registry row;
2. :func:`build_model` — the architecture with its federated heads and starting weights
   (:mod:`model.training.starting`), and which BatchNorm layers to freeze;
3. :func:`restore` — on ``--resume``, the model, optimiser and scaler from the checkpoint;
4. :func:`make_loader` — repeat-factor sampling over the train split, sharded across ranks;
5. :class:`Checkpointer` — periodic and final checkpoints, recorded in the registry;
6. :class:`Stepper` — one optimiser step (accumulation, AMP, a stop inside the forward);
7. :func:`finish` — the held-out evaluation (rank 0 alone: the other ranks do not wait
   for it) and the registry row's final state.

Progress goes to a ``report`` callback as :mod:`model.training.events` dataclasses.

Repeatability: every random draw is a function of the run's seed and the iteration —
the data order and augmentation (:mod:`model.training.sampler`) and the global torch
generator, reseeded before each forward. So a run resumed from its checkpoint continues
with exactly the losses an uninterrupted run has (on the CPU).

Cancelling (``stop`` set): the run stops at the next iteration boundary — or, on one
process, inside the current forward pass, which is then discarded — writes a checkpoint
of the last finished iteration and ends ``cancelled``. A step cannot be abandoned in
the middle of its backward pass here; :mod:`model.training.isolate` runs this loop in a
child process that it can end at once.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader

from pipeline.errors import LongtailError
from pipeline.store.database import Project
from pipeline.team import roles
from pipeline.vocabulary import Category, project_categories

from . import distributed as dist_utils
from . import events as ev
from . import registry
from .architectures import build_for_training
from .checkpoint import (
    CHECKPOINT,
    read_checkpoint_info,
    read_model_file,
    sweep_leftovers,
    write_checkpoint,
)
from .config import REFERENCE_BATCH, TrainConfig
from .data import Augment, SnapshotDataset, collate, scale_jitter_sizes
from .evaluate import evaluate_model
from .events import TrainResult
from .loss import class_weights, use_federated_heads
from .sampler import (
    DistributedRepeatFactorSampler,
    RepeatFactorSampler,
    _seed,
    batch_stream,
    image_repeat_factors,
)
from .snapshot import (
    Snapshot,
    SnapshotError,
    content_keys,
    read_heldout,
    record_heldout,
    take_snapshot,
)
from .starting import (
    START_COCO,
    START_IMAGENET,
    START_LONGTAIL,
    START_SCRATCH,
    freeze_batch_norms,
    pretrained_batch_norms,
    start_weights,
)

__all__ = [
    "START_COCO",
    "START_IMAGENET",
    "START_LONGTAIL",
    "START_SCRATCH",
    "TrainResult",
    "start_weights",
    "train",
]

Report = Callable[[ev.Event], None]


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class _Stopped(Exception):
    """The stop flag was seen inside a forward pass."""


# ---------------------------------------------------------------- 1. the plan


@dataclass
class Plan:
    """What one run is: its data, settings and registry row."""

    project: Project
    snapshot: Snapshot
    config: TrainConfig
    model_id: int
    folder: Path
    checkpoint_state: dict[str, Any] | None  # resuming: the checkpoint's contents
    weights_used: str
    frozen_names: list[str] | None  # resuming: the BatchNorm layers the run froze


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


def _resume_plan(project: Project, config: TrainConfig, model: int | None) -> Plan:
    record = _resumable(project, model)
    folder = registry.model_dir(project, record.id)
    recorded = read_heldout(folder)  # the split the run started with, by content
    snapshot = _trainable(take_snapshot(project, recorded=recorded))
    stored = dict(record.config.get("train") or {})
    config = replace(TrainConfig.from_dict(stored), num_workers=config.num_workers)
    if record.data_hash and record.data_hash != snapshot.data_hash:
        raise LongtailError(
            f"model {record.id} was trained on other data (data hash {record.data_hash[:12]}, "
            f"now {snapshot.data_hash[:12]}): the project changed since; start a new run"
        )
    state = read_model_file(folder / CHECKPOINT) if (folder / CHECKPOINT).is_file() else None
    frozen = record.config.get("frozen_batch_norms")
    return Plan(
        project,
        snapshot,
        config,
        record.id,
        folder,
        state,
        str(record.config.get("start_weights", START_SCRATCH)),
        list(frozen) if isinstance(frozen, list) else None,
    )


def _trainable(snapshot: Snapshot) -> Snapshot:
    if not any(im.instances for im in snapshot.train):
        raise SnapshotError(
            "the project has no accepted masks in its train split yet: nothing to train on "
            f"({snapshot.summary()['train_images']} train images with labels)"
        )
    return snapshot


def plan_run(
    project: Project,
    config: TrainConfig,
    resume: bool,
    resume_model: int | None,
    ctx: dist_utils.Context,
) -> Plan:
    """Snapshot the project; the new run's registry row (its held-out set recorded in
    its folder), or the run to resume (on the split it recorded)."""
    if resume or resume_model is not None:
        return _resume_plan(project, config, resume_model)
    snapshot = _trainable(take_snapshot(project))
    config.check()
    model_id = None
    if ctx.is_main:
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
    folder = registry.model_dir(project, model_id)
    if ctx.is_main:
        record_heldout(folder, snapshot, content_keys(project))
    dist_utils.barrier(ctx)
    return Plan(project, snapshot, config, model_id, folder, None, START_SCRATCH, None)


# ---------------------------------------------------------------- 2-4. model and data


@dataclass
class Built:
    model: nn.Module
    weights_used: str
    weights_summary: str
    frozen: list[str]  # BatchNorm layers kept in eval mode


def _categories_of(project: Project, snapshot: Snapshot) -> list[Category]:
    by_id = {c.id: c for c in project_categories(project)}
    return [
        by_id.get(c) or Category(name=n, id=c)
        for c, n in zip(snapshot.category_ids, snapshot.category_names, strict=True)
    ]


def build_model(plan: Plan, categories: list[Category], world_size: int) -> Built:
    """The model with its federated heads and starting weights (unless resuming), and
    the BatchNorm layers to freeze: those with pretrained statistics, when starting from
    weights with a batch under 16 (or ``freeze_bn``); a resumed run keeps its choice."""
    config = plan.config
    torch.manual_seed(config.seed)
    model = build_for_training(
        config.architecture,
        plan.snapshot.num_classes,
        min_size=config.min_size,
        max_size=config.max_size,
    )
    use_federated_heads(model, fed_loss_num_classes=config.fed_loss_classes)
    weights_used, summary = plan.weights_used, "resumed from its checkpoint"
    if plan.checkpoint_state is None:
        report, weights_used = start_weights(
            model,
            config.architecture,
            categories,
            config.weights,
            use_cache=config.use_weights_cache,
        )
        summary = report.summary()
    model.roi_heads.class_weights = class_weights(plan.snapshot.train_image_counts())
    if config.lsj:
        model.transform.min_size = (config.min_size,)
        model.transform.max_size = config.min_size
    elif config.scale_jitter:
        model.transform.min_size = scale_jitter_sizes(config.min_size)
    if plan.frozen_names is not None:
        frozen = plan.frozen_names
    else:
        freeze = config.freeze_bn
        if freeze is None:
            freeze = (
                weights_used != START_SCRATCH and config.total_batch(world_size) < REFERENCE_BATCH
            )
        frozen = pretrained_batch_norms(model) if freeze and plan.checkpoint_state is None else []
    return Built(model, weights_used, summary, frozen)


def restore(
    state: dict[str, Any] | None,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> int:
    """Load a checkpoint's model, optimiser and scaler; the iteration it stands at."""
    if state is None:
        return 0
    model.load_state_dict(state["model"])
    if state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return int(state.get("iteration", 0))


def make_loader(
    snapshot: Snapshot, config: TrainConfig, ctx: dist_utils.Context, start_iteration: int
) -> Iterator[Any]:
    """Batches of the train split: repeat-factor sampling over its positive categories
    (``t`` from :meth:`TrainConfig.rfs_threshold_for`), sharded across ranks, continuing
    at ``start_iteration``."""
    train_images = snapshot.train
    factors = image_repeat_factors(
        [[a.category_id for a in im.instances] for im in train_images],
        config.rfs_threshold_for(len(train_images)),
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
    return iter(loader)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    lr = config.base_lr()
    if config.optimizer == "adamw":
        decay = 0.05 if config.weight_decay is None else config.weight_decay
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    decay = 1e-4 if config.weight_decay is None else config.weight_decay
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=decay)


# ---------------------------------------------------------------- 5. checkpoints


class Checkpointer:
    """Writes the run's checkpoint (rank 0) and records it in the registry; every rank
    waits for the write. Temporary files a killed earlier write left are swept first."""

    def __init__(
        self, plan: Plan, categories: list[Category], ctx: dist_utils.Context, say: Report
    ) -> None:
        self.plan, self.ctx, self.say = plan, ctx, say
        self.category_names = [c.name for c in categories]
        self.last: int | None = None
        self.path: Path | None = None
        if ctx.is_main:
            sweep_leftovers(plan.folder)

    def save(self, iteration: int, built: Built, optimizer: Any, scaler: Any, amp: bool) -> None:
        plan = self.plan
        if self.ctx.is_main:
            self.path = write_checkpoint(
                plan.folder,
                model_state=built.model.state_dict(),
                architecture=plan.config.architecture,
                categories=self.category_names,
                category_ids=list(plan.snapshot.category_ids),
                iteration=iteration,
                optimizer_state=optimizer.state_dict(),
                scaler_state=scaler.state_dict() if amp else None,
                info={
                    "model_id": plan.model_id,
                    "train": plan.config.as_dict(),
                    "data_hash": plan.snapshot.data_hash,
                    "start_weights": built.weights_used,
                },
            )
            registry.update_model(
                plan.project,
                plan.model_id,
                checkpoint=plan.project.relative(self.path),
                config={"iterations_done": iteration, "start_weights": built.weights_used},
            )
            self.say(ev.CheckpointSaved(iteration, str(self.path)))
        else:
            self.path = plan.folder / CHECKPOINT
        self.last = iteration
        dist_utils.barrier(self.ctx)


# ---------------------------------------------------------------- 6. the step


@dataclass
class StepOutcome:
    losses: dict[str, float]  # each loss part, averaged over the ranks
    images: int  # images of the step, all ranks


class Stepper:
    """One optimiser step: ``accumulate`` forwards, the backward passes, the update.
    On one process a forward pre-hook raises :class:`_Stopped` when ``stop`` is set, so
    a stop abandons the forward at once (with several, every rank must step alike)."""

    def __init__(
        self,
        ddp_model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        config: TrainConfig,
        ctx: dist_utils.Context,
        amp: bool,
    ) -> None:
        self.model, self.optimizer, self.scaler = ddp_model, optimizer, scaler
        self.config, self.ctx = config, ctx
        self.autocast = (
            (lambda: torch.autocast(device_type="cuda", dtype=torch.float16))
            if amp
            else contextlib.nullcontext
        )

    @contextlib.contextmanager
    def stoppable(self, backbone: nn.Module, stop: StopFlag) -> Iterator[None]:
        if self.ctx.distributed:
            yield
            return

        def check(_module: nn.Module, _inputs: object) -> None:
            if stop.is_set():
                raise _Stopped()

        hooks = [m.register_forward_pre_hook(check) for m in backbone.modules()]
        try:
            yield
        finally:
            for hook in hooks:
                hook.remove()

    def step(self, iteration: int, batches: Iterator[Any]) -> StepOutcome:
        config, ctx, device = self.config, self.ctx, self.ctx.device
        lr = config.lr_at(iteration, ctx.world_size)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sums: dict[str, float] = {}
        images_here = 0
        try:
            for micro in range(config.accumulate):
                images, targets = next(batches)
                torch.manual_seed(_seed(config.seed, iteration, micro, ctx.rank, "step"))
                images = [im.to(device, non_blocking=True) for im in images]
                targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
                with self.autocast():
                    parts = self.model(images, targets)
                    loss = sum(parts.values()) / config.accumulate
                self.scaler.scale(loss).backward()
                for name, value in parts.items():
                    sums[name] = sums.get(name, 0.0) + float(value.detach()) / config.accumulate
                images_here += len(images)
        except _Stopped:
            self.optimizer.zero_grad(set_to_none=True)
            raise
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        names = sorted(sums)
        reduced = dist_utils.all_sum([sums[n] for n in names] + [float(images_here)], ctx)
        means = {n: reduced[i] / ctx.world_size for i, n in enumerate(names)}
        if not math.isfinite(sum(means.values())):
            raise LongtailError(
                f"the loss diverged at iteration {iteration + 1} ({means}); lower the "
                "learning rate (--lr) or check the data"
            )
        return StepOutcome(means, int(reduced[-1]))


# ---------------------------------------------------------------- the run


def train(
    project_target: str | Path | Project,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    resume_model: int | None = None,
    device: str | None = None,
    report: Report | None = None,
    stop: StopFlag | None = None,
) -> TrainResult:
    """One training run (see the module docstring). ``resume`` continues the latest
    interrupted run (or ``resume_model``) with its stored config."""
    emit = report or (lambda _event: None)
    flag: StopFlag = stop or threading.Event()
    ctx = dist_utils.setup(device)
    own_project = not isinstance(project_target, Project)
    project = (
        project_target if isinstance(project_target, Project) else Project.open(project_target)
    )
    try:
        roles.require(project, roles.TRAIN)  # an admin's action in a team project
        started = time.perf_counter()
        say: Report = emit if ctx.is_main else (lambda _e: None)
        plan = plan_run(project, config or TrainConfig(), resume, resume_model, ctx)
        say(ev.Registered(plan.model_id))
        result = _guarded(plan, ctx, say, flag)
        result.seconds = round(time.perf_counter() - started, 3)
        return result
    finally:
        if own_project:
            project.close()
        dist_utils.teardown(ctx)


def _guarded(plan: Plan, ctx: dist_utils.Context, say: Report, stop: StopFlag) -> TrainResult:
    """:func:`_run`; whatever goes wrong, the registry row keeps the last checkpoint."""
    if ctx.is_main and plan.checkpoint_state is not None:
        registry.update_model(plan.project, plan.model_id, status=registry.TRAINING)
    try:
        return _run(plan, ctx, say, stop)
    except BaseException as exc:
        if ctx.is_main:
            has_checkpoint = read_checkpoint_info(plan.folder) is not None
            registry.update_model(
                plan.project,
                plan.model_id,
                status=registry.CANCELLED
                if isinstance(exc, KeyboardInterrupt)
                else registry.FAILED,
                checkpoint=plan.project.relative(plan.folder / CHECKPOINT)
                if has_checkpoint
                else None,
                config={"error": "".join(traceback.format_exception_only(exc)).strip()},
            )
        raise


def _run(plan: Plan, ctx: dist_utils.Context, say: Report, stop: StopFlag) -> TrainResult:
    config, device = plan.config, ctx.device
    on_gpu = device.type == "cuda"
    amp = on_gpu if config.amp is None else bool(config.amp and on_gpu)
    channels_last = on_gpu if config.channels_last is None else bool(config.channels_last)
    categories = _categories_of(plan.project, plan.snapshot)
    built = build_model(plan, categories, ctx.world_size)
    model = built.model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(model, config)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    start_iteration = restore(plan.checkpoint_state, model, optimizer, scaler)
    if ctx.is_main and plan.frozen_names is None:
        registry.update_model(
            plan.project, plan.model_id, config={"frozen_batch_norms": built.frozen}
        )
    stepper = Stepper(dist_utils.wrap(model, ctx), optimizer, scaler, config, ctx, amp)
    batches = make_loader(plan.snapshot, config, ctx, start_iteration)
    checkpointer = Checkpointer(plan, categories, ctx, say)
    checkpointer.last = start_iteration if plan.checkpoint_state is not None else None
    say(
        ev.Started(
            model_id=plan.model_id,
            architecture=config.architecture,
            start_weights=built.weights_used,
            weights=built.weights_summary,
            snapshot=plan.snapshot.summary(),
            iterations=config.iterations,
            start_iteration=start_iteration,
            device=str(device),
            world_size=ctx.world_size,
            amp=amp,
            optimizer=config.optimizer,
            total_batch=config.total_batch(ctx.world_size),
            frozen_batch_norms=len(built.frozen),
        )
    )
    if checkpointer.last is None:
        # The starting point on disk: a stop that must abandon a step falls back on it.
        checkpointer.save(start_iteration, built, optimizer, scaler, amp)
    stepper.model.train()
    freeze_batch_norms(dist_utils.unwrap(stepper.model), built.frozen)  # SyncBatchNorm's, on GPUs
    iteration, cancelled, losses = _steps(
        plan, ctx, say, stop, stepper, built, batches, checkpointer, amp, start_iteration
    )
    if checkpointer.last != iteration:  # a checkpoint of the last finished iteration
        checkpointer.save(iteration, built, optimizer, scaler, amp)
    return finish(plan, ctx, say, built, checkpointer, iteration, cancelled, losses, amp)


def _steps(
    plan: Plan,
    ctx: dist_utils.Context,
    say: Report,
    stop: StopFlag,
    stepper: Stepper,
    built: Built,
    batches: Iterator[Any],
    checkpointer: Checkpointer,
    amp: bool,
    iteration: int,
) -> tuple[int, bool, list[dict[str, float]]]:
    """Optimiser steps until the last iteration or a stop; (iteration, cancelled, losses)."""
    config = plan.config
    losses: list[dict[str, float]] = []
    first, loop_start, images_seen = iteration, time.perf_counter(), 0.0
    with stepper.stoppable(built.model.get_submodule("backbone"), stop):
        while iteration < config.iterations:
            if dist_utils.any_rank(stop.is_set(), ctx):
                return iteration, True, losses
            try:
                outcome = stepper.step(iteration, batches)
            except _Stopped:
                return iteration, True, losses
            iteration += 1
            total = sum(outcome.losses.values())
            losses.append({**outcome.losses, "loss": total})
            images_seen += outcome.images
            elapsed = time.perf_counter() - loop_start
            say(
                ev.Progress(
                    iteration=iteration,
                    iterations=config.iterations,
                    loss=round(total, 6),
                    losses={n: round(v, 6) for n, v in outcome.losses.items()},
                    lr=config.lr_at(iteration - 1, ctx.world_size),
                    images=outcome.images,
                    images_per_s=round(images_seen / elapsed, 3) if elapsed > 0 else None,
                    eta_s=round(elapsed / (iteration - first) * (config.iterations - iteration), 1),
                    ranks=ctx.world_size,
                )
            )
            if iteration % config.checkpoint_every == 0 and iteration < config.iterations:
                checkpointer.save(iteration, built, stepper.optimizer, stepper.scaler, amp)
    return iteration, False, losses


# ---------------------------------------------------------------- 7. the finish


def finish(
    plan: Plan,
    ctx: dist_utils.Context,
    say: Report,
    built: Built,
    checkpointer: Checkpointer,
    iteration: int,
    cancelled: bool,
    losses: list[dict[str, float]],
    amp: bool,
) -> TrainResult:
    """Evaluate on the held-out split (rank 0 only; the other ranks return at once, so
    none waits at a barrier through the evaluation) and close the registry row."""
    status = registry.CANCELLED if cancelled else registry.FINISHED
    path = checkpointer.path or plan.folder / CHECKPOINT
    metrics = None
    if ctx.is_main:
        if not cancelled and plan.config.evaluate:
            say(ev.Evaluating(len(plan.snapshot.heldout)))
            metrics = evaluate_model(
                built.model,
                plan.snapshot,
                ctx.device,
                amp=amp,
                progress=lambda d, n: say(ev.EvaluationProgress(d, n)),
            )
            say(ev.Evaluated(metrics))
        registry.update_model(
            plan.project,
            plan.model_id,
            status=status,
            checkpoint=plan.project.relative(path),
            metrics=metrics,
            config={"iterations_done": iteration, "start_weights": built.weights_used},
            finished=True,
        )
    end = ev.Cancelled if cancelled else ev.Ended
    say(end(plan.model_id, status, iteration, str(path), metrics))
    return TrainResult(
        model_id=plan.model_id,
        status=status,
        iterations_done=iteration,
        checkpoint=path,
        metrics=metrics,
        weights=built.weights_used,
        seconds=0.0,
        losses=losses,
    )

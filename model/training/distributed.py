"""Data-parallel training under ``torchrun``: process group, device, and the DDP wrapper.

``torchrun --nproc-per-node N -m model.training PROJECT ...`` starts N copies of the
entry point with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set; each trains on its
share of every epoch (:class:`~model.training.sampler.DistributedRepeatFactorSampler`)
and DistributedDataParallel averages the gradients. NCCL on GPUs, gloo on the CPU.
Only rank 0 writes checkpoints, the registry and progress.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def choose_device(preference: str | None, local_rank: int = 0) -> torch.device:
    """``cuda`` when present (the local rank's GPU), else the CPU; or what was asked."""
    if preference:
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            from pipeline.errors import LongtailError

            raise LongtailError("--device cuda was asked for but no CUDA GPU is available")
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", local_rank)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup(device_preference: str | None = None) -> Context:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = choose_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend)
    return Context(rank, world_size, local_rank, device)


def teardown(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """DistributedDataParallel around ``model`` (synchronised batch norm on GPUs)."""
    if not ctx.distributed:
        return model
    if ctx.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device.index])
    return nn.parallel.DistributedDataParallel(model)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_sum(values: list[float], ctx: Context) -> list[float]:
    """The element-wise sum over ranks (the values themselves on one process)."""
    if not ctx.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def any_rank(flag: bool, ctx: Context) -> bool:
    """True on every rank when it is true on one (a collective stop decision)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_int(value: int | None, ctx: Context) -> int:
    """Rank 0's value on every rank."""
    if not ctx.distributed:
        assert value is not None
        return int(value)
    box: list[object] = [value]
    dist.broadcast_object_list(box, src=0)
    received = box[0]
    assert isinstance(received, int)  # rank 0 sent one
    return received

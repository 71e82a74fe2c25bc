"""Repeat-factor sampling (LVIS, Gupta et al. 2019), its distributed wrapper, and the
stream of batches a run consumes.

Rare categories would be seen a handful of times per epoch; repeat-factor sampling
shows the images that hold them more often:

- per category, ``r_c = max(1, sqrt(t / f_c))`` where ``f_c`` is the fraction of
  training images with an instance of ``c`` and ``t`` the threshold (0.001);
- per image, ``r_I = max(r_c)`` over its categories (1 for an image without any);
- each epoch, an image appears ``floor(r_I)`` times, plus once more with probability
  ``r_I - floor(r_I)`` (stochastic rounding, drawn afresh per epoch), in a shuffled order.

Every draw comes from a generator seeded by (run seed, epoch): the order of the data
is a pure function of the seed, which is what lets a resumed run continue the very
stream an uninterrupted run would have seen (:func:`batch_stream`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from pipeline.errors import LongtailError

from .config import RFS_THRESHOLD


def category_repeat_factors(
    image_categories: Sequence[Iterable[int]], threshold: float = RFS_THRESHOLD
) -> dict[int, float]:
    """``r_c = max(1, sqrt(t / f_c))`` for every category present in some image."""
    total = len(image_categories)
    counts: dict[int, int] = {}
    for categories in image_categories:
        for c in set(categories):
            counts[c] = counts.get(c, 0) + 1
    return {c: max(1.0, math.sqrt(threshold / (n / total))) for c, n in counts.items()}


def image_repeat_factors(
    image_categories: Sequence[Iterable[int]], threshold: float = RFS_THRESHOLD
) -> torch.Tensor:
    """``r_I = max over the image's categories of r_c`` (1 for an image without any)."""
    per_category = category_repeat_factors(image_categories, threshold)
    return torch.tensor(
        [max((per_category[c] for c in set(cats)), default=1.0) for cats in image_categories],
        dtype=torch.float64,
    )


def _seed(*parts: int | str) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


class RepeatFactorSampler(Sampler[int]):
    """Image indices of one epoch by repeat factors, stochastically rounded, shuffled."""

    def __init__(self, repeat_factors: torch.Tensor, seed: int = 0, *, shuffle: bool = True):
        if not len(repeat_factors):
            raise LongtailError("no training images to sample from")
        self.repeat_factors = repeat_factors.double()
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def epoch_indices(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(_seed(self.seed, epoch, "rfs"))
        whole = torch.floor(self.repeat_factors)
        fraction = self.repeat_factors - whole
        repeats = (
            whole + (torch.rand(len(fraction), generator=g, dtype=torch.float64) < fraction)
        ).long()
        indices = torch.repeat_interleave(torch.arange(len(repeats)), repeats)
        if self.shuffle:
            indices = indices[torch.randperm(len(indices), generator=g)]
        return indices.tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices(self.epoch))

    def __len__(self) -> int:
        return len(self.epoch_indices(self.epoch))


class _Positions(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class DistributedRepeatFactorSampler(DistributedSampler):
    """torch's ``DistributedSampler`` around a :class:`RepeatFactorSampler`: every rank
    draws the same epoch (same seed), and each takes its own share of it (padded by
    repetition to an equal share, as DistributedSampler does)."""

    def __init__(self, sampler: RepeatFactorSampler, num_replicas: int, rank: int) -> None:
        self.sampler = sampler
        super().__init__(
            _Positions(len(sampler)), num_replicas=num_replicas, rank=rank, shuffle=False
        )

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        epoch = self.sampler.epoch_indices(self.sampler.epoch)
        # The epoch's length changes with the rounding: size the shares afresh.
        self.dataset = _Positions(len(epoch))
        self.num_samples = math.ceil(len(epoch) / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        return iter([epoch[i] for i in super().__iter__()])

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.num_replicas)


def batch_stream(
    sampler: RepeatFactorSampler | DistributedRepeatFactorSampler,
    batch_size: int,
    seed: int,
    *,
    start: int = 0,
    rank: int = 0,
) -> Iterator[list[tuple[int, int]]]:
    """Endless batches of ``(image index, augmentation seed)``, from batch ``start`` on.

    Epoch after epoch; an epoch's last incomplete batch is dropped (unless the epoch is
    smaller than one batch). Skipping to ``start`` reads only indices, no images.
    """
    produced = 0
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        indices = list(sampler)
        if not indices:
            raise LongtailError("the sampler drew no images")
        full = max(1, len(indices) // batch_size)
        for b in range(full):
            chunk = indices[b * batch_size : (b + 1) * batch_size]
            if produced >= start:
                yield [
                    (i, _seed(seed, epoch, rank, b * batch_size + j, "augment"))
                    for j, i in enumerate(chunk)
                ]
            produced += 1
        epoch += 1

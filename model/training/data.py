"""The training dataset and its transforms: horizontal flip, scale jitter, LSJ.

A sample is keyed by ``(image index, draw seed)``: the sampler decides both, so an
image's augmentation depends only on the run's seed and its place in the data stream,
never on which worker loads it. That is what makes a resumed run see exactly the
pixels an uninterrupted one would.

Scale jitter is torchvision's own multi-scale training (the model's transform draws a
shorter side from ``min_size`` each batch); LSJ (large-scale jitter, Ghiasi et al.
2021) resizes by a random factor in [0.1, 2.0] of a square canvas, then crops or pads
to that canvas, and is done here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

from pipeline.images import load_image

from .loss import ClassState
from .snapshot import Snapshot, SnapshotImage

Sample = tuple[Tensor, dict[str, Tensor]]


@dataclass(frozen=True)
class Augment:
    """Which augmentations to apply, and how strongly."""

    hflip: float = 0.5  # probability of a horizontal flip
    lsj: bool = False  # large-scale jitter onto a square canvas of ``lsj_size``
    lsj_size: int = 1024
    lsj_range: tuple[float, float] = (0.1, 2.0)


def scale_jitter_sizes(min_size: int, steps: int = 5, low: float = 0.8) -> tuple[int, ...]:
    """Shorter sides for multi-scale training: ``steps`` sizes from ``low * min_size`` to
    ``min_size`` in multiples of 32 (detectron2's 640..800 for 800)."""
    if steps <= 1:
        return (int(min_size),)
    lo = low * min_size
    sizes = {int(round((lo + (min_size - lo) * i / (steps - 1)) / 32) * 32) for i in range(steps)}
    sizes.add(int(min_size))
    return tuple(sorted(s for s in sizes if s > 0))


def federated_states(image: SnapshotImage, snapshot: Snapshot) -> Tensor:
    """The :class:`ClassState` of each class (index 0: background) for this image."""
    default = ClassState.MAY_PUNISH if image.spotting_finished else ClassState.UNVERIFIED
    states = torch.full((snapshot.num_classes,), int(default), dtype=torch.long)
    states[0] = int(ClassState.UNVERIFIED)
    for category_id in image.unverified:
        states[snapshot.class_of(category_id)] = int(ClassState.UNVERIFIED)
    for category_id in image.positive:
        states[snapshot.class_of(category_id)] = int(ClassState.MAY_PUNISH)
    for category_id in image.not_exhaustive:
        states[snapshot.class_of(category_id)] = int(ClassState.NOT_EXHAUSTIVE)
    for category_id in image.negative:
        states[snapshot.class_of(category_id)] = int(ClassState.VERIFIED_NEGATIVE)
    return states


class SnapshotDataset(Dataset):
    """The images of one split of a snapshot, as torchvision Mask R-CNN samples."""

    def __init__(
        self,
        snapshot: Snapshot,
        images: Sequence[SnapshotImage],
        augment: Augment | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.images = list(images)
        self.augment = augment or Augment()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: int | tuple[int, int]) -> Sample:
        index, seed = key if isinstance(key, tuple) else (key, None)
        image = self.images[index]
        pixels = load_image(image.path)
        if pixels.shape[:2] != (image.height, image.width):
            from pipeline.errors import ImageError

            raise ImageError(
                f"image {image.id} ({image.path}) is {pixels.shape[1]}x{pixels.shape[0]}, "
                f"the project recorded {image.width}x{image.height}: the file changed"
            )
        tensor = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1).float() / 255.0
        if image.instances:
            masks = torch.from_numpy(np.stack([a.mask.to_bitmap() for a in image.instances]))
        else:
            masks = torch.zeros((0, image.height, image.width), dtype=torch.uint8)
        labels = torch.tensor(
            [self.snapshot.class_of(a.category_id) for a in image.instances], dtype=torch.long
        )
        if seed is not None:
            tensor, masks = self._augment(tensor, masks, torch.Generator().manual_seed(seed))
        keep = masks.flatten(1).any(1).bool()
        masks, labels = masks[keep], labels[keep]
        target = {
            "boxes": boxes_of(masks),
            "labels": labels,
            "masks": masks,
            "fed_states": federated_states(image, self.snapshot),
            "image_id": torch.tensor(image.id),
        }
        return tensor, target

    def _augment(self, image: Tensor, masks: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        a = self.augment
        if a.hflip > 0 and float(torch.rand((), generator=rng)) < a.hflip:
            image, masks = image.flip(-1), masks.flip(-1)
        if a.lsj:
            image, masks = large_scale_jitter(image, masks, a.lsj_size, a.lsj_range, rng)
        return image, masks


def large_scale_jitter(
    image: Tensor,
    masks: Tensor,
    size: int,
    scale_range: tuple[float, float],
    rng: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Resize so the longer side is ``factor * size`` (factor drawn from ``scale_range``),
    then take a random ``size`` x ``size`` crop, padding with zeros where smaller."""
    height, width = image.shape[-2:]
    low, high = scale_range
    factor = low + (high - low) * float(torch.rand((), generator=rng))
    scale = factor * size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    image = F.interpolate(image[None], (new_h, new_w), mode="bilinear", align_corners=False)[0]
    if len(masks):
        masks = F.interpolate(masks[None].float(), (new_h, new_w), mode="nearest")[0].to(
            torch.uint8
        )
    else:
        masks = torch.zeros((0, new_h, new_w), dtype=torch.uint8)
    top = int(torch.randint(0, max(new_h - size, 0) + 1, (), generator=rng))
    left = int(torch.randint(0, max(new_w - size, 0) + 1, (), generator=rng))
    image = image[:, top : top + size, left : left + size]
    masks = masks[:, top : top + size, left : left + size]
    canvas = image.new_zeros((3, size, size))
    canvas[:, : image.shape[1], : image.shape[2]] = image
    mask_canvas = masks.new_zeros((len(masks), size, size))
    mask_canvas[:, : masks.shape[1], : masks.shape[2]] = masks
    return canvas, mask_canvas


def boxes_of(masks: Tensor) -> Tensor:
    """Tight x0, y0, x1, y1 boxes of (N, H, W) masks (pixel edges: a one-pixel mask has
    width 1)."""
    if not len(masks):
        return torch.zeros((0, 4), dtype=torch.float32)
    rows = masks.any(2)
    cols = masks.any(1)
    out = []
    for r, c in zip(rows, cols, strict=True):
        ys, xs = torch.nonzero(r)[:, 0], torch.nonzero(c)[:, 0]
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return torch.tensor(out, dtype=torch.float32)


def collate(batch: list[Sample]) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)

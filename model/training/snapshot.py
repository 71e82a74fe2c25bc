"""A frozen, hashed view of the store that a training run reads (torch-free).

Training never reads the live store: annotators keep working while a model trains, and a
run must be repeatable. :func:`take_snapshot` reads, in one read transaction:

- the categories (the model's classes, in id order);
- for every image with at least one federated label, its accepted masks only (non-crowd
  instances whose current segment was accepted), its positives P, verified negatives N,
  not-exhaustive categories, and the pairs that are *unverified* (spotted, confirmed but
  not accepted, rejected: neither positive nor negative), and whether its spotting
  finished (then a category nobody spotted is a "likely negative", see
  :mod:`model.training.loss`);
- the split: images imported as ``val`` are held out when the project has any; otherwise
  a stable hash of the image's content (its SHA-256, else its path) holds out the
  project setting ``heldout_fraction`` (10% by default). The split never moves when
  images are added.

Its :attr:`Snapshot.data_hash` covers all of that (masks included), so a checkpoint
records exactly which data it saw and ``--resume`` can refuse to continue on other data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from pipeline import schema as s
from pipeline.errors import LongtailError
from pipeline.federated import federated_labels
from pipeline.geometry import Mask
from pipeline.images import ImageFiles, OutsideRootError
from pipeline.store import Project, read_settings

TRAIN = "train"
HELDOUT = "heldout"
VAL_SPLIT = "val"


class SnapshotError(LongtailError):
    """The project has nothing a model could learn from (yet)."""


@dataclass(frozen=True, eq=False)
class SnapshotInstance:
    category_id: int
    mask: Mask  # the accepted segment
    bbox: tuple[float, float, float, float]  # x, y, w, h of the mask


@dataclass(frozen=True, eq=False)
class SnapshotImage:
    id: int
    path: str  # resolved: absolute, or as the store has it when the project has no folder
    file_name: str
    width: int
    height: int
    split: str  # TRAIN or HELDOUT
    instances: tuple[SnapshotInstance, ...]
    positive: frozenset[int]
    negative: frozenset[int]
    not_exhaustive: frozenset[int]
    unverified: frozenset[int]  # pairs with an answer that is neither P nor N (yet)
    spotting_finished: bool


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What a training run sees; see the module docstring."""

    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]
    images: tuple[SnapshotImage, ...]
    heldout_rule: str  # "val split" or "hash 10%"
    data_hash: str = ""
    _index: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index.update({c: i for i, c in enumerate(self.category_ids)})

    @property
    def num_classes(self) -> int:
        """Classes of the model: the categories plus the background."""
        return len(self.category_ids) + 1

    def class_of(self, category_id: int) -> int:
        """torchvision class index (1-based) of a category id."""
        return self._index[category_id] + 1

    def split(self, name: str) -> list[SnapshotImage]:
        return [im for im in self.images if im.split == name]

    @property
    def train(self) -> list[SnapshotImage]:
        return self.split(TRAIN)

    @property
    def heldout(self) -> list[SnapshotImage]:
        return self.split(HELDOUT)

    def train_image_counts(self) -> list[int]:
        """Per class (category order): train images with an accepted instance of it."""
        counts = [0] * len(self.category_ids)
        for image in self.train:
            for category_id in {a.category_id for a in image.instances}:
                counts[self._index[category_id]] += 1
        return counts

    def summary(self) -> dict[str, Any]:
        return {
            "categories": len(self.category_ids),
            "train_images": len(self.train),
            "heldout_images": len(self.heldout),
            "train_instances": sum(len(im.instances) for im in self.train),
            "heldout_instances": sum(len(im.instances) for im in self.heldout),
            "heldout_rule": self.heldout_rule,
            "data_hash": self.data_hash,
        }

    def ground_truth(self, images: Iterable[SnapshotImage] | None = None) -> dict[str, Any]:
        """An LVIS v1 ground-truth dict of ``images`` (default: the held-out split) for
        :mod:`pipeline.evaluation`: masks as RLE, federated lists per image, and each
        category's frequency group from the train split's image counts."""
        chosen = list(self.heldout if images is None else images)
        counts = self.train_image_counts()
        annotations = []
        for image in chosen:
            for instance in image.instances:
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image.id,
                        "category_id": instance.category_id,
                        "segmentation": instance.mask.coco_rle(),
                        "area": float(instance.mask.area),
                        "bbox": list(instance.bbox),
                        "iscrowd": 0,
                    }
                )
        return {
            "images": [
                {
                    "id": im.id,
                    "width": im.width,
                    "height": im.height,
                    "file_name": im.file_name,
                    "neg_category_ids": sorted(im.negative),
                    "not_exhaustive_category_ids": sorted(im.not_exhaustive),
                }
                for im in chosen
            ],
            "annotations": annotations,
            "categories": [
                {"id": c, "name": n, "frequency": _frequency_group(counts[i])}
                for i, (c, n) in enumerate(zip(self.category_ids, self.category_names, strict=True))
            ],
        }


def _frequency_group(train_images: int) -> str:
    from pipeline.stats.frequency import frequency_group  # the LVIS r/c/f rule's owner

    return frequency_group(train_images)


def heldout_by_hash(key: str, fraction: float) -> bool:
    """Is an image held out: a stable hash of ``key`` (its SHA-256 or path) below
    ``fraction`` of the hash range."""
    if fraction <= 0:
        return False
    digest = hashlib.sha256(f"longtail-heldout:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def take_snapshot(project: Project, *, heldout_fraction: float | None = None) -> Snapshot:
    """Read the project's curated data (see the module docstring)."""
    ic, inst, seg = s.image_categories, s.instances, s.segments
    with project.read() as conn:
        settings = read_settings(conn)
        fraction = settings.heldout_fraction if heldout_fraction is None else heldout_fraction
        categories = conn.execute(
            select(s.categories.c.id, s.categories.c.name).order_by(s.categories.c.id)
        ).all()
        labels = federated_labels(conn)
        images = {
            r.id: r
            for r in conn.execute(
                select(
                    s.images.c.id,
                    s.images.c.path,
                    s.images.c.file_name,
                    s.images.c.width,
                    s.images.c.height,
                    s.images.c.sha256,
                    s.images.c.split,
                )
            )
        }
        finished = set(conn.execute(select(s.spotting_finished.c.image_id)).scalars())
        answered: dict[int, set[int]] = {}
        for image_id, category_id in conn.execute(select(ic.c.image_id, ic.c.category_id)):
            answered.setdefault(image_id, set()).add(category_id)
        masks: dict[int, list[SnapshotInstance]] = {}
        query = (
            select(
                inst.c.image_id,
                inst.c.category_id,
                seg.c.mask_kind,
                seg.c.mask,
                seg.c.bbox_x,
                seg.c.bbox_y,
                seg.c.bbox_w,
                seg.c.bbox_h,
            )
            .join(seg, seg.c.instance_id == inst.c.id)
            .where(
                inst.c.status == s.ACCEPTED,
                inst.c.is_crowd.is_(False),
                seg.c.status == s.SEGMENT_ACCEPTED,
            )
            .order_by(inst.c.image_id, inst.c.id)
        )
        rows = conn.execute(query).all()
    if not categories:
        raise SnapshotError("the project has no categories; a model needs a vocabulary")
    for row in rows:
        image = images[row.image_id]
        mask = Mask.from_bytes(row.mask_kind, row.mask, image.height, image.width)
        masks.setdefault(row.image_id, []).append(
            SnapshotInstance(
                int(row.category_id),
                mask,
                (float(row.bbox_x), float(row.bbox_y), float(row.bbox_w), float(row.bbox_h)),
            )
        )
    use_val = any(r.split == VAL_SPLIT for r in images.values())
    files = ImageFiles(project)  # each path checked against the image roots
    chosen = []
    for image_id in sorted(images):
        label = labels.get(image_id)
        if label is None or not (label.positive_category_ids or label.negative_category_ids):
            continue  # nothing verified about this image: nothing to learn from it
        row = images[image_id]
        if use_val:
            split = HELDOUT if row.split == VAL_SPLIT else TRAIN
        else:
            split = HELDOUT if heldout_by_hash(row.sha256 or row.path, fraction) else TRAIN
        # Positives are pairs with an accepted instance; their instances are all accepted
        # masks of the pair (an unaccepted one is not in the snapshot).
        known = label.positive_category_ids | label.negative_category_ids
        try:
            path = files.path(row.path)
        except OutsideRootError as exc:
            raise SnapshotError(f"image {image_id}: {exc}; nothing was trained") from None
        chosen.append(
            SnapshotImage(
                id=image_id,
                path=str(path),
                file_name=row.file_name,
                width=int(row.width),
                height=int(row.height),
                split=split,
                instances=tuple(masks.get(image_id, ())),
                positive=label.positive_category_ids,
                negative=label.negative_category_ids,
                not_exhaustive=label.not_exhaustive_category_ids,
                unverified=frozenset(answered.get(image_id, set()) - known),
                spotting_finished=image_id in finished,
            )
        )
    rule = "val split" if use_val else f"hash {fraction:.0%}"
    snapshot = Snapshot(
        category_ids=tuple(int(c.id) for c in categories),
        category_names=tuple(c.name for c in categories),
        images=tuple(chosen),
        heldout_rule=rule,
    )
    return Snapshot(
        snapshot.category_ids,
        snapshot.category_names,
        snapshot.images,
        rule,
        data_hash=snapshot_hash(snapshot, images),
    )


def snapshot_hash(snapshot: Snapshot, rows: dict[int, Any] | None = None) -> str:
    """SHA-256 over the categories, each image (file hash, split, labels) and its masks."""
    h = hashlib.sha256()
    h.update(json.dumps([snapshot.category_ids, snapshot.category_names]).encode())
    for image in snapshot.images:
        file_hash = rows[image.id].sha256 if rows is not None else None
        h.update(
            json.dumps(
                [
                    image.id,
                    file_hash or image.path,
                    image.split,
                    sorted(image.positive),
                    sorted(image.negative),
                    sorted(image.not_exhaustive),
                    sorted(image.unverified),
                    image.spotting_finished,
                ]
            ).encode()
        )
        for instance in image.instances:
            kind, data = instance.mask.to_bytes()
            h.update(f"{instance.category_id}:{kind}:".encode())
            h.update(data)
    return h.hexdigest()

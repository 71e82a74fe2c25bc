"""A frozen, hashed view of the store that a training run reads (torch-free).

Training never reads the live store: annotators keep working while a model trains, and a
run must be repeatable. :func:`take_snapshot` reads, in one read transaction:

- the categories (the model's classes, in id order);
- for every image with at least one federated label, its accepted masks only (non-crowd
  instances whose current segment was accepted; accepted crowd regions apart, for the
  evaluation to ignore), its positives P, verified negatives N,
  not-exhaustive categories, and the pairs that are *unverified* (spotted, confirmed but
  not accepted, rejected: neither positive nor negative), and whether its spotting
  finished (then a category nobody spotted is a "likely negative", see
  :mod:`model.training.loss`);
- the split: images imported as ``val`` are held out when the project has any; otherwise
  a stable hash of the image's content (its SHA-256, else its path) holds out the
  project setting ``heldout_fraction`` (10% by default). Splits are *recorded*: each
  run writes the held-out images it is evaluated on, by content, into its model folder
  (:func:`record_heldout`, ``heldout.json``), and an image that a registered model held
  out stays held out whatever is imported later (a first ``val`` image no longer
  turns the hash split into a val split for the images already held out). Content
  duplicates fall on one side: when any copy is held out, every copy is.
  ``evaluate --model`` scores the model's own recorded set (``recorded_for``).

Its :attr:`Snapshot.data_hash` covers all of that (masks included), so a checkpoint
records exactly which data it saw and ``--resume`` can refuse to continue on other data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Row, select

from pipeline.errors import LongtailError
from pipeline.federated import FederatedLabels, federated_labels
from pipeline.images import ImageFiles, OutsideRootError
from pipeline.masks.geometry import Mask
from pipeline.store import schema as s
from pipeline.store.database import Project, read_settings
from pipeline.store.settings import ProjectSettings

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
    # Accepted crowd regions: never trained on; ignore regions in the COCO evaluation.
    crowds: tuple[SnapshotInstance, ...] = ()


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

    def ground_truth(
        self, images: Iterable[SnapshotImage] | None = None, *, crowds: bool = True
    ) -> dict[str, Any]:
        """An LVIS v1 ground-truth dict of ``images`` (default: the held-out split) for
        :mod:`pipeline.evaluation`: masks as RLE, federated lists per image, and each
        category's frequency group from the train split's image counts. ``crowds``:
        the crowd regions too (``iscrowd`` 1: ignore regions for COCO AP, as in
        pycocotools; LVIS has none)."""
        chosen = list(self.heldout if images is None else images)
        counts = self.train_image_counts()
        annotations: list[dict[str, Any]] = []
        for image in chosen:
            regions = [(a, 0) for a in image.instances]
            if crowds:
                regions += [(a, 1) for a in image.crowds]
            for instance, crowd in regions:
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image.id,
                        "category_id": instance.category_id,
                        "segmentation": instance.mask.coco_rle(),
                        "area": float(instance.mask.area),
                        "bbox": list(instance.bbox),
                        "iscrowd": crowd,
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


HELDOUT_FILE = "heldout.json"


def image_key(sha256: str | None, path: str) -> str:
    """What identifies an image's content for the split: its SHA-256, else its path."""
    return sha256 or path


_ProjectRows = tuple[
    ProjectSettings,
    Sequence[Row],  # categories (id, name)
    dict[int, Row],  # images by id
    dict[int, FederatedLabels],
    set[int],  # images whose spotting is finished
    dict[int, set[int]],  # the categories answered on each image
    Sequence[Row],  # accepted instances with their accepted segments
]


def _rows(project: Project) -> _ProjectRows:
    ic, inst, seg = s.image_categories, s.instances, s.segments
    with project.read() as conn:
        settings = read_settings(conn)
        categories = conn.execute(
            select(s.categories.c.id, s.categories.c.name).order_by(s.categories.c.id)
        ).all()
        labels = federated_labels(conn)
        columns = (s.images.c.id, s.images.c.path, s.images.c.file_name, s.images.c.width)
        more = (s.images.c.height, s.images.c.sha256, s.images.c.split)
        images = {r.id: r for r in conn.execute(select(*columns, *more))}
        finished = set(conn.execute(select(s.spotting_finished.c.image_id)).scalars())
        answered: dict[int, set[int]] = {}
        # the stored pairs only: an implicit negative (pair_labels) is a negative, in
        # the labels, so it is never among the unverified this is read for
        for image_id, category_id in conn.execute(select(ic.c.image_id, ic.c.category_id)):
            answered.setdefault(image_id, set()).add(category_id)
        query = (
            select(inst.c.image_id, inst.c.category_id, seg.c.mask_kind, seg.c.mask)
            .add_columns(seg.c.bbox_x, seg.c.bbox_y, seg.c.bbox_w, seg.c.bbox_h)
            .join(seg, seg.c.instance_id == inst.c.id)
            .add_columns(inst.c.is_crowd)
            .where(inst.c.status == s.ACCEPTED, seg.c.status == s.SEGMENT_ACCEPTED)
            .order_by(inst.c.image_id, inst.c.id)
        )
        rows = conn.execute(query).all()
    return settings, categories, images, labels, finished, answered, rows


def _masks(
    rows: Sequence[Row], images: dict[int, Row]
) -> tuple[dict[int, list[SnapshotInstance]], dict[int, list[SnapshotInstance]]]:
    """Each image's accepted instances, and its accepted crowd regions."""
    masks: dict[int, list[SnapshotInstance]] = {}
    crowds: dict[int, list[SnapshotInstance]] = {}
    for row in rows:
        image = images[row.image_id]
        mask = Mask.from_bytes(row.mask_kind, row.mask, image.height, image.width)
        box = (float(row.bbox_x), float(row.bbox_y), float(row.bbox_w), float(row.bbox_h))
        into = crowds if row.is_crowd else masks
        into.setdefault(row.image_id, []).append(SnapshotInstance(int(row.category_id), mask, box))
    return masks, crowds


def _held_out_keys(
    images: dict[int, Any], fraction: float, kept: frozenset[str], exact: frozenset[str] | None
) -> tuple[set[str], str]:
    """The content keys held out, and the rule's name. ``exact``: exactly that recorded
    set; else the rule (val split, else hash) plus ``kept`` (registered models' sets).
    A key stands for every copy of the content, so duplicates share one side."""
    keys = {i: image_key(r.sha256, r.path) for i, r in images.items()}
    if exact is not None:
        return {k for k in keys.values() if k in exact}, "recorded"
    use_val = any(r.split == VAL_SPLIT for r in images.values())
    if use_val:
        by_rule = {keys[i] for i, r in images.items() if r.split == VAL_SPLIT}
    else:
        by_rule = {k for k in keys.values() if heldout_by_hash(k, fraction)}
    held = by_rule | (kept & set(keys.values()))
    rule = "val split" if use_val else f"hash {fraction:.0%}"
    return held, rule if held == by_rule else f"{rule} + held out before"


def take_snapshot(
    project: Project,
    *,
    heldout_fraction: float | None = None,
    recorded: frozenset[str] | None = None,
    rule_name: str | None = None,
) -> Snapshot:
    """Read the project's curated data (see the module docstring). ``recorded``: hold
    out exactly these content keys (a model's recorded set; ``rule_name`` names it)."""
    settings, categories, images, labels, finished, answered, rows = _rows(project)
    if not categories:
        raise SnapshotError("the project has no categories; a model needs a vocabulary")
    fraction = settings.heldout_fraction if heldout_fraction is None else heldout_fraction
    kept = frozenset() if recorded is not None else registered_heldout(project)
    held, rule = _held_out_keys(images, fraction, kept, recorded)
    masks, crowds = _masks(rows, images)
    files = ImageFiles(project)  # each path checked against the image roots
    chosen = []
    for image_id in sorted(images):
        label = labels.get(image_id)
        if label is None or not (label.positive_category_ids or label.negative_category_ids):
            continue  # nothing verified about this image: nothing to learn from it
        row = images[image_id]
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
                split=HELDOUT if image_key(row.sha256, row.path) in held else TRAIN,
                instances=tuple(masks.get(image_id, ())),
                positive=label.positive_category_ids,
                negative=label.negative_category_ids,
                not_exhaustive=label.not_exhaustive_category_ids,
                unverified=frozenset(answered.get(image_id, set()) - known),
                spotting_finished=image_id in finished,
                crowds=tuple(crowds.get(image_id, ())),
            )
        )
    ids = tuple(int(c.id) for c in categories)
    names = tuple(c.name for c in categories)
    rule = rule_name or rule
    snapshot = Snapshot(ids, names, tuple(chosen), rule)
    return Snapshot(ids, names, snapshot.images, rule, data_hash=snapshot_hash(snapshot, images))


# ---------------------------------------------------------------- recorded splits


def record_heldout(folder: Path, snapshot: Snapshot, keys: dict[int, str]) -> Path:
    """Write the run's held-out images (content keys and ids) into its model folder."""
    from pipeline.outputs import atomic_path

    heldout = snapshot.heldout
    doc = {
        "rule": snapshot.heldout_rule,
        "images": [{"key": keys[im.id], "image_id": im.id} for im in heldout],
    }
    target = folder / HELDOUT_FILE
    with atomic_path(target) as temp:
        temp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return target


def read_heldout(folder: Path) -> frozenset[str] | None:
    """A model folder's recorded held-out keys; None when it has none (an older model)."""
    path = folder / HELDOUT_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path} is damaged ({exc})") from None
    return frozenset(str(entry["key"]) for entry in doc.get("images", ()))


def registered_heldout(project: Project) -> frozenset[str]:
    """Every content key a registered model holds out (they stay held out)."""
    from .registry import list_models, model_dir

    kept: set[str] = set()
    for record in list_models(project):
        try:
            recorded = read_heldout(model_dir(project, record.id))
        except LongtailError:
            continue
        kept |= recorded or set()
    return frozenset(kept)


def content_keys(project: Project) -> dict[int, str]:
    """Each image's content key, by id."""
    with project.read() as conn:
        rows = conn.execute(select(s.images.c.id, s.images.c.sha256, s.images.c.path)).all()
    return {r.id: image_key(r.sha256, r.path) for r in rows}


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

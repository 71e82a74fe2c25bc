"""Weights without a network: a file the user names, or torchvision's cache.

Where a model's starting weights come from, best first:

1. a file the user names (``--weights FILE``): a longtail checkpoint (``{"model":
   state_dict, "categories": [...], "architecture": ...}``), a whole torchvision
   Mask R-CNN state dict (e.g. the COCO one), or a backbone classifier's state dict;
2. torchvision's cache, ``$TORCH_HOME/hub/checkpoints/`` (``~/.cache/torch`` by
   default): the COCO Mask R-CNN for ``r50-fpn-v2``, else the ImageNet classifier
   of the backbone (ResNet-50, Swin-T);
3. nothing: the model keeps its random initialisation, and the report says so.

Files are read with ``torch.load(weights_only=True)``. A checkpoint trained on another
vocabulary initialises everything but the class-specific predictors (class scores,
box regression, mask logits); their rows are copied for the project's categories whose
name (or a synonym) matches one of the checkpoint's, the rest stay random.

:func:`fetch` lets torchvision download a known checkpoint into its cache, which
needs a network.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models import ResNet50_Weights, Swin_T_Weights
from torchvision.models.detection import MaskRCNN, MaskRCNN_ResNet50_FPN_V2_Weights

from pipeline.errors import LongtailError
from pipeline.vocabulary import match_categories, normalize

from .zoo import ClassAgnosticMaskPredictor, architecture

COCO = "coco"  # a whole Mask R-CNN trained on COCO (91 torchvision classes)
BACKBONE = "backbone"  # an ImageNet classifier whose trunk is the backbone
LONGTAIL = "longtail"  # a checkpoint written by longtail's training
SOFTMAX = "softmax"  # class scores of torchvision's (and COCO's) heads
SIGMOID = "sigmoid"  # class scores of longtail's federated heads (model.training.loss)
SIGMOID_HEADS = "federated-sigmoid"  # a longtail checkpoint's "heads" value


class WeightsError(LongtailError):
    """A weights file that cannot be read, or does not fit the model."""


@dataclass(frozen=True)
class KnownCheckpoint:
    """A checkpoint torchvision publishes, by the file name its cache uses."""

    key: str
    kind: str  # COCO or BACKBONE
    architecture: str
    weights: Any  # the torchvision Weights enum member (its url names the file)
    alternatives: tuple[Any, ...] = ()  # other files of the same kind that fit too

    @property
    def file_name(self) -> str:
        return _file_name(self.weights)

    @property
    def file_names(self) -> tuple[str, ...]:
        return (self.file_name, *(_file_name(w) for w in self.alternatives))


def _file_name(weights: Any) -> str:
    url: str = weights.url
    return url.rsplit("/", 1)[-1]


KNOWN: dict[str, KnownCheckpoint] = {
    c.key: c
    for c in (
        KnownCheckpoint(
            "maskrcnn_resnet50_fpn_v2_coco",
            COCO,
            "r50-fpn-v2",
            MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
        ),
        KnownCheckpoint(
            "resnet50_imagenet",
            BACKBONE,
            "r50-fpn-v2",
            ResNet50_Weights.IMAGENET1K_V1,
            (ResNet50_Weights.IMAGENET1K_V2,),
        ),
        KnownCheckpoint("swin_t_imagenet", BACKBONE, "swin-t", Swin_T_Weights.IMAGENET1K_V1),
    )
}
COCO_CLASSES: tuple[str, ...] = tuple(MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1.meta["categories"])
"""torchvision's 91 COCO classes: background, the 80 categories, and "N/A" gaps."""


def cache_dir() -> Path:
    """torchvision's checkpoint cache: ``$TORCH_HOME/hub/checkpoints`` (read at each call)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


# ---------------------------------------------------------------- what is where


@dataclass(frozen=True)
class Found:
    checkpoint: KnownCheckpoint
    path: Path | None  # None: not in the cache


def survey() -> list[Found]:
    """Each known checkpoint and the cache file holding it (or None)."""
    folder = cache_dir()
    found = []
    for checkpoint in KNOWN.values():
        path = next((folder / n for n in checkpoint.file_names if (folder / n).is_file()), None)
        found.append(Found(checkpoint, path))
    return found


def find_cached(key: str) -> Path | None:
    return next(f.path for f in survey() if f.checkpoint.key == key)


# ---------------------------------------------------------------- the report


@dataclass
class WeightsReport:
    """What initialised a model: where it came from and which parts it filled."""

    architecture: str
    source: str = "none"  # "file", "torchvision cache" or "none"
    path: Path | None = None
    kind: str | None = None  # COCO, BACKBONE or LONGTAIL
    parts: list[str] = field(default_factory=list)
    matched_categories: int = 0
    total_categories: int = 0
    note: str = ""  # said after the summary (e.g. trained models that are not in use)
    scoring: str = ""  # how the class head was trained: SOFTMAX, SIGMOID, "" (the model's)
    trained_rows: tuple[int, ...] | None = None  # 0-based categories the checkpoint filled

    @property
    def has_weights(self) -> bool:
        return self.kind is not None

    @property
    def trained_masks(self) -> bool:
        """Was the mask head trained (so a box prompt can trust it)?"""
        return self.kind in (COCO, LONGTAIL)

    def summary(self) -> str:
        if not self.has_weights:
            text = (
                f"{self.architecture}: no weights found (no --weights file, nothing usable in "
                f"{cache_dir()}); random initialisation"
            )
        else:
            text = f"{self.architecture}: {self.kind} weights from {self.path} ({self.source})"
            if self.parts:
                text += ": " + ", ".join(self.parts)
        return f"{text}; {self.note}" if self.note else text


def unused_models_hint(project: Any, target: str | None = None) -> str:
    """When ``project`` has trained models but none is in use: a line that says so and
    names ``longtail models PROJECT --use ID`` (the newest usable one); else ''."""
    from .training.registry import list_models

    records = list_models(project)
    if any(r.in_use for r in records):
        return ""
    usable = [r for r in records if r.usable]
    if not usable:
        return ""
    newest = max(usable, key=lambda r: r.id)
    listed = ", ".join(str(r.id) for r in usable)
    where = target if target is not None else str(getattr(project, "folder", None) or "PROJECT")
    return (
        f"the project has {len(usable)} trained model{'s' if len(usable) != 1 else ''} "
        f"({listed}) but none is in use: `longtail models {where} --use {newest.id}` "
        "proposes with it"
    )


# ---------------------------------------------------------------- reading files


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint file as a dict of tensors (and plain values), safely loaded."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(4)
    # torch.save writes a zip archive; very old files are a bare pickle (protocol 2+).
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):
        raise WeightsError(
            f"weights file {path} is not a PyTorch checkpoint (damaged or another format)"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        foreign = foreign_in_bytes(path)
        if foreign is not None:
            raise WeightsError(_foreign_message(path, foreign)) from None
        if "Weights only load failed" in str(exc):
            raise WeightsError(
                f"weights file {path} holds objects other than tensors and plain values; "
                "it cannot be read safely (torch.load weights_only=True)"
            ) from None
        raise WeightsError(f"cannot read weights file {path}: {_first_line(exc)}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError) as exc:
        raise WeightsError(
            f"cannot read weights file {path}: damaged or truncated ({_first_line(exc)})"
        ) from None
    if not isinstance(data, Mapping):
        raise WeightsError(f"weights file {path} holds a {type(data).__name__}, not a state dict")
    return dict(data)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


FOREIGN_KEYS: dict[str, tuple[str, ...]] = {
    # detectron2 (its Checkpointer's .pth and its model zoo's .pkl)
    "detectron2": ("backbone.bottom_up.", "proposal_generator.", "roi_heads.box_head.fc1."),
    # MMDetection (a "state_dict" with a neck and roi_head)
    "MMDetection": ("neck.", "rpn_head.", "roi_head.", "bbox_head."),
    # Segment Anything (SAM and SAM 2)
    "Segment Anything (SAM)": (
        "image_encoder.",
        "prompt_encoder.",
        "mask_decoder.",
        "sam_mask_decoder.",
        "sam_prompt_encoder.",
    ),
}
FOREIGN_MARKERS: dict[str, tuple[bytes, ...]] = {
    "detectron2": (
        b"__author__",
        b"matching_heuristics",
        b"backbone.bottom_up",
        b"proposal_generator",
    ),
    "MMDetection": (b"mmdet_version", b"roi_head.bbox_head", b"neck.lateral_convs"),
    "Segment Anything (SAM)": (
        b"image_encoder.patch_embed",
        b"prompt_encoder.",
        b"sam_mask_decoder",
    ),
}


def foreign_kind(state: Mapping[str, Any]) -> str | None:
    """The other toolkit a loaded checkpoint comes from (detectron2, MMDetection, SAM),
    by its key layout; None for a layout longtail may read."""
    keys = [str(k) for k in state]
    for inner in ("model", "state_dict"):
        if isinstance(state.get(inner), Mapping):
            keys += [str(k) for k in state[inner]]
    if "__author__" in state or "matching_heuristics" in state:
        return "detectron2"
    meta = state.get("meta")
    if isinstance(meta, Mapping) and any("mmdet" in str(k) for k in meta):
        return "MMDetection"
    for name, prefixes in FOREIGN_KEYS.items():
        if any(k.startswith(prefixes) for k in keys):
            return name
    return None


def foreign_in_bytes(path: Path, limit: int = 8 << 20) -> str | None:
    """The toolkit named by marker strings in a file torch will not load safely (a
    detectron2 .pkl holds numpy arrays): read as bytes, never unpickled."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                data = archive.read(names[0])[:limit] if names else b""
        else:
            with open(path, "rb") as f:
                data = f.read(limit)
    except (OSError, zipfile.BadZipFile, KeyError):
        return None
    for name, markers in FOREIGN_MARKERS.items():
        if any(m in data for m in markers):
            return name
    return None


def _foreign_message(path: Path | str, toolkit: str) -> str:
    if toolkit.startswith("Segment Anything"):
        return (
            f"weights file {path} is a {toolkit} checkpoint, not a Mask R-CNN; longtail "
            "cannot propose with it"
        )
    return (
        f"weights file {path} is a {toolkit} checkpoint; longtail reads torchvision Mask "
        "R-CNN weights, longtail checkpoints and ResNet-50 / Swin-T classifiers (convert it "
        "to torchvision's layout first)"
    )


def checkpoint_kind(state: Mapping[str, Any], source: str = "the file") -> str:
    """COCO (a whole Mask R-CNN), BACKBONE (a classifier) or LONGTAIL, from the keys;
    a checkpoint of detectron2, MMDetection or SAM is refused by name."""
    foreign = foreign_kind(state)
    if foreign is not None:
        raise WeightsError(_foreign_message(source.removeprefix("weights file "), foreign))
    if "model" in state and isinstance(state["model"], Mapping):
        if not any(str(k).startswith(("backbone.", "roi_heads.")) for k in state["model"]):
            raise WeightsError(
                f"{source} has a 'model' state of an unknown layout (not a longtail checkpoint)"
            )
        return LONGTAIL
    if "roi_heads.box_predictor.cls_score.weight" in state:
        return COCO
    if "conv1.weight" in state or "features.0.0.weight" in state:
        return BACKBONE
    raise WeightsError(
        f"{source} is neither a Mask R-CNN, a ResNet-50 / Swin-T classifier, nor a longtail checkpoint"
    )


# ---------------------------------------------------------------- loading


CLASS_SPECIFIC = (
    "roi_heads.box_predictor.cls_score.",
    "roi_heads.box_predictor.bbox_pred.",
    "roi_heads.mask_predictor.mask_fcn_logits.",
)


def load_weights(
    model: MaskRCNN,
    architecture_name: str,
    categories: Sequence[Any],
    weights: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
) -> WeightsReport:
    """Initialise ``model`` from ``weights`` or the torchvision cache; what happened.

    ``categories`` are the project's, in class order (category ``i`` is class
    ``i + 1``): names, or objects with ``name`` and ``synonyms``.
    """
    report = WeightsReport(architecture_name, total_categories=len(categories))
    arch = architecture(architecture_name)
    if weights is not None:
        path = Path(weights).expanduser()
        report.source = "file"
    else:
        if not use_cache:
            return report
        cached = None
        for key in (arch.coco_checkpoint, arch.backbone_checkpoint):
            if key is not None and (cached := find_cached(key)) is not None:
                break
        if cached is None:
            return report
        path = cached
        report.source = "torchvision cache"
    state = read_checkpoint(path)
    kind = checkpoint_kind(state, f"weights file {path}")
    report.path, report.kind = path, kind
    where = f"weights file {path}"
    if kind == LONGTAIL:
        saved = state.get("architecture")
        if saved and saved != architecture_name:
            raise WeightsError(f"{where} is a {saved} model, not {architecture_name}")
        names = [str(n) for n in state.get("categories") or []]
        # every longtail run trains sigmoid heads; a file that says otherwise is softmax
        report.scoring = SIGMOID if state.get("heads", SIGMOID_HEADS) == SIGMOID_HEADS else SOFTMAX
        _load_detector(model, state["model"], names, categories, report, where)
    elif kind == COCO:
        report.scoring = SOFTMAX
        _load_detector(model, state, list(COCO_CLASSES[1:]), categories, report, where)
    else:
        _load_backbone(model, state, architecture_name, report, where)
    return report


def _load_detector(
    model: MaskRCNN,
    state: Mapping[str, Tensor],
    source_names: Sequence[str],
    categories: Sequence[Any],
    report: WeightsReport,
    where: str,
) -> None:
    """All but the class-specific predictors strictly; those row by matched category."""
    target = model.state_dict()
    shared = {k: v for k, v in state.items() if not k.startswith(CLASS_SPECIFIC)}
    _check_fit(target, shared, where, ignore=CLASS_SPECIFIC)
    mapping = checkpoint_rows(source_names, categories)
    report.matched_categories = sum(1 for m in mapping if m is not None)
    report.trained_rows = tuple(i for i, m in enumerate(mapping) if m is not None)
    merged = dict(shared)
    # Class 0 (background) is class 0 in both; category i is class i + 1.
    rows = [0, *[None if m is None else m + 1 for m in mapping]]
    real = [i + 1 for i, n in enumerate(source_names) if normalize(n) != "n/a"]
    # A sigmoid head (longtail's federated one) scores each class alone: softmax-trained
    # rows carry an arbitrary common offset that a softmax cancels and a sigmoid does
    # not (COCO's rows read 0.9+ for every class), so they come in calibrated.
    calibrate = report.scoring == SOFTMAX and getattr(model.roi_heads, "sigmoid_scores", False)
    for prefix, per_class in (
        ("roi_heads.box_predictor.cls_score.", 1),
        ("roi_heads.box_predictor.bbox_pred.", 4),
    ):
        for suffix in ("weight", "bias"):
            key = prefix + suffix
            if key not in state:
                continue
            source = state[key]
            if calibrate and prefix.endswith("cls_score."):
                source = softmax_rows_for_sigmoid(source)
            merged[key] = _take_rows(source, target[key], rows, per_class, where, key)
            if per_class == 4:  # unmatched categories regress boxes as the mean class
                merged[key] = _fill_unmatched(merged[key], source, rows, real, 4)
    mask_key = "roi_heads.mask_predictor.mask_fcn_logits."
    agnostic = isinstance(model.roi_heads.mask_predictor, ClassAgnosticMaskPredictor)
    for suffix in ("weight", "bias"):
        key = mask_key + suffix
        mask_source = state.get(key)
        if mask_source is None:
            continue
        if agnostic:
            # A shared channel from a class-specific one: the mean over the real classes
            # (mask logits are linear in these weights, so this averages the classes' logits).
            merged[key] = _mean_row(mask_source, real, 1).to(target[key].dtype)
        elif mask_source.shape[0] == 1:  # an agnostic checkpoint into a class-specific head
            merged[key] = mask_source.expand_as(target[key]).clone()
        else:
            merged[key] = _take_rows(mask_source, target[key], rows, 1, where, key)
            # A category the checkpoint lacks gets the class-agnostic channel (the mean of
            # the trained ones), not a random one: a box prompt for it reads a real mask.
            merged[key] = _fill_unmatched(merged[key], mask_source, rows, real, 1)
    missing, unexpected = model.load_state_dict(merged, strict=False)
    if unexpected:
        raise WeightsError(f"{where} has keys the model lacks: {', '.join(unexpected[:3])}")
    report.parts = ["backbone", "rpn", "box head", "mask head"]
    report.parts.append(
        f"class predictors for {report.matched_categories} of {len(categories)} categories"
        " (the rest: the mean class's masks and boxes, random scores)"
        if report.matched_categories < len(categories)
        else "class predictors for all categories"
    )
    if missing and any(not k.startswith(CLASS_SPECIFIC) for k in missing):  # pragma: no cover
        raise WeightsError(f"{where} lacks {', '.join(missing[:3])}")


def softmax_rows_for_sigmoid(rows: Tensor) -> Tensor:
    """Softmax class rows (weight or bias, background first) for a sigmoid head: each
    minus the background row, so a class's sigmoid is the softmax's own odds of that
    class against background, ``p_k / (p_k + p_0)``, whatever the common offset."""
    out = rows - rows[:1]
    out[0] = rows[0]  # a sigmoid head never reads the background row
    return out


def _mean_row(source: Tensor, real: list[int], per_class: int) -> Tensor:
    """The mean class row (``per_class`` rows each) over the real classes."""
    classes = source.shape[0] // per_class
    picked = [c for c in real if c < classes] or list(range(1, classes)) or [0]
    blocks = source.reshape(classes, per_class, *source.shape[1:])[picked]
    return blocks.mean(dim=0)


def _fill_unmatched(
    merged: Tensor, source: Tensor, rows: list[int | None], real: list[int], per_class: int
) -> Tensor:
    """``merged`` with the rows of unmatched classes set to the source's mean class."""
    missing = [new for new, old in enumerate(rows) if old is None and new > 0]
    if not missing:
        return merged
    mean = _mean_row(source, real, per_class).to(merged.dtype)
    out = merged.clone()
    for new in missing:
        out[new * per_class : (new + 1) * per_class] = mean
    return out


def _take_rows(
    source: Tensor, target: Tensor, rows: list[int | None], per_class: int, where: str, key: str
) -> Tensor:
    """``target`` with the class rows of ``source`` copied where ``rows`` maps them."""
    if source.shape[1:] != target.shape[1:]:
        raise WeightsError(
            f"{where} does not fit: {key} is {tuple(source.shape)}, the model wants {tuple(target.shape)}"
        )
    out = target.clone()
    classes = source.shape[0] // per_class
    for new, old in enumerate(rows):
        if old is not None and old < classes:
            out[new * per_class : (new + 1) * per_class] = source[
                old * per_class : (old + 1) * per_class
            ]
    return out


def _check_fit(
    target: Mapping[str, Tensor],
    state: Mapping[str, Tensor],
    where: str,
    ignore: tuple[str, ...] = (),
) -> None:
    """Raise a WeightsError naming what is missing, extra or of the wrong shape."""
    missing = [k for k in target if k not in state and not k.startswith(ignore)]
    unexpected = [k for k in state if k not in target and not k.startswith(ignore)]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(target[k].shape)}"
        for k in state
        if k in target and hasattr(state[k], "shape") and state[k].shape != target[k].shape
    ]
    if missing or unexpected or wrong:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if wrong:
            problems.append(f"{len(wrong)} tensors of the wrong shape (e.g. {wrong[0]})")
        raise WeightsError(f"{where} does not fit this model: " + "; ".join(problems))


def _load_backbone(
    model: MaskRCNN, state: Mapping[str, Tensor], name: str, report: WeightsReport, where: str
) -> None:
    """An ImageNet classifier's trunk into the backbone body (its head is dropped)."""
    body: nn.Module = model.backbone.body
    if name == "swin-t":
        trunk = {k: v for k, v in state.items() if k.startswith("features.")}
    else:
        trunk = {k: v for k, v in state.items() if not k.startswith("fc.")}
    target = {k: v for k, v in body.state_dict().items() if not k.startswith("norms.")}
    _check_fit(target, trunk, where)
    body.load_state_dict(trunk, strict=False)
    report.parts = [f"backbone trunk ({len(trunk)} tensors); FPN, RPN and heads random"]


# ---------------------------------------------------------------- categories


def checkpoint_rows(source_names: Sequence[str], categories: Sequence[Any]) -> list[int | None]:
    """For each project category, the index of the checkpoint category it is (or None),
    by the one matching rule, :func:`pipeline.vocabulary.match_categories`."""
    matching = match_categories(source_names, categories)
    of_known = matching.incoming_for_known()
    return [of_known.get(j) for j in range(len(categories))]


# ---------------------------------------------------------------- downloading


def fetch(key: str) -> Path:
    """Let torchvision download a known checkpoint into its cache (needs a network)."""
    if key not in KNOWN:
        aliases = {c.file_name: c.key for c in KNOWN.values()}
        if key not in aliases:
            raise LongtailError(f"unknown checkpoint {key!r}; known: {', '.join(KNOWN)}")
        key = aliases[key]
    checkpoint = KNOWN[key]
    try:
        # torch.hub announces the download even when it then fails: keep a failure to
        # the one line below.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            checkpoint.weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # urllib, socket and hash errors all end the same way for a user
        raise LongtailError(
            f"cannot download {checkpoint.file_name} ({_first_line(exc)}); on a machine without a network, "
            f"copy the file into {cache_dir()} or pass it with --weights"
        ) from None
    path = find_cached(key)
    if path is None:  # pragma: no cover - torchvision wrote it elsewhere
        raise LongtailError(
            f"torchvision downloaded {checkpoint.file_name} but not into {cache_dir()}"
        )
    return path

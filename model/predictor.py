"""Prompted masks from a Mask R-CNN: box, point, or the whole image.

A :class:`Predictor` owns one model, its feature cache and its prefetch thread; there
is no module state, so several predictors (say, two projects) live side by side.
It is meant to be called from a worker thread (never the GUI thread):

- :meth:`Predictor.box_to_mask` — the user's box is the RoI, fed straight to the mask
  head on the cached features (no RPN, no detections): the mask of the given
  category's channel, else of the class the box head likes best (or the shared
  channel of a class-agnostic head);
- :meth:`Predictor.point_to_mask` — the best detection whose mask holds the point;
  else a box grown around the point, then as a box;
- :meth:`Predictor.propose` — every detection (box, mask, category, score);
- :meth:`Predictor.prefetch` — compute the next images' features ahead (cancellable).

Without trained mask weights (no checkpoint at all, or only an ImageNet backbone) a
box prompt is answered by the classical :mod:`model.fallback` and says so in
``Proposal.source``. Runs on CUDA when present (with AMP), else on the CPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import paste_masks_in_image

from pipeline.errors import ImageError, LongtailError, VocabularyError
from pipeline.images import load_image
from pipeline.masks.geometry import Box, Mask, prompt_box, prompt_point
from pipeline.vocabulary import normalize

from . import fallback
from .fallback import Click
from .features import Cancelled, CancelToken, FeatureCache, ImageFeatures, Prefetcher, PrefetchJob
from .weights import SIGMOID, SOFTMAX, WeightsReport, load_weights
from .zoo import DEFAULT_ARCHITECTURE, build_model, is_class_agnostic

ImageInput = str | os.PathLike | np.ndarray
"""An image file (EXIF orientation applied) or an H x W x 3 uint8 RGB array."""

MODEL = "model"
FALLBACK = "fallback"


@dataclass(frozen=True, eq=False)
class Proposal:
    """One proposed instance mask."""

    bitmap: np.ndarray  # (height, width) uint8, 1 inside
    box: Box  # x, y, w, h: the prompt box, or the detection's box
    score: float  # the model's class probability (1.0 for the fallback)
    category: str | None  # a project category name, or None when unknown
    category_index: int | None  # its 0-based index in the predictor's categories
    source: str  # "model", or "fallback:<method>" (see model.fallback)

    @property
    def mask(self) -> Mask:
        return Mask.from_bitmap(self.bitmap)

    @property
    def from_model(self) -> bool:
        return self.source == MODEL

    def coco_result(self, image_id: int, category_id: int | None) -> dict[str, Any]:
        """A COCO results entry (RLE segmentation, bbox of the mask, score)."""
        mask = self.mask
        return {
            "image_id": image_id,
            "category_id": category_id,
            "segmentation": mask.coco_rle(),
            "bbox": [round(v, 2) for v in (mask.bbox if mask.area else self.box)],
            "area": mask.area,
            "score": round(float(self.score), 5),
            "source": self.source,
        }


def image_key(image: ImageInput) -> Hashable:
    """The cache key of an image: its file (path, size, mtime) or its pixels' hash."""
    if isinstance(image, np.ndarray):
        digest = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).hexdigest()
        return ("pixels", image.shape, digest)
    path = Path(image).expanduser().resolve()
    try:
        stat = path.stat()
    except OSError:
        raise ImageError(f"{path}: file not found") from None
    return ("file", str(path), stat.st_size, stat.st_mtime_ns)


def best_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


class Predictor:
    """A Mask R-CNN ready for prompts, with cached features (see the module docstring).

    ``categories`` are the model's classes in order (category ``i`` is class ``i + 1``):
    names or :class:`pipeline.vocabulary.Category`. ``weights`` says what initialised
    the model; without trained mask weights, box prompts use the classical fallback.
    """

    def __init__(
        self,
        model: MaskRCNN,
        categories: Sequence[Any],
        *,
        weights: WeightsReport | None = None,
        device: torch.device | str | None = None,
        cache: FeatureCache | None = None,
        amp: bool | None = None,
        channels_last: bool | None = None,
        max_proposals: int | None = None,
        fallback_settings: fallback.FallbackSettings | None = None,
    ) -> None:
        self.device = torch.device(device) if device is not None else best_device()
        on_gpu = self.device.type == "cuda"
        self.amp = on_gpu if amp is None else bool(amp and on_gpu)
        self.channels_last = on_gpu if channels_last is None else bool(channels_last)
        self.weights = weights or WeightsReport("custom")
        # One scoring path for every way a model arrives: a sigmoid-trained head (a
        # longtail checkpoint, however it was loaded) gets the federated heads, whose
        # detections and box prompts score with sigmoids; softmax heads with softmax.
        if self.weights.scoring == SIGMOID and not _sigmoid_heads(model):
            from .training.loss import use_federated_heads

            use_federated_heads(model)
        self.weights.scoring = SIGMOID if _sigmoid_heads(model) else SOFTMAX
        self.model = model.eval().to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # Proposals kept after the RPN's NMS: the conv box head costs ~0.1 GFLOP each.
        limit = max_proposals if max_proposals is not None else (1000 if on_gpu else 300)
        self.model.rpn._post_nms_top_n["testing"] = int(limit)
        self.categories = list(categories)
        if len(self.categories) + 1 != self.model.roi_heads.box_predictor.cls_score.out_features:
            raise LongtailError(
                f"the model has {self.model.roi_heads.box_predictor.cls_score.out_features - 1} "
                f"classes but {len(self.categories)} categories were given"
            )
        self._names = [c if isinstance(c, str) else c.name for c in self.categories]
        self._index = {normalize(n): i for i, n in enumerate(self._names)}
        self.class_agnostic = is_class_agnostic(self.model)
        self.cache = cache if cache is not None else FeatureCache()
        self.fallback_settings = fallback_settings
        self.backbone_runs = 0  # how many times the backbone ran (tests and benchmarks)
        self._local = threading.local()  # the cancel token of the thread running a backbone
        self._count_lock = threading.Lock()
        for module in self.model.backbone.modules():
            module.register_forward_pre_hook(self._check_cancelled)
        self._prefetcher: Prefetcher | None = None

    @classmethod
    def load(
        cls,
        categories: Sequence[Any],
        architecture: str = DEFAULT_ARCHITECTURE,
        weights: str | os.PathLike | None = None,
        *,
        class_agnostic_masks: bool = False,
        use_cache: bool = True,
        min_size: int = 800,
        max_size: int = 1333,
        model_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Predictor:
        """Build ``architecture`` for ``categories`` and load its weights (see
        :func:`model.weights.load_weights`); other keyword arguments go to ``Predictor``."""
        model = build_model(
            architecture,
            len(categories) + 1,
            class_agnostic_masks=class_agnostic_masks,
            min_size=min_size,
            max_size=max_size,
            **(model_kwargs or {}),
        )
        report = load_weights(model, architecture, categories, weights, use_cache=use_cache)
        return cls(model, categories, weights=report, **kwargs)

    # ------------------------------------------------------------ state

    @property
    def trained(self) -> bool:
        """Are the mask head's weights trained (so box prompts use the model)?"""
        return self.weights.trained_masks

    def category_index(self, category: str | int | None) -> int | None:
        """The 0-based index of a category given by name (or synonym-free key) or index."""
        if category is None:
            return None
        if isinstance(category, int):
            if not 0 <= category < len(self.categories):
                raise VocabularyError(f"category index {category} is out of range")
            return category
        index = self._index.get(normalize(category))
        if index is None:
            raise VocabularyError(f"category {category!r} is not one of the model's categories")
        return index

    def close(self) -> None:
        """Stop the prefetch thread and drop the cached features."""
        if self._prefetcher is not None:
            self._prefetcher.shutdown()
            self._prefetcher = None
        self.cache.clear()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ features

    def features(
        self, image: ImageInput, *, key: Hashable | None = None, token: CancelToken | None = None
    ) -> ImageFeatures:
        """The backbone features of ``image``, from the cache or computed (once) now."""
        key = image_key(image) if key is None else key
        return self.cache.get_or_compute(key, lambda: self._compute(image, key, token))

    def prefetch(
        self, images: Iterable[ImageInput | tuple[Hashable, ImageInput]]
    ) -> PrefetchJob | None:
        """Compute the features of ``images`` ahead on a worker thread.

        A new call cancels the previous job. Items are images, or ``(key, image)`` pairs
        to use your own cache keys. The returned job can be cancelled and waited on;
        None where there is nothing to compute ahead (the classical fallback).
        """
        if self._prefetcher is None:
            self._prefetcher = Prefetcher(self._prefetch_one)
        return self._prefetcher.prefetch(images)

    def _prefetch_one(self, item: object, token: CancelToken) -> None:
        key, image = item if isinstance(item, tuple) else (None, item)
        self.features(image, key=key, token=token)

    def _check_cancelled(self, _module: object, _inputs: object) -> None:
        token = getattr(self._local, "token", None)
        if token is not None and token.cancelled:
            raise Cancelled()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def _pixels(self, image: ImageInput) -> np.ndarray:
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ImageError(f"an image array must be H x W x 3 uint8, got {image.shape}")
            return image
        return load_image(image)

    def _size(self, image: ImageInput) -> tuple[int, int]:
        """(height, width) as displayed, without decoding a file's pixels."""
        if isinstance(image, np.ndarray):
            return self._pixels(image).shape[:2]
        try:
            with Image.open(image) as img:
                width, height = img.size
                # EXIF orientations 5-8 turn the picture a quarter: as displayed, w and h swap
                turned = img.getexif().get(0x0112) in (5, 6, 7, 8)
            return (width, height) if turned else (height, width)
        except FileNotFoundError:
            raise ImageError(f"{image}: file not found") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageError(f"{image}: cannot be read as an image ({exc})") from None

    def _compute(
        self, image: ImageInput, key: Hashable, token: CancelToken | None
    ) -> ImageFeatures:
        if token is not None:
            token.raise_if_cancelled()
        pixels = self._pixels(image)
        height, width = pixels.shape[:2]
        if not (pixels.flags.writeable and pixels.flags.c_contiguous):
            pixels = np.array(pixels, order="C")  # torch wants writable memory
        tensor = torch.from_numpy(pixels).to(self.device)
        tensor = tensor.permute(2, 0, 1).float().div_(255.0)
        self._local.token = token
        try:
            with torch.inference_mode(), self._autocast():
                batch, _ = self.model.transform([tensor])
                if self.channels_last:
                    batch.tensors = batch.tensors.contiguous(memory_format=torch.channels_last)
                maps = self.model.backbone(batch.tensors)
        finally:
            self._local.token = None
        with self._count_lock:
            self.backbone_runs += 1
        resized = (int(batch.image_sizes[0][0]), int(batch.image_sizes[0][1]))
        padded = (int(batch.tensors.shape[-2]), int(batch.tensors.shape[-1]))
        return ImageFeatures(key, maps, (height, width), resized, padded)

    # ------------------------------------------------------------ prompts

    def box_to_mask(
        self,
        image: ImageInput,
        box: Box,
        *,
        category: str | int | None = None,
        key: Hashable | None = None,
        use_model: bool | None = None,
        points: Sequence[Click] = (),
    ) -> Proposal:
        """The mask of the object in ``box`` (x, y, w, h, image pixels).

        ``use_model`` None: the model when its mask head is trained, else the fallback.
        ``points`` are clicks ``(x, y, positive)`` that refine the mask: a positive click
        is on the object, a negative one off it. The fallback takes them as GrabCut's
        hard seeds; the model's mask seeds a GrabCut refinement with them (see
        :func:`model.fallback.refine`). The mask lies inside the box (grown to hold the
        positive clicks) and has the image's size.
        """
        index = self.category_index(category)
        use_model = self.trained if use_model is None else use_model
        points = _clicks(points)
        if not use_model:
            return self._fallback(image, box, index, points)
        feats = self.features(image, key=key)
        box = _clip_box(box, feats.original_size)
        box = fallback.holding_clicks(box, points, *feats.original_size)
        probability, class_index, score = self._box_head_and_mask(feats, box, index)
        bitmap = _inside_box((probability > 0.5).astype(np.uint8), box)
        if not bitmap.any() and self.trained:
            # The model sees nothing there: the classical answer beats an empty mask.
            result = self._fallback(image, box, index, points)
            return Proposal(result.bitmap, box, result.score, result.category, index, result.source)
        if points:
            bitmap = fallback.refine(
                self._pixels(image), box, probability, points, self.fallback_settings
            )
        return Proposal(bitmap, box, score, self._name(class_index), class_index, MODEL)

    def point_to_mask(
        self,
        image: ImageInput,
        point: tuple[float, float],
        *,
        category: str | int | None = None,
        key: Hashable | None = None,
        use_model: bool | None = None,
        points: Sequence[Click] = (),
    ) -> Proposal:
        """The best detection whose mask holds ``point`` (x, y) and every positive click
        of ``points`` and no negative one, refined by ``points``; if none, the mask of a
        box grown around the point (see :func:`grown_box`) with ``point`` as a positive
        click besides ``points``."""
        index = self.category_index(category)
        use_model = self.trained if use_model is None else use_model
        size = self._size(image)
        # A point off the image is refused before any model work (PromptError).
        x, y = prompt_point((float(point[0]), float(point[1])), *size)
        points = _clicks(points)
        clicks = [(x, y, True), *points]
        if use_model:
            feats = self.features(image, key=key)
            height, width = feats.original_size

            def agrees(p: Proposal) -> bool:
                for cx, cy, positive in clicks:
                    col, row = int(np.clip(cx, 0, width - 1)), int(np.clip(cy, 0, height - 1))
                    if bool(p.bitmap[row, col]) != positive:
                        return False
                return True

            candidates = [
                p
                for p in self._detect(feats)
                if index is None or p.category_index == index
                if agrees(p)
            ]
            if candidates:
                best = max(candidates, key=lambda p: p.score)
                if not points:
                    return best
                bitmap = fallback.refine(
                    self._pixels(image),
                    best.box,
                    best.bitmap.astype(np.float32),
                    clicks,
                    self.fallback_settings,
                )
                return Proposal(
                    bitmap, best.box, best.score, best.category, best.category_index, MODEL
                )
        box = grown_box((x, y), size)
        return self.box_to_mask(
            image, box, category=index, key=key, use_model=use_model, points=clicks
        )

    def propose(
        self,
        image: ImageInput,
        *,
        key: Hashable | None = None,
        score_threshold: float = 0.05,
        max_detections: int | None = None,
    ) -> list[Proposal]:
        """Every detection of the model on ``image``, best first."""
        found = [
            p for p in self._detect(self.features(image, key=key)) if p.score >= score_threshold
        ]
        return found[:max_detections] if max_detections is not None else found

    # ------------------------------------------------------------ internals

    def _name(self, index: int | None) -> str | None:
        return None if index is None else self._names[index]

    def _fallback(
        self, image: ImageInput, box: Box, index: int | None, points: Sequence[Click] = ()
    ) -> Proposal:
        pixels = self._pixels(image)
        box = _clip_box(box, pixels.shape[:2])
        result = fallback.box_to_mask(pixels, box, self.fallback_settings, points)
        box = fallback.holding_clicks(box, points, *pixels.shape[:2])
        return Proposal(
            result.bitmap, box, 1.0, self._name(index), index, f"{FALLBACK}:{result.method}"
        )

    def _box_head_and_mask(
        self, feats: ImageFeatures, box: Box, index: int | None
    ) -> tuple[np.ndarray, int, float]:
        """Mask probability (image size), the class used, and its probability.

        Only the RoI pooling and the box and mask heads run on the one RoI: no RPN.
        """
        heads = self.model.roi_heads
        sy, sx = feats.scale
        x, y, w, h = box
        original = torch.tensor([[x, y, x + w, y + h]], dtype=torch.float32, device=self.device)
        roi = original * torch.tensor([sx, sy, sx, sy], device=self.device)
        shapes = [feats.resized_size]
        with torch.inference_mode(), self._autocast():
            pooled = heads.box_head(heads.box_roi_pool(feats.maps, [roi], shapes))
            class_logits, _ = heads.box_predictor(pooled)
            if self.weights.scoring == SIGMOID:  # a longtail-trained (federated) head
                probabilities = class_logits.float().sigmoid()[0]
            else:
                probabilities = class_logits.float().softmax(-1)[0]
            trained = self.weights.trained_rows
            if index is None:
                class_index = int(probabilities[1:].argmax())
            else:
                class_index = index
            score = float(probabilities[class_index + 1])
            if trained is not None and class_index not in trained and trained:
                # a category the checkpoint lacks has a random score row: the score of
                # the class the box head likes best among the trained ones instead
                score = float(probabilities[[r + 1 for r in trained]].max())
            mask_logits = heads.mask_predictor(
                heads.mask_head(heads.mask_roi_pool(feats.maps, [roi], shapes))
            )
            channel = 0 if self.class_agnostic else class_index + 1
            probability = mask_logits[:, channel : channel + 1].float().sigmoid()
            pasted = paste_masks_in_image(probability, original, feats.original_size, padding=1)
        return pasted[0, 0].cpu().numpy(), class_index, score

    def _detect(self, feats: ImageFeatures) -> list[Proposal]:
        """The full detector (RPN, box and mask heads) on cached features."""
        model = self.model
        dummy = torch.zeros((1, 1, 1, 1), device=self.device).expand(1, 3, *feats.padded_size)
        batch = ImageList(dummy, [feats.resized_size])
        with torch.inference_mode(), self._autocast():
            proposals, _ = model.rpn(batch, feats.maps)
            detections, _ = model.roi_heads(feats.maps, proposals, batch.image_sizes)
            detections = model.transform.postprocess(
                detections, batch.image_sizes, [feats.original_size]
            )[0]
        masks = (detections["masks"][:, 0] > 0.5).to(torch.uint8).cpu().numpy()
        boxes = detections["boxes"].float().cpu().numpy()
        out = []
        for mask, (x0, y0, x1, y1), label, score in zip(
            masks, boxes, detections["labels"].tolist(), detections["scores"].tolist(), strict=True
        ):
            box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            out.append(Proposal(mask, box, float(score), self._name(label - 1), label - 1, MODEL))
        out.sort(key=lambda p: -p.score)
        return out


class FallbackPredictor(Predictor):
    """A :class:`Predictor` without a network: box and point prompts answered by the
    classical :mod:`model.fallback`, exactly as an untrained Predictor answers them.

    Without trained mask weights a Predictor never asks its network for a prompt, and
    building one (a random-init Mask R-CNN R50 takes 13-37 s on a shared CPU) buys
    nothing; the GUI's model worker gets this instead. There are no whole-image
    proposals (:meth:`propose` says so) and :meth:`prefetch` has nothing to compute.
    It has no ``model`` attribute.
    """

    def __init__(
        self,
        categories: Sequence[Any],
        *,
        weights: WeightsReport | None = None,
        fallback_settings: fallback.FallbackSettings | None = None,
    ) -> None:
        self.device = torch.device("cpu")
        self.amp = self.channels_last = False
        self.categories = list(categories)
        self._names = [c if isinstance(c, str) else c.name for c in self.categories]
        self._index = {normalize(n): i for i, n in enumerate(self._names)}
        self.weights = weights or WeightsReport("none")
        self.class_agnostic = False
        self.cache = FeatureCache()
        self.fallback_settings = fallback_settings
        self.backbone_runs = 0
        self._prefetcher = None

    def box_to_mask(self, image: ImageInput, box: Box, **kwargs: Any) -> Proposal:
        kwargs["use_model"] = False
        return super().box_to_mask(image, box, **kwargs)

    def point_to_mask(
        self, image: ImageInput, point: tuple[float, float], **kwargs: Any
    ) -> Proposal:
        kwargs["use_model"] = False
        return super().point_to_mask(image, point, **kwargs)

    def features(self, *args: Any, **kwargs: Any) -> ImageFeatures:
        raise LongtailError("no network was built (no trained weights): no image features")

    def prefetch(
        self, images: Iterable[ImageInput | tuple[Hashable, ImageInput]]
    ) -> PrefetchJob | None:
        return None  # the fallback works on pixels alone

    def propose(self, image: ImageInput, **kwargs: Any) -> list[Proposal]:
        raise LongtailError(
            "whole-image proposals need a trained model; prompt with a box or a point instead"
        )


# ---------------------------------------------------------------- boxes


def _clip_box(box: Box, size: tuple[int, int]) -> Box:
    """A box clipped to the image, at least one pixel wide and high; PromptError for a
    box entirely outside the image (see :func:`pipeline.masks.geometry.prompt_box`)."""
    height, width = size
    x, y, w, h = (float(v) for v in box)
    if not all(np.isfinite(v) for v in (x, y, w, h)):
        raise LongtailError(f"a box needs finite numbers, got {box}")
    if w > 0 and h > 0:
        prompt_box((x, y, w, h), height, width)
    else:  # a click rather than a drag: its corner must be on the image
        prompt_point((x, y), height, width)
    x0, y0 = min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)
    x1, y1 = min(max(x + w, x0 + 1.0), float(width)), min(max(y + h, y0 + 1.0), float(height))
    return (x0, y0, x1 - x0, y1 - y0)


def _sigmoid_heads(model: MaskRCNN) -> bool:
    return bool(getattr(model.roi_heads, "sigmoid_scores", False))


def _clicks(points: Sequence[Sequence[Any]]) -> list[Click]:
    """Clicks as (x, y, positive): finite numbers, else a PromptError-like LongtailError."""
    out = []
    for n, point in enumerate(points):
        try:
            x, y, positive = point
            x, y = float(x), float(y)
        except (TypeError, ValueError):
            raise LongtailError(f"click #{n}: expected (x, y, positive), got {point!r}") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise LongtailError(f"click #{n}: needs finite numbers, got {point!r}")
        out.append((x, y, bool(positive)))
    return out


def _inside_box(bitmap: np.ndarray, box: Box) -> np.ndarray:
    c0, r0, c1, r1 = fallback.pixel_box(box, *bitmap.shape)
    out = np.zeros_like(bitmap)
    out[r0:r1, c0:c1] = bitmap[r0:r1, c0:c1]
    return out


def grown_box(point: tuple[float, float], size: tuple[int, int], share: float = 0.2) -> Box:
    """A square around ``point``, ``share`` of the image's shorter side (at least 32 px)."""
    height, width = size
    side = max(32.0, share * min(height, width))
    x, y = float(point[0]), float(point[1])
    return _clip_box((x - side / 2, y - side / 2, side, side), (height, width))


__all__ = [
    "FALLBACK",
    "Click",
    "MODEL",
    "FallbackPredictor",
    "ImageInput",
    "Predictor",
    "Proposal",
    "best_device",
    "grown_box",
    "image_key",
    "load_image",
]

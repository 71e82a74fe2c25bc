"""A model's COCO AP and LVIS federated AP (boxes and masks) on the held-out split.

The model runs on each held-out image of a :class:`~model.training.snapshot.Snapshot`
(no augmentation, the shorter side at the run's ``min_size``); its detections become a
COCO results list (masks as RLE), scored by :mod:`pipeline.evaluation` against the
snapshot's LVIS ground truth (``neg_category_ids`` and ``not_exhaustive_category_ids``
per image, frequency groups from the train split). LVIS keeps up to 300 detections per
image with a low score threshold; COCO reads the best 100 of the same list.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pycocotools import mask as mask_utils
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.roi_heads import expand_boxes, expand_masks
from torchvision.models.detection.transform import resize_boxes

from pipeline.evaluation import EvaluationError, evaluate_coco, evaluate_lvis
from pipeline.images import load_image

from .report import format_metrics
from .snapshot import Snapshot, SnapshotImage

__all__ = ["detect", "evaluate_model", "evaluate_project_model", "format_metrics"]

LVIS_DETECTIONS = 300
SCORE_THRESHOLD = 0.001


def detect(
    model: MaskRCNN,
    snapshot: Snapshot,
    images: list[SnapshotImage],
    device: torch.device,
    *,
    amp: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """COCO results of ``model`` on ``images`` (category ids of the project).

    The masks are the model's own (torchvision's paste and 0.5 threshold, pixel for
    pixel), but each is pasted into its box only and run-length encoded from there
    (:func:`masks_as_rle`): torchvision pastes each of the 300 detections into a
    float image of its own and stacks them, which with the encoding of each full
    image cost several times the forward pass."""
    heads = model.roi_heads
    saved = (heads.score_thresh, heads.detections_per_img)
    heads.score_thresh, heads.detections_per_img = SCORE_THRESHOLD, LVIS_DETECTIONS
    was_training = model.training
    model.eval()
    results: list[dict[str, Any]] = []
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.float16)
        if amp and device.type == "cuda"
        else contextlib.nullcontext()
    )
    try:
        for done, image in enumerate(images):
            pixels = load_image(image.path)
            tensor = torch.from_numpy(np.array(pixels, copy=True)).to(device)
            tensor = tensor.permute(2, 0, 1).float().div_(255.0)
            with torch.inference_mode(), autocast, _unpasted_masks(model):
                out = model([tensor])[0]
            height, width = tensor.shape[-2:]
            rles = masks_as_rle(out["masks"].float(), out["boxes"].float(), height, width)
            boxes = out["boxes"].float().cpu().numpy()
            for rle, box, label, score in zip(
                rles, boxes, out["labels"].tolist(), out["scores"].float().tolist(), strict=True
            ):
                x0, y0, x1, y1 = (float(v) for v in box)
                results.append(
                    {
                        "image_id": image.id,
                        "category_id": snapshot.category_ids[label - 1],
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "segmentation": rle,
                        "score": float(score),
                    }
                )
            if progress is not None:
                progress(done + 1, len(images))
    finally:
        heads.score_thresh, heads.detections_per_img = saved
        model.train(was_training)
    return results


@contextlib.contextmanager
def _unpasted_masks(model: MaskRCNN) -> Iterator[None]:
    """The model's boxes in image coordinates, its masks left as the head's 28 x 28
    probabilities (torchvision's postprocess without the paste)."""
    transform = model.transform

    def boxes_only(result: Any, image_shapes: Any, original_sizes: Any) -> Any:
        for pred, size, original in zip(result, image_shapes, original_sizes, strict=True):
            pred["boxes"] = resize_boxes(pred["boxes"], size, original)
        return result

    transform.postprocess = boxes_only
    try:
        yield
    finally:
        del transform.postprocess


def masks_as_rle(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int) -> list[dict]:
    """COCO RLEs of the head's masks (N, 1, 28, 28) pasted at ``boxes`` (image
    coordinates) and thresholded at 0.5, exactly as torchvision's
    ``paste_masks_in_image`` does, but each into its own box only."""
    if len(masks) == 0:
        return []
    expanded, scale = expand_masks(masks, padding=1)
    boxes = expand_boxes(boxes, scale).to(dtype=torch.int64).tolist()
    out = []
    for mask, (bx0, by0, bx1, by1) in zip(expanded, boxes, strict=True):
        w, h = max(bx1 - bx0 + 1, 1), max(by1 - by0 + 1, 1)
        x0, x1 = max(bx0, 0), min(bx1 + 1, width)
        y0, y1 = max(by0, 0), min(by1 + 1, height)
        if x1 <= x0 or y1 <= y0:
            local = np.zeros((0, 0), dtype=bool)
        else:
            scaled = F.interpolate(mask[None], size=(h, w), mode="bilinear", align_corners=False)
            crop = scaled[0, 0, y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0]
            local = (crop > 0.5).cpu().numpy()
        counts = _column_runs(local, x0, y0, height, width)
        rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        rle["counts"] = rle["counts"].decode("ascii")
        out.append(rle)
    return out


def _column_runs(local: np.ndarray, x0: int, y0: int, height: int, width: int) -> list[int]:
    """Uncompressed COCO RLE counts (column-major, starting with a run of zeros) of an
    image that is ``local`` at (x0, y0) and empty elsewhere."""
    total = height * width
    on = np.flatnonzero(local.T) if local.size else np.zeros(0, dtype=np.int64)
    if on.size == 0:
        return [total]
    rows = local.shape[0]
    index = (x0 + on // rows) * height + (y0 + on % rows)
    breaks = np.flatnonzero(np.diff(index) != 1)
    starts = np.concatenate(([index[0]], index[breaks + 1]))
    ends = np.concatenate((index[breaks], [index[-1]])) + 1
    counts = np.empty(2 * len(starts), dtype=np.int64)
    counts[0] = starts[0]
    counts[2::2] = starts[1:] - ends[:-1]
    counts[1::2] = ends - starts
    tail = total - int(ends[-1])
    runs: list[int] = counts.tolist()
    return runs + ([tail] if tail else [])


def evaluate_model(
    model: MaskRCNN,
    snapshot: Snapshot,
    device: torch.device,
    *,
    amp: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """COCO and LVIS stats (``bbox`` and ``segm``) on the held-out split, as stored with
    the model: ``{"coco": {"segm": {...}, "bbox": {...}}, "lvis": {...}, "images": n, ...}``.
    A split without images or instances gives a ``note`` and no numbers."""
    start = time.perf_counter()
    images = snapshot.heldout
    out: dict[str, Any] = {
        "images": len(images),
        "instances": sum(len(im.instances) for im in images),
        "data_hash": snapshot.data_hash,
        "heldout_rule": snapshot.heldout_rule,
    }
    if not images or not out["instances"]:
        out["note"] = "no held-out images with accepted masks: nothing to evaluate"
        return out
    results = detect(model, snapshot, images, device, amp=amp, progress=progress)
    # COCO AP ignores detections on crowd regions (pycocotools); LVIS has no crowds.
    truths = {
        "coco": snapshot.ground_truth(images),
        "lvis": snapshot.ground_truth(images, crowds=False),
    }
    out["detections"] = len(results)
    for metric, evaluate in (("coco", evaluate_coco), ("lvis", evaluate_lvis)):
        out[metric] = {}
        truth = truths[metric]
        for iou_type in ("segm", "bbox"):
            try:
                stats = evaluate(truth, results, iou_type=iou_type).stats
            except EvaluationError as exc:
                out[metric][iou_type] = {"error": str(exc)}
                continue
            out[metric][iou_type] = {k: round(float(v), 6) for k, v in stats.items()}
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def evaluate_project_model(
    project: Any, model_id: int, device: str | None = None
) -> dict[str, Any]:
    """Evaluate registry model ``model_id`` on the held-out images recorded with it (by
    content; ``heldout_rule`` says so), and store the numbers with the model
    (``longtail evaluate PROJECT --model ID``). A model trained before splits were
    recorded is scored on the project's split as it is now, and the rule says that."""
    from ..registry import trained_predictor
    from .distributed import choose_device
    from .registry import get_model, model_dir, update_model
    from .snapshot import read_heldout, take_snapshot

    record = get_model(project, model_id)
    recorded = read_heldout(model_dir(project, model_id))
    if recorded is not None:
        name = f"the {len(recorded)} held-out images recorded with model {model_id}"
        snapshot = take_snapshot(project, recorded=recorded, rule_name=name)
    else:
        snapshot = take_snapshot(project)
        name = f"{snapshot.heldout_rule} now (model {model_id} has no recorded held-out set)"
        snapshot = _renamed(snapshot, name)
    target = choose_device(device)
    with trained_predictor(project, record, device=target) as predictor:
        if list(snapshot.category_ids) != list(record.category_ids):
            # The vocabulary changed since: score only the model's categories.
            snapshot = _restricted(snapshot, record.category_ids)
        metrics = evaluate_model(predictor.model, snapshot, target, amp=predictor.amp)
    update_model(project, model_id, metrics=metrics)
    return metrics


def _renamed(snapshot: Snapshot, rule: str) -> Snapshot:
    from .snapshot import Snapshot as SnapshotType

    return SnapshotType(
        snapshot.category_ids,
        snapshot.category_names,
        snapshot.images,
        rule,
        data_hash=snapshot.data_hash,
    )


def _restricted(snapshot: Snapshot, category_ids: tuple[int, ...]) -> Snapshot:
    from dataclasses import replace as copy

    from .snapshot import Snapshot as SnapshotType

    keep = set(category_ids)
    names = dict(zip(snapshot.category_ids, snapshot.category_names, strict=True))
    images = tuple(
        copy(
            im,
            instances=tuple(a for a in im.instances if a.category_id in keep),
            crowds=tuple(a for a in im.crowds if a.category_id in keep),
            positive=im.positive & keep,
            negative=im.negative & keep,
            not_exhaustive=im.not_exhaustive & keep,
            unverified=im.unverified & keep,
        )
        for im in snapshot.images
    )
    return SnapshotType(
        tuple(category_ids),
        tuple(names.get(c, str(c)) for c in category_ids),
        images,
        snapshot.heldout_rule,
        data_hash=snapshot.data_hash,
    )

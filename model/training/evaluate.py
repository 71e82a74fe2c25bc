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
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torchvision.models.detection import MaskRCNN

from pipeline.evaluation import EvaluationError, evaluate_coco, evaluate_lvis
from pipeline.images import load_image

from .snapshot import Snapshot, SnapshotImage

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
    """COCO results of ``model`` on ``images`` (category ids of the project)."""
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
            with torch.inference_mode(), autocast:
                out = model([tensor])[0]
            masks = (out["masks"][:, 0] > 0.5).cpu().numpy().astype(np.uint8)
            boxes = out["boxes"].float().cpu().numpy()
            for mask, box, label, score in zip(
                masks, boxes, out["labels"].tolist(), out["scores"].float().tolist(), strict=True
            ):
                rle = mask_utils.encode(np.asfortranarray(mask))
                rle["counts"] = rle["counts"].decode("ascii")
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
    truth = snapshot.ground_truth(images)
    out["detections"] = len(results)
    for metric, evaluate in (("coco", evaluate_coco), ("lvis", evaluate_lvis)):
        out[metric] = {}
        for iou_type in ("segm", "bbox"):
            try:
                stats = evaluate(truth, results, iou_type=iou_type).stats
            except EvaluationError as exc:
                out[metric][iou_type] = {"error": str(exc)}
                continue
            out[metric][iou_type] = {k: round(float(v), 6) for k, v in stats.items()}
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def format_metrics(metrics: dict[str, Any] | None) -> str:
    """One line: mask and box AP (COCO) and LVIS mask AP with AP_r/c/f."""
    if not metrics:
        return "not evaluated"
    if "note" in metrics:
        return metrics["note"]

    def pct(value: Any) -> str:
        return "-" if value is None or value < 0 else f"{100 * value:.1f}"

    coco, lvis = metrics.get("coco", {}), metrics.get("lvis", {})
    segm, bbox, lseg = coco.get("segm", {}), coco.get("bbox", {}), lvis.get("segm", {})
    return (
        f"mask AP {pct(segm.get('AP'))}, box AP {pct(bbox.get('AP'))}, "
        f"LVIS mask AP {pct(lseg.get('AP'))} (r {pct(lseg.get('APr'))} / "
        f"c {pct(lseg.get('APc'))} / f {pct(lseg.get('APf'))}) on {metrics.get('images')} "
        "held-out images"
    )


def evaluate_project_model(
    project: Any, model_id: int, device: str | None = None
) -> dict[str, Any]:
    """Evaluate registry model ``model_id`` on the project's held-out split as it is now,
    and store the numbers with the model (``longtail evaluate PROJECT --model ID``)."""
    from ..registry import trained_predictor
    from .distributed import choose_device
    from .registry import get_model, update_model
    from .snapshot import take_snapshot

    record = get_model(project, model_id)
    snapshot = take_snapshot(project)
    target = choose_device(device)
    with trained_predictor(project, record, device=target) as predictor:
        if list(snapshot.category_ids) != list(record.category_ids):
            # The vocabulary changed since: score only the model's categories.
            snapshot = _restricted(snapshot, record.category_ids)
        metrics = evaluate_model(predictor.model, snapshot, target, amp=predictor.amp)
    update_model(project, model_id, metrics=metrics)
    return metrics


def _restricted(snapshot: Snapshot, category_ids: tuple[int, ...]) -> Snapshot:
    from dataclasses import replace as copy

    from .snapshot import Snapshot as SnapshotType

    keep = set(category_ids)
    names = dict(zip(snapshot.category_ids, snapshot.category_names, strict=True))
    images = tuple(
        copy(
            im,
            instances=tuple(a for a in im.instances if a.category_id in keep),
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

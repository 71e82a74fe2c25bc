"""Ground truth and detections as columns of numpy arrays, checked on the way in.

Ground truth is a COCO or LVIS dict (or the path of its JSON file); detections are a
COCO results list (or its path). Everything the evaluation needs is pulled out once
into arrays indexed by image, category and annotation, so that the later steps never
loop over Python dicts. Problems a user can cause raise :class:`LongtailError` naming
the offending result (its index in the list) or annotation (its id).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pycocotools import mask as mask_utils

from ..errors import LongtailError
from . import rle as rle_codec

FREQUENCIES = ("r", "c", "f")


class EvaluationError(LongtailError):
    """Ground truth or results that cannot be evaluated."""


def _read_json(path: str | Path, what: str) -> Any:
    path = Path(path)
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise EvaluationError(f"{what} file not found: {path}") from None
    except orjson.JSONDecodeError as exc:
        raise EvaluationError(f"{what} file {path} is not valid JSON: {exc}") from None


# --------------------------------------------------------------------------- ground truth


@dataclass(eq=False)
class GroundTruth:
    """A COCO/LVIS ground truth as arrays. Images and categories are sorted by id, as
    pycocotools and lvis-api order them; annotations keep the file's order."""

    image_ids: np.ndarray  # int64 [I], sorted
    heights: np.ndarray  # int64 [I] (0 when unknown)
    widths: np.ndarray  # int64 [I]
    category_ids: np.ndarray  # int64 [K], sorted
    category_names: list[str]
    category_frequency: list[str | None]  # 'r', 'c', 'f' or None, per category
    ann_ids: np.ndarray  # int64 [N]
    ann_image: np.ndarray  # int64 [N] index into image_ids
    ann_category: np.ndarray  # int64 [N] index into category_ids
    ann_area: np.ndarray  # float64 [N], the file's `area`
    ann_iscrowd: np.ndarray  # bool [N]
    ann_ignore: np.ndarray  # bool [N], the file's `ignore` flag (LVIS honours it)
    ann_bbox: np.ndarray | None  # float64 [N, 4], None when some annotation has none
    ann_segmentation: list[Any]
    neg_keys: np.ndarray  # int64 sorted keys image_index * K + category_index
    not_exhaustive_keys: np.ndarray  # int64 sorted keys
    federated: bool  # images carry neg_category_ids / not_exhaustive_category_ids
    _rles: list[dict] | None = field(default=None, repr=False)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def n_categories(self) -> int:
        return len(self.category_ids)

    def pair_keys(self, image_index: np.ndarray, category_index: np.ndarray) -> np.ndarray:
        keys: np.ndarray = image_index.astype(np.int64) * self.n_categories + category_index
        return keys

    def rles(self) -> list[dict]:
        """Each annotation's mask as a pycocotools RLE (pycocotools' ``annToRLE``)."""
        if self._rles is None:
            self._rles = _annotation_rles(self)
        return self._rles


def load_ground_truth(gt: GroundTruth | dict | str | Path) -> GroundTruth:
    """A :class:`GroundTruth` from a COCO/LVIS dict or JSON path (or one already loaded)."""
    if isinstance(gt, GroundTruth):
        return gt
    if isinstance(gt, (str, Path)):
        gt = _read_json(gt, "ground truth")
    if not isinstance(gt, dict):
        raise EvaluationError(
            f"ground truth must be a COCO/LVIS dict or a path, got {type(gt).__name__}"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(gt.get(key), list):
            raise EvaluationError(f"ground truth has no '{key}' list")
    images, anns, cats = gt["images"], gt["annotations"], gt["categories"]

    _, order, sorted_ids = _unique_ids(images, "image")
    heights = np.array([int(images[i].get("height") or 0) for i in order], dtype=np.int64)
    widths = np.array([int(images[i].get("width") or 0) for i in order], dtype=np.int64)

    _, cat_order, sorted_cats = _unique_ids(cats, "category")
    names = [str(cats[i].get("name", cats[i]["id"])) for i in cat_order]
    frequency = [cats[i].get("frequency") for i in cat_order]
    frequency = [f if f in FREQUENCIES else None for f in frequency]

    n = len(anns)
    try:
        columns = [[a[key] for a in anns] for key in ("id", "image_id", "category_id")]
        if not all(_all_of_types(c, _ID_TYPES) for c in columns):
            raise TypeError("an id is not an integer")
        ann_ids, ann_img, ann_cat = (np.fromiter(c, dtype=np.int64, count=n) for c in columns)
    except (KeyError, TypeError, ValueError, OverflowError):
        for i, a in enumerate(anns):
            for key in ("id", "image_id", "category_id"):
                value = _get(a, key)
                if not _is_int(value):
                    raise EvaluationError(
                        f"ground-truth annotation #{i} has no integer '{key}'"
                    ) from None
                if not _fits_int64(value):
                    raise EvaluationError(
                        f"ground-truth annotation #{i}: '{key}' {value} {_ID_RANGE}"
                    ) from None
        raise
    sorted_ann = np.sort(ann_ids)
    dup = np.flatnonzero(sorted_ann[1:] == sorted_ann[:-1])
    if len(dup):
        raise EvaluationError(f"ground truth uses annotation id {sorted_ann[dup[0]]} twice")
    image_index = _index_of(sorted_ids, ann_img)
    if (image_index < 0).any():
        i = int(np.flatnonzero(image_index < 0)[0])
        raise EvaluationError(
            f"ground-truth annotation id {ann_ids[i]} refers to unknown image id {ann_img[i]}"
        )
    category_index = _index_of(sorted_cats, ann_cat)
    if (category_index < 0).any():
        i = int(np.flatnonzero(category_index < 0)[0])
        raise EvaluationError(
            f"ground-truth annotation id {ann_ids[i]} refers to unknown category id {ann_cat[i]}"
        )
    areas = np.empty(n, dtype=np.float64)
    missing_area = []
    for i, a in enumerate(anns):
        value = a.get("area")
        if value is None:
            missing_area.append(i)
            areas[i] = np.nan
        else:
            areas[i] = value
    iscrowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), dtype=bool, count=n)
    ignore = np.fromiter((bool(a.get("ignore", 0)) for a in anns), dtype=bool, count=n)
    try:
        bbox = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(n, 4)
    except (KeyError, TypeError, ValueError):
        bbox = None
    segmentation = [a.get("segmentation") for a in anns]

    K = len(sorted_cats)
    federated = any("neg_category_ids" in im for im in images)
    neg: list[np.ndarray] = []
    nel: list[np.ndarray] = []
    for i in order if federated else ():
        im = images[i]
        row = np.searchsorted(sorted_ids, im["id"])
        for key, out in (("neg_category_ids", neg), ("not_exhaustive_category_ids", nel)):
            listed = im.get(key) or []
            if not listed:
                continue
            if not isinstance(listed, list) or not _all_of_types(listed, _ID_TYPES):
                raise EvaluationError(
                    f"ground-truth image id {im['id']}: '{key}' must be a list of category ids"
                )
            if not all(map(_fits_int64, listed)):
                raise EvaluationError(f"ground-truth image id {im['id']}: '{key}' {_ID_RANGE}")
            idx = _index_of(sorted_cats, np.asarray(listed, dtype=np.int64))
            # lvis-api only ever looks up known categories in these lists
            out.append(row * K + idx[idx >= 0])
    neg_keys = np.unique(np.concatenate(neg)) if neg else np.zeros(0, np.int64)
    nel_keys = np.unique(np.concatenate(nel)) if nel else np.zeros(0, np.int64)

    truth = GroundTruth(
        image_ids=sorted_ids,
        heights=heights,
        widths=widths,
        category_ids=sorted_cats,
        category_names=names,
        category_frequency=frequency,
        ann_ids=ann_ids,
        ann_image=image_index,
        ann_category=category_index,
        ann_area=areas,
        ann_iscrowd=iscrowd,
        ann_ignore=ignore,
        ann_bbox=bbox,
        ann_segmentation=segmentation,
        neg_keys=neg_keys,
        not_exhaustive_keys=nel_keys,
        federated=federated,
    )
    if missing_area:
        # pycocotools needs `area`; without one we use the mask's (or the box's) area.
        _fill_missing_areas(truth, missing_area)
    return truth


def _fill_missing_areas(truth: GroundTruth, rows: list[int]) -> None:
    for i in rows:
        if truth.ann_segmentation[i] is not None:
            h, w = _image_size(truth, i)
            rle = _one_rle(truth.ann_segmentation[i], h, w, truth.ann_ids[i])
            truth.ann_area[i] = float(mask_utils.area(rle))
        elif truth.ann_bbox is not None:
            truth.ann_area[i] = truth.ann_bbox[i, 2] * truth.ann_bbox[i, 3]
        else:
            raise EvaluationError(
                f"ground-truth annotation id {truth.ann_ids[i]} has no area, mask or box"
            )


def _image_size(truth: GroundTruth, ann: int) -> tuple[int, int]:
    row = truth.ann_image[ann]
    h, w = int(truth.heights[row]), int(truth.widths[row])
    if h <= 0 or w <= 0:
        raise EvaluationError(
            f"ground-truth image id {truth.image_ids[row]} has no height and width "
            "(needed to rasterise masks)"
        )
    return h, w


def _one_rle(segm: Any, h: int, w: int, ann_id: Any) -> dict:
    """pycocotools' ``annToRLE`` for one annotation, with errors turned into ours."""
    try:
        if isinstance(segm, list):
            merged: dict = mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
            return merged
        if isinstance(segm, dict) and isinstance(segm.get("counts"), list):
            compressed: dict = mask_utils.frPyObjects(segm, h, w)
            return compressed
        if isinstance(segm, dict) and isinstance(segm.get("counts"), (str, bytes)):
            return segm
    except Exception as exc:  # pycocotools raises bare exceptions
        raise EvaluationError(
            f"ground-truth annotation id {ann_id}: segmentation cannot be rasterised ({exc})"
        ) from None
    raise EvaluationError(
        f"ground-truth annotation id {ann_id}: segmentation must be polygons or an RLE"
    )


def _annotation_rles(truth: GroundTruth) -> list[dict]:
    """All annotation masks as RLEs, polygons rasterised per image in one C call."""
    n = len(truth.ann_ids)
    out: list[dict | None] = [None] * n
    by_image: dict[int, list[int]] = {}
    given_rle: list[int] = []
    given: list[dict] = []  # their RLEs, checked below
    for i, segm in enumerate(truth.ann_segmentation):
        if isinstance(segm, list) and segm and _is_polygon(segm[0]):
            by_image.setdefault(int(truth.ann_image[i]), []).append(i)
        else:
            h, w = _image_size(truth, i)
            rle = _one_rle(segm, h, w, truth.ann_ids[i])
            out[i] = rle
            given_rle.append(i)
            given.append(rle)
    for row, members in by_image.items():
        h, w = _image_size(truth, members[0])
        parts = [p for i in members for p in truth.ann_segmentation[i]]
        try:
            rles = mask_utils.frPyObjects(parts, h, w)
        except Exception as exc:
            raise EvaluationError(
                f"ground-truth image id {truth.image_ids[row]}: a polygon cannot be "
                f"rasterised ({exc})"
            ) from None
        at = 0
        for i in members:
            k = len(truth.ann_segmentation[i])
            out[i] = rles[at] if k == 1 else mask_utils.merge(rles[at : at + k])
            at += k
    if given_rle:
        check_masks(
            given,
            truth.heights[truth.ann_image[given_rle]],
            truth.widths[truth.ann_image[given_rle]],
            lambda j: f"ground-truth annotation id {truth.ann_ids[given_rle[j]]}",
        )
    return out  # type: ignore[return-value]  # every entry was set above: none is None


def _is_polygon(part: Any) -> bool:
    # pycocotools' frPyObjects reads a list as polygons when its first item has > 4 numbers
    return isinstance(part, (list, tuple)) and len(part) > 4


# --------------------------------------------------------------------------- detections


@dataclass(eq=False)
class Detections:
    """A results list as arrays, in the list's order."""

    image: np.ndarray  # int64 index into GroundTruth.image_ids
    category: np.ndarray  # int64 index into GroundTruth.category_ids
    score: np.ndarray  # float64
    bbox: np.ndarray | None  # float64 [D, 4]
    segmentation: list[dict] | None  # RLE dicts ({'size', 'counts'}), compressed
    first_has_bbox: bool  # pycocotools' loadRes decides box vs mask area by result 0
    _mask_area: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.score)

    def mask_areas(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Foreground pixels of each mask (pycocotools' ``area``), for ``rows`` or all."""
        if self.segmentation is None:
            raise EvaluationError("the results carry no segmentation")
        if rows is None:
            if self._mask_area is None:
                self._mask_area = rle_areas(self.segmentation)
            return self._mask_area
        if self._mask_area is not None:
            some: np.ndarray = self._mask_area[rows]
            return some
        return rle_areas([self.segmentation[i] for i in rows])

    def boxes(self) -> np.ndarray:
        """Boxes: the results' own, else pycocotools' ``toBbox`` of the masks."""
        if self.bbox is not None:
            return self.bbox
        assert self.segmentation is not None
        out = np.empty((len(self), 4), dtype=np.float64)
        for start in range(0, len(self), 255):
            out[start : start + 255] = mask_utils.toBbox(self.segmentation[start : start + 255])
        return out


def rle_areas(rles: Sequence[dict]) -> np.ndarray:
    """pycocotools' ``area`` over many RLEs (in batches: its result array overflows past 255)."""
    out = np.empty(len(rles), dtype=np.int64)
    for start in range(0, len(rles), 255):
        chunk = rles[start : start + 255]
        if chunk:
            out[start : start + len(chunk)] = mask_utils.area(list(chunk))
    return out


def load_detections(
    results: Detections | Sequence[dict] | str | Path,
    truth: GroundTruth,
    iou_type: str,
    *,
    boxes: bool = True,
) -> Detections:
    """Check a COCO results list against the ground truth and pull out its columns.

    ``iou_type`` 'bbox' needs a box or a mask per result, 'segm' a mask (RLE). Only
    what the evaluation reads is pulled out and checked: masks are skipped for box
    evaluation when the results carry boxes, and ``boxes=False`` skips the boxes.
    """
    if isinstance(results, Detections):
        return results
    if isinstance(results, (str, Path)):
        results = _read_json(results, "results")
    if not isinstance(results, list):
        raise EvaluationError(f"results must be a list of detections, got {type(results).__name__}")
    if not results:
        raise EvaluationError("the results list is empty: there is nothing to evaluate")
    n = len(results)
    try:
        image_column = list(map(itemgetter("image_id"), results))
        category_column = list(map(itemgetter("category_id"), results))
        score_column = list(map(itemgetter("score"), results))
        # numpy would read "0.9" or 1.5 as a number; pycocotools would not
        if not _all_of_types(image_column, _ID_TYPES) or not _all_of_types(
            category_column, _ID_TYPES
        ):
            raise TypeError("an id is not an integer")
        if not _all_of_types(score_column, _SCORE_TYPES):
            raise TypeError("a score is not a number")
        image_ids = np.fromiter(image_column, dtype=np.int64, count=n)
        cat_ids = np.fromiter(category_column, dtype=np.int64, count=n)
        scores = np.fromiter(score_column, dtype=np.float64, count=n)
    except (KeyError, TypeError, ValueError, OverflowError):
        _find_bad_field(results)
        raise
    if not np.isfinite(scores).all():
        i = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise EvaluationError(f"result #{i}: score {results[i]['score']!r} is not a finite number")
    image = _index_of(truth.image_ids, image_ids)
    if (image < 0).any():
        i = int(np.flatnonzero(image < 0)[0])
        raise EvaluationError(f"result #{i}: unknown image id {image_ids[i]}")
    category = _index_of(truth.category_ids, cat_ids)
    if (category < 0).any():
        i = int(np.flatnonzero(category < 0)[0])
        raise EvaluationError(f"result #{i}: unknown category id {cat_ids[i]}")

    first = results[0]
    first_has_bbox = "bbox" in first and first["bbox"] != []
    first_has_segm = "segmentation" in first
    if iou_type == "bbox" and not first_has_bbox and not first_has_segm:
        raise EvaluationError("result #0 has neither a 'bbox' nor a 'segmentation'")
    if iou_type == "segm" and not first_has_segm:
        raise EvaluationError(
            "result #0 has no 'segmentation': mask evaluation (segm) needs RLE masks; "
            "evaluate boxes with iou type 'bbox'"
        )
    bbox = _boxes(results) if first_has_bbox and (boxes or iou_type == "bbox") else None
    segmentation = None
    if first_has_segm and (iou_type == "segm" or not first_has_bbox):
        segmentation = _segmentations(results, truth, image)
    return Detections(
        image=image,
        category=category,
        score=scores,
        bbox=bbox,
        segmentation=segmentation,
        first_has_bbox=first_has_bbox,
    )


def _boxes(results: list[dict]) -> np.ndarray:
    try:
        boxes = _rows_of_numbers(list(map(itemgetter("bbox"), results)), 4, np.float64)
    except (KeyError, TypeError, ValueError):
        for i, d in enumerate(results):
            box = d.get("bbox")
            if not _is_box(box):
                raise EvaluationError(
                    f"result #{i}: 'bbox' must be four numbers [x, y, w, h], got {box!r}"
                ) from None
        raise
    finite = np.isfinite(boxes).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise EvaluationError(f"result #{i}: 'bbox' {results[i]['bbox']} is not finite")
    return boxes


def _segmentations(results: list[dict], truth: GroundTruth, image: np.ndarray) -> list[dict]:
    try:
        segs = list(map(itemgetter("segmentation"), results))
        counts = list(map(itemgetter("counts"), segs))
        sizes = _rows_of_numbers(list(map(itemgetter("size"), segs)), 2, np.int64)
    except (KeyError, TypeError, ValueError, OverflowError):
        for i, d in enumerate(results):
            s = d.get("segmentation")
            if not isinstance(s, dict):
                raise EvaluationError(
                    f"result #{i}: 'segmentation' must be an RLE dict with 'size' and "
                    f"'counts', got {type(s).__name__}"
                    + (" (polygons are not accepted in results)" if isinstance(s, list) else "")
                ) from None
            if "counts" not in s or not _is_size(s.get("size")):
                raise EvaluationError(
                    f"result #{i}: the RLE needs 'size' [height, width] and 'counts'"
                ) from None
        raise
    h, w = truth.heights[image], truth.widths[image]
    unknown = (h <= 0) | (w <= 0)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise EvaluationError(
            f"result #{i}: image id {truth.image_ids[image[i]]} has no height and width "
            "in the ground truth, so its masks cannot be checked"
        )
    wrong = (sizes[:, 0] != h) | (sizes[:, 1] != w)
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise EvaluationError(
            f"result #{i}: the RLE size {sizes[i].tolist()} is not the image's "
            f"[{h[i]}, {w[i]}] (image id {truth.image_ids[image[i]]})"
        )
    # Uncompressed RLEs (counts as a list) are compressed here, as pycocotools would need.
    kinds = set(map(type, counts))
    uncompressed = []
    if not kinds <= {str, bytes}:
        uncompressed = [i for i, c in enumerate(counts) if not isinstance(c, (str, bytes))]
    if uncompressed:
        segs = list(segs)
        for i in uncompressed:
            c = counts[i]
            if not isinstance(c, list) or not all(_is_int(v) and v >= 0 for v in c):
                raise EvaluationError(
                    f"result #{i}: RLE counts must be a string or a list of non-negative integers"
                )
            if sum(c) != int(h[i]) * int(w[i]):
                raise EvaluationError(
                    f"result #{i}: malformed RLE: the counts cover {sum(c)} pixels, not "
                    f"{h[i]}x{w[i]}"
                )
            segs[i] = mask_utils.frPyObjects(segs[i], int(h[i]), int(w[i]))
            counts[i] = segs[i]["counts"]
    ok = rle_codec.structurally_valid(counts)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise EvaluationError(
            f"result #{i}: malformed RLE: counts {_preview(counts[i])} cannot be decoded"
        )
    return segs


def check_masks(
    rles: Sequence[dict], heights: np.ndarray, widths: np.ndarray, name: Callable[[int], str]
) -> None:
    """Decode ``rles`` fully and raise unless each covers exactly its image.

    pycocotools' C code loops forever on an RLE that covers fewer pixels than its
    size, so every mask handed to it for an IoU is checked here first.
    """
    if not len(rles):
        return
    summary = rle_codec.summarize_counts([r["counts"] for r in rles])
    expected = np.asarray(heights, dtype=np.int64) * np.asarray(widths, dtype=np.int64)
    sizes = np.array([r["size"] for r in rles], dtype=np.int64).reshape(-1, 2)
    bad = (
        ~summary.well_formed | (summary.total != expected) | (sizes[:, 0] * sizes[:, 1] != expected)
    )
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        if not summary.well_formed[j]:
            why = "its counts cannot be decoded"
        else:
            why = f"its counts cover {summary.total[j]} pixels, not {sizes[j][0]}x{sizes[j][1]}"
        raise EvaluationError(f"{name(j)}: malformed RLE: {why}")


# --------------------------------------------------------------------------- helpers


def _rows_of_numbers(rows: list, width: int, dtype: Any) -> np.ndarray:
    """``rows`` (lists of ``width`` numbers) as an [n, width] array; ValueError otherwise.
    (Flattening through an iterator is several times faster than np.array on lists.)"""
    n = len(rows)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    if (lengths != width).any():
        raise ValueError("wrong length")
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=dtype, count=n * width)
    return flat.reshape(n, width)


def _index_of(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each id in ``sorted_ids``, -1 where absent."""
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1).astype(np.int64)


def _find_bad_field(results: list[dict]) -> None:
    for i, d in enumerate(results):
        if not isinstance(d, dict):
            raise EvaluationError(f"result #{i} is not an object but {type(d).__name__}")
        for key in ("image_id", "category_id"):
            if key not in d:
                raise EvaluationError(f"result #{i} has no '{key}'")
            if not _is_int(d[key]):
                raise EvaluationError(f"result #{i}: '{key}' {d[key]!r} is not an integer id")
            if not _fits_int64(d[key]):
                raise EvaluationError(f"result #{i}: '{key}' {d[key]} {_ID_RANGE}")
        if "score" not in d:
            raise EvaluationError(f"result #{i} (image id {d['image_id']}) has no 'score'")
        s = d["score"]
        if isinstance(s, str):
            raise EvaluationError(
                f"result #{i}: score {s!r} is a string (image id {d['image_id']}); "
                "scores must be JSON numbers"
            )
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise EvaluationError(f"result #{i}: score {s!r} is not a finite number")


# What a JSON reader gives for an integer id and for a score (bool is an int subclass,
# but `true` is no id and no score).
_ID_TYPES = frozenset({int, np.int64, np.int32})
_SCORE_TYPES = frozenset({int, float, np.float64, np.float32, np.int64, np.int32})
_ID_RANGE = "is out of range: ids must lie between -2^63 and 2^63 - 1"


def _all_of_types(values: list, types: frozenset) -> bool:
    return set(map(type, values)) <= types


def _fits_int64(value: int) -> bool:
    return -(2**63) <= value < 2**63


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _unique_ids(records: list, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The records' integer ids, their sorting order and the sorted ids; an error names
    the first record without an integer id, or the first id listed twice."""
    try:
        column = [r["id"] for r in records]
        if not _all_of_types(column, _ID_TYPES):
            raise TypeError("an id is not an integer")
        ids = np.array(column, dtype=np.int64)
    except (KeyError, TypeError, ValueError, OverflowError):
        for i, r in enumerate(records):
            value = _get(r, "id")
            if not _is_int(value):
                raise EvaluationError(f"ground-truth {what} #{i} has no integer 'id'") from None
            if not _fits_int64(value):
                raise EvaluationError(f"ground-truth {what} #{i}: id {value} {_ID_RANGE}") from None
        raise
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(dup):
        raise EvaluationError(f"ground truth lists {what} id {sorted_ids[dup[0]]} twice")
    return ids, order, sorted_ids


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_box(v: Any) -> bool:
    return (
        isinstance(v, (list, tuple))
        and len(v) == 4
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    )


def _is_size(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v)


def _preview(counts: Any) -> str:
    text = counts.decode("ascii", "replace") if isinstance(counts, bytes) else str(counts)
    return repr(text if len(text) <= 24 else text[:24] + "...")

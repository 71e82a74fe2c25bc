"""The model worker: one thread that owns the Predictor and answers prompts.

The GUI never waits for the model. ``propose_box`` / ``propose_point`` / ``whole_image``
return a request id at once; the answer comes back on ``proposalReady`` (or
``failed``). ``cancel`` drops a request: it never reaches the GUI, even when the
thread was already working on it (a running GrabCut cannot be interrupted, a running
backbone can). ``prefetch`` decodes the next images (and computes their features when
the model is trained) so that the next prompt is fast.

torch and the model package are imported in the worker thread, on the first request,
so that opening the window never pays for them. Without trained weights (no model in
use, no COCO Mask R-CNN in torchvision's cache) no network is built at all: a
``model.predictor.FallbackPredictor`` answers box and point prompts with the classical
fallback (GrabCut) at once, and there are no whole-image proposals.
"""

from __future__ import annotations

import itertools
import os
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from pipeline.errors import LongtailError
from pipeline.masks.geometry import Box, Mask

from .lifetime import DaemonWorker

ImageInput = str | os.PathLike | np.ndarray
PIXEL_CACHE = 6  # decoded images kept by the worker (the current one and the next few)


@dataclass(frozen=True)
class ProposalRequest:
    id: int
    kind: str  # "box", "point", "image" or "prefetch"
    image: ImageInput | None = None
    box: Box | None = None
    point: tuple[float, float] | None = None
    category: str | int | None = None
    images: tuple[ImageInput, ...] = ()
    points: tuple[tuple[float, float, bool], ...] = ()  # refining clicks (x, y, positive)


def _clicks(points: Sequence[tuple[float, float, bool]]) -> tuple[tuple[float, float, bool], ...]:
    return tuple((float(x), float(y), bool(positive)) for x, y, positive in points)


def default_predictor(project: Any | None) -> Any:
    """The project's model in use (``model.registry.project_predictor``) where there is
    one, else a Predictor built as ``longtail predict`` builds it: torchvision's cached
    weights if any, the classical fallback for prompts when no trained mask head."""
    if project is not None:
        from model.registry import project_predictor

        # prompts only: without trained weights no network is built (FallbackPredictor)
        predictor = project_predictor(project, prompts_only=True)
        if predictor is not None:
            return predictor
    from model.predictor import Predictor
    from pipeline.vocabulary import Category, project_categories

    categories: list[Category] = project_categories(project) if project is not None else []
    return Predictor.load(categories or ["object"])


class _Runner(QObject):
    """Runs one request at a time on the worker's daemon thread; its signals are
    queued to the GUI thread. Never parented: an abandoned request may still hold it."""

    done = Signal(int, object, float, str)  # id, Mask or list, score, source
    error = Signal(int, str)

    def __init__(self, factory: Callable[[], Any], cancelled: Callable[[int], bool]) -> None:
        super().__init__()
        self._factory = factory
        self._cancelled = cancelled
        self.predictor: Any = None
        self._pixels: OrderedDict[str, np.ndarray] = OrderedDict()

    def _predictor(self) -> Any:
        if self.predictor is None:
            self.predictor = self._factory()
        return self.predictor

    def _load(self, image: ImageInput) -> np.ndarray:
        if isinstance(image, np.ndarray):
            return image
        key = str(Path(image).resolve())
        pixels = self._pixels.get(key)
        if pixels is None:
            from pipeline.images import load_image

            pixels = load_image(key)
            self._pixels[key] = pixels
            while len(self._pixels) > PIXEL_CACHE:
                self._pixels.popitem(last=False)
        else:
            self._pixels.move_to_end(key)
        return pixels

    @Slot(object)
    def run(self, request: ProposalRequest) -> None:
        if self._cancelled(request.id):
            return
        try:
            if request.kind == "prefetch":
                self._prefetch(request)
                return  # nothing to answer; a failure is only printed
            predictor = self._predictor()
            assert request.image is not None  # every request but a prefetch names its image
            pixels = self._load(request.image)
            if self._cancelled(request.id):
                return
            # clicks go only with a request that has them: a predictor of another
            # make (tests' stand-ins) may not take the keyword
            clicks = {"points": request.points} if request.points else {}
            if request.kind == "box":
                found = predictor.box_to_mask(
                    pixels, request.box, category=request.category, **clicks
                )
            elif request.kind == "point":
                found = predictor.point_to_mask(
                    pixels, request.point, category=request.category, **clicks
                )
            else:
                if not predictor.trained:
                    note = getattr(getattr(predictor, "weights", None), "note", "")
                    raise LongtailError(  # the note: trained models that are not in use
                        "whole-image proposals need a trained model; prompt with a box instead"
                        + (f"; {note}" if note else "")
                    )
                found = predictor.propose(pixels)
        except Exception as exc:  # reported to the GUI, never raised in the thread
            if request.kind == "prefetch":
                traceback.print_exc()
                return
            message = str(exc) if isinstance(exc, LongtailError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, LongtailError):
                traceback.print_exc()
            self.error.emit(request.id, message)
            return
        if isinstance(found, list):
            self.done.emit(request.id, found, 1.0, "model")
        else:
            self.done.emit(request.id, found.mask, float(found.score), found.source)

    def _prefetch(self, request: ProposalRequest) -> None:
        # Build the model now (torch import and weights take seconds), so that the
        # first prompt on these images is answered at once.
        predictor = self._predictor()
        for image in request.images:
            if self._cancelled(request.id):
                return
            self._load(image)
        if predictor.trained:
            predictor.prefetch(
                [self._load(i) if not isinstance(i, np.ndarray) else i for i in request.images]
            )

    @Slot()
    def shutdown(self) -> None:
        if self.predictor is not None and hasattr(self.predictor, "close"):
            self.predictor.close()
        self.predictor = None


class ModelWorker(QObject):
    """Prompts in, masks out, on a thread of its own (see the module doc)."""

    proposalReady = Signal(int, object, float)  # request id, Mask, score
    proposalsReady = Signal(int, object)  # request id, list of model.predictor.Proposal
    failed = Signal(str)
    requestFailed = Signal(int, str)  # request id, message
    cancelled = Signal(int)
    busy = Signal(bool)
    _submit = Signal(object)

    def __init__(
        self,
        project: Any | None = None,
        *,
        predictor_factory: Callable[[], Any] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        factory = predictor_factory or (lambda: default_predictor(project))
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._dropped: set[int] = set()
        self._dropped_all = False  # closed: every answer is dropped
        self._pending: set[int] = set()
        self.last_source: str | None = None
        # A daemon thread, not a QThread: closing never waits for a running request
        # and nothing can destroy the thread under it (see workers/lifetime.py).
        self._thread = DaemonWorker("model-worker")
        self._runner = _Runner(factory, self._is_dropped)
        self._submit.connect(self._queue_request)
        self._runner.done.connect(self._on_done)
        self._runner.error.connect(self._on_error)
        self._prefetch_id: int | None = None
        self._closed = False

    # ------------------------------------------------------------ requests

    def _queue_request(self, request: ProposalRequest) -> None:
        runner = self._runner
        self._thread.submit(lambda: runner.run(request))

    def _send(self, request: ProposalRequest) -> int:
        if self._closed:
            raise LongtailError("the model worker was closed; reopen the stage to prompt again")
        if request.kind != "prefetch":
            was_idle = not self._pending
            self._pending.add(request.id)
            if was_idle:
                self.busy.emit(True)
        self._submit.emit(request)
        return request.id

    def propose_box(
        self,
        image: ImageInput,
        box: Box,
        category: str | int | None = None,
        points: Sequence[tuple[float, float, bool]] = (),
    ) -> int:
        """A mask for the object in ``box`` (x, y, w, h), refined by ``points`` (clicks
        ``(x, y, positive)``); returns the request id."""
        x, y, w, h = (float(v) for v in box)
        if w <= 0 or h <= 0:
            raise LongtailError(f"the box {tuple(box)} has no area")
        return self._send(
            ProposalRequest(
                next(self._ids),
                "box",
                image,
                box=(x, y, w, h),
                category=category,
                points=_clicks(points),
            )
        )

    def propose_point(
        self,
        image: ImageInput,
        point: tuple[float, float],
        category: str | int | None = None,
        points: Sequence[tuple[float, float, bool]] = (),
    ) -> int:
        """A mask for the object under ``point`` (x, y), refined by ``points``; returns
        the request id."""
        return self._send(
            ProposalRequest(
                next(self._ids),
                "point",
                image,
                point=(float(point[0]), float(point[1])),
                category=category,
                points=_clicks(points),
            )
        )

    def whole_image(self, image: ImageInput) -> int:
        """Every detection of a trained model (``proposalsReady``)."""
        return self._send(ProposalRequest(next(self._ids), "image", image))

    def prefetch(self, images: Iterable[ImageInput]) -> None:
        """Decode the next images (and compute features for a trained model) ahead."""
        if self._prefetch_id is not None:
            self._drop(self._prefetch_id)
        self._prefetch_id = self._send(
            ProposalRequest(next(self._ids), "prefetch", images=tuple(images))
        )

    def cancel(self, request_id: int | None = None) -> None:
        """Drop one request (default: every pending one); ``cancelled`` says so at once."""
        ids = list(self._pending) if request_id is None else [request_id]
        for rid in ids:
            if rid in self._pending:
                self._drop(rid)
                self._finish(rid)
                self.cancelled.emit(rid)

    @property
    def pending(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------ answers

    def _drop(self, rid: int) -> None:
        with self._lock:
            self._dropped.add(rid)

    def _is_dropped(self, rid: int) -> bool:
        with self._lock:
            return self._dropped_all or rid in self._dropped

    def _finish(self, rid: int) -> bool:
        if rid not in self._pending:
            return False
        self._pending.discard(rid)
        if not self._pending:
            self.busy.emit(False)
        return True

    def _on_done(self, rid: int, result: object, score: float, source: str) -> None:
        if self._is_dropped(rid) or not self._finish(rid):
            return
        self.last_source = source
        if isinstance(result, Mask):
            self.proposalReady.emit(rid, result, score)
        else:
            self.proposalsReady.emit(rid, result)

    def _on_error(self, rid: int, message: str) -> None:
        if self._is_dropped(rid) or not self._finish(rid):
            return
        self.requestFailed.emit(rid, message)
        self.failed.emit(message)

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Drop every request and stop the thread, without waiting: a request already
        running (a GrabCut cannot be interrupted) finishes on its own, its answer is
        dropped, and the model is freed after it. Returns at once."""
        if self._closed:
            return
        self._closed = True
        self.cancel()
        if self._prefetch_id is not None:
            self._drop(self._prefetch_id)
        with self._lock:
            self._dropped_all = True
        self._thread.close(last=self._runner.shutdown)  # after the running request

    @property
    def closed(self) -> bool:
        return self._closed

    def is_running(self) -> bool:
        """The worker's thread is alive (a closed worker's ends after its request)."""
        return self._thread.is_running()

    @property
    def predictor(self) -> Any:
        """The Predictor once built (None before the first request)."""
        return self._runner.predictor


__all__ = ["ModelWorker", "ProposalRequest", "default_predictor"]

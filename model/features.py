"""Backbone features kept per image: a thread-safe LRU cache sized in bytes, and prefetch.

The backbone is the expensive part of a prompt (seconds on a CPU); the heads that turn
a box into a mask are cheap. So features are computed once per image and kept, the
images the annotator will see next are computed ahead on a worker thread, and a
prefetch can be cancelled when the queue changes. Nothing here is global: each
:class:`~model.predictor.Predictor` owns its cache and its prefetcher.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import torch
from torch import Tensor

GIB = 1 << 30


class Cancelled(Exception):
    """Work stopped because its :class:`CancelToken` was cancelled."""


class CancelToken:
    """A flag one thread sets and the worker checks between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True, eq=False)
class ImageFeatures:
    """The backbone's feature maps of one image, and the geometry to map boxes onto them."""

    key: Hashable
    maps: OrderedDict[str, Tensor]  # FPN levels "0".."3" and "pool", batch of one
    original_size: tuple[int, int]  # (height, width) of the image as given
    resized_size: tuple[int, int]  # (height, width) after the model's resize
    padded_size: tuple[int, int]  # (height, width) of the padded batch the backbone saw

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.maps.values())

    @property
    def scale(self) -> tuple[float, float]:
        """(y, x) factors from original to resized pixel coordinates."""
        return (
            self.resized_size[0] / self.original_size[0],
            self.resized_size[1] / self.original_size[1],
        )


def default_cache_bytes(device: torch.device | str = "cpu") -> int:
    """A cache budget: on a GPU a quarter of its free memory (at most 4 GiB); else an
    eighth of the RAM (at most 2 GiB). One 800 x 1216 image takes ~85 MB in float32."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(min(4 * GIB, free // 4))
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        total = 8 * GIB
    return int(min(2 * GIB, total // 8))


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    result: ImageFeatures | None = None


class FeatureCache:
    """Least-recently-used features, bounded by bytes; safe to share between threads.

    :meth:`get_or_compute` computes each key once even when two threads ask at the same
    time (the second waits for the first). The newest entry is always kept, even when
    alone it exceeds ``max_bytes``, so a prompt never recomputes the image it is on.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = default_cache_bytes() if max_bytes is None else int(max_bytes)
        self._entries: OrderedDict[Hashable, ImageFeatures] = OrderedDict()
        self._pending: dict[Hashable, _Pending] = {}
        self._lock = threading.Lock()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._entries)

    def get(self, key: Hashable) -> ImageFeatures | None:
        with self._lock:
            return self._get_locked(key)

    def _get_locked(self, key: Hashable) -> ImageFeatures | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return found

    def put(self, features: ImageFeatures) -> None:
        with self._lock:
            old = self._entries.pop(features.key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[features.key] = features
            self._bytes += features.nbytes
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], ImageFeatures]) -> ImageFeatures:
        """The cached features of ``key``, computing them (once) if absent."""
        while True:
            with self._lock:
                found = self._get_locked(key)
                if found is not None:
                    return found
                pending = self._pending.get(key)
                if pending is None:
                    pending = self._pending[key] = _Pending()
                    owner = True
                    self.misses += 1
                else:
                    owner = False
            if not owner:
                pending.done.wait()
                if pending.result is not None:
                    return pending.result
                continue  # the other thread failed or was cancelled: try ourselves
            try:
                result = compute()
                self.put(result)
                pending.result = result
                return result
            finally:
                with self._lock:
                    self._pending.pop(key, None)
                pending.done.set()


class PrefetchJob:
    """Features being computed ahead for a list of images; cancellable."""

    def __init__(self, items: list[object]) -> None:
        self.items = items
        self.token = CancelToken()
        self.completed: list[object] = []
        self.errors: list[tuple[object, str]] = []
        self.future: Future[None] | None = None

    def cancel(self) -> None:
        """Stop: pending images are skipped, a running backbone stops at its next layer."""
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    @property
    def done(self) -> bool:
        return self.future is not None and self.future.done()

    def wait(self, timeout: float | None = None) -> bool:
        """True when the job has finished (done, failed or cancelled) within ``timeout``."""
        if self.future is None:
            return True
        try:
            self.future.result(timeout)
        except FutureTimeout:
            return False
        return True


class Prefetcher:
    """One worker thread computing features ahead; a new request cancels the last one.

    ``compute(item, token)`` computes and caches one item's features; it should raise
    :class:`Cancelled` when ``token`` is cancelled mid-way. A failing item (a missing
    file...) is recorded in the job's ``errors`` and the job goes on.
    """

    def __init__(self, compute: Callable[[object, CancelToken], object]) -> None:
        self._compute = compute
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="longtail-prefetch")
        self._lock = threading.Lock()
        self._current: PrefetchJob | None = None

    def prefetch(self, items: Iterable[object]) -> PrefetchJob:
        job = PrefetchJob(list(items))
        with self._lock:
            if self._current is not None:
                self._current.cancel()
            self._current = job
            job.future = self._executor.submit(self._run, job)
        return job

    def cancel(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.cancel()

    def shutdown(self) -> None:
        self.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: PrefetchJob) -> None:
        for item in job.items:
            if job.token.cancelled:
                return
            try:
                self._compute(item, job.token)
            except Cancelled:
                return
            except Exception as exc:  # noqa: BLE001 - a prefetch never takes the app down
                job.errors.append((item, f"{type(exc).__name__}: {exc}"))
            else:
                job.completed.append(item)

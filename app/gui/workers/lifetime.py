"""Worker threads that can be abandoned: the GUI never waits for them, and no thread
object is ever destroyed while it runs.

A Qt ``QThread`` aborts the process ("QThread: Destroyed while thread ... is still
running") when its object is freed before its ``run`` returned, and some work cannot be
interrupted (a GrabCut on an 8000x6000 photo runs for minutes). So the app's background
work runs on :class:`DaemonWorker` threads: plain Python daemon threads with a queue of
tasks. Closing one drops its queued tasks and returns at once; a task already running
finishes on its own and its result goes nowhere (the owners ignore late answers). At
exit the app does not wait for them either (:func:`exit_without_waiting`).

Results reach the GUI thread through Qt signals of QObjects that live on the GUI thread
(an emit from a foreign thread is queued to the receiver's thread).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import traceback
import weakref
from collections.abc import Callable

from app.interrupt import exit_now

log = logging.getLogger(__name__)

_STOP = object()
_LIVE: weakref.WeakSet[DaemonWorker] = weakref.WeakSet()
_names = itertools.count(1)


class DaemonWorker:
    """``threads`` daemon threads working one queue of tasks (see the module docstring).

    ``submit(task)`` never blocks; ``clear()`` drops the tasks not yet started;
    ``close()`` also lets the threads end after their current task, without waiting.
    A task's exception is logged with its traceback, never raised into the GUI.
    """

    def __init__(self, name: str, threads: int = 1) -> None:
        self.name = name
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Condition()
        self._running = 0  # tasks being run now
        self._closed = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{next(_names)}", daemon=True)
            for _ in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()
        _LIVE.add(self)

    def submit(self, task: Callable[[], object]) -> None:
        if self._closed:
            return  # a closed worker takes nothing new (its owner is going away)
        self._queue.put(task)

    def clear(self) -> int:
        """Drop the tasks not started yet; returns how many were dropped."""
        dropped = 0
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                return dropped
            if task is _STOP:
                self._queue.put(_STOP)
                return dropped
            dropped += 1

    def close(self, last: Callable[[], object] | None = None) -> None:
        """Drop what waits, and let every thread end after its current task (``last``
        runs after that, e.g. to free a model). Never waits: a task that cannot be
        interrupted finishes on its own."""
        if self._closed:
            return
        self._closed = True
        self.clear()
        if last is not None:
            self._queue.put(last)
        for _ in self._threads:
            self._queue.put(_STOP)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        """A task is running or waiting."""
        with self._lock:
            return self._running > 0 or not self._queue.empty()

    def is_running(self) -> bool:
        """Some thread of this worker is still alive (a closed one ends after its task)."""
        return any(thread.is_alive() for thread in self._threads)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until no task runs or waits (tests; never the GUI's own paths)."""
        with self._lock:
            return self._lock.wait_for(
                lambda: self._running == 0 and self._queue.empty(), timeout_s
            )

    def join(self, timeout_s: float = 30.0) -> bool:
        """Block until the threads of a closed worker ended (tests)."""
        for thread in self._threads:
            thread.join(timeout_s)
        return not self.is_running()

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is _STOP:
                return
            with self._lock:
                self._running += 1
            try:
                task()
            except Exception:  # noqa: BLE001 - a worker task must never kill its thread
                log.error("%s: a background task failed\n%s", self.name, traceback.format_exc())
            finally:
                del task
                with self._lock:
                    self._running -= 1
                    self._lock.notify_all()


def busy_workers() -> list[str]:
    """Names of the workers with a task still running or waiting."""
    return sorted(w.name for w in list(_LIVE) if w.busy)


def exit_without_waiting(status: int) -> None:
    """End the process now when a worker is still busy (an abandoned proposal, a long
    statistics run): its result is not wanted, and Python's shutdown must not run while
    a thread still works in native code. Returns when nothing is busy."""
    busy = busy_workers()
    if not busy:
        return
    log.info("exiting without waiting for %s", ", ".join(busy))
    logging.shutdown()
    exit_now(status)


__all__ = ["DaemonWorker", "busy_workers", "exit_without_waiting"]

"""The training loop in a child process, so that a stop ends the run within 2 seconds.

A step cannot be abandoned inside its backward pass (one R50 step on a loaded 2-core
machine took over 150 s). So :func:`train_in_child` runs :func:`model.training.loop.train`
in a spawned child process and stays light itself: it passes the child's events on,
and when ``stop`` is set it tells the child (which stops at its next forward or step and
writes a checkpoint), waits :data:`GRACE_S`, and if the child is still busy ends it.
The run then continues, with ``--resume``, from the last checkpoint on disk (the
periodic one, written atomically): the parent records the run as cancelled with that
checkpoint and reports the iteration it resumes from.

The child ignores SIGINT (a Ctrl-C in a terminal reaches the whole process group; the
parent decides) and stops by itself when its parent dies. Under ``torchrun`` every rank
is already a process of its own and runs the loop directly.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import LongtailError

from . import events as ev
from .config import TrainConfig

GRACE_S = 0.8  # how long a stopping child may take to checkpoint before it is ended
POLL_S = 0.05


class _ChildStop:
    """The child's stop flag: the parent asked, or the parent is gone."""

    def __init__(self, event: Any, parent: int) -> None:
        self.event, self.parent = event, parent

    def is_set(self) -> bool:
        return self.event.is_set() or os.getppid() != self.parent


def _child(
    target: str,
    config: TrainConfig,
    options: dict[str, Any],
    out: Any,
    stop_event: Any,
    parent: int,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    from .loop import train  # torch is imported here, in the child

    try:
        result = train(
            target, config, report=out.put, stop=_ChildStop(stop_event, parent), **options
        )
    except LongtailError as exc:
        out.put(("error", str(exc)))
    except BaseException:  # noqa: BLE001 - a crash is reported, not hidden
        out.put(("crash", traceback.format_exc()))
    else:
        out.put(("result", result))


@dataclass
class _Watch:
    model_id: int | None = None
    result: ev.TrainResult | None = None
    error: str | None = None
    crash: str | None = None
    stopped_at: int | None = None  # the last progress event's iteration


def train_in_child(
    target: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    resume_model: int | None = None,
    device: str | None = None,
    report: Any = None,
    stop: Any = None,
    grace: float = GRACE_S,
) -> ev.TrainResult:
    """:func:`model.training.loop.train` in a child process (see the module docstring);
    its :class:`~model.training.loop.TrainResult`."""
    say = report or (lambda _e: None)
    context = mp.get_context("spawn")
    out, stop_event = context.Queue(), context.Event()
    options = {"resume": resume, "resume_model": resume_model, "device": device}
    child = context.Process(
        target=_child,
        args=(str(target), config, options, out, stop_event, os.getpid()),
        name="longtail-train",
        daemon=False,  # a daemonic process may not start DataLoader workers (--workers N)
    )
    child.start()
    # What recording a stopped run needs, imported now rather than in the 2 s after a stop.
    from pipeline.store.database import Project  # noqa: F401

    from . import registry  # noqa: F401

    watch, asked = _Watch(), None
    try:
        while True:
            _drain(out, watch, say, POLL_S)
            if stop is not None and stop.is_set() and asked is None:
                stop_event.set()
                asked = time.monotonic()
            if watch.result is not None or watch.error or watch.crash:
                break
            if not child.is_alive():
                _drain(out, watch, say, 0.2)  # the last words in the pipe
                break
            if asked is not None and time.monotonic() - asked > grace:
                break  # ended below
    finally:
        # Once its result is in (or it was ended, or this process fails), the child has
        # nothing left to write: its teardown (seconds when loaded) is not waited for.
        if child.is_alive():
            child.kill()
    if watch.result is not None:
        return watch.result
    if watch.error:
        raise LongtailError(watch.error)
    if asked is not None:
        return _abandoned(target, watch, say)
    detail = watch.crash or f"the training process ended with status {child.exitcode}"
    raise LongtailError(f"training failed: {detail.strip().splitlines()[-1]}")


def _drain(out: Any, watch: _Watch, say: Any, wait: float) -> None:
    try:
        item = out.get(timeout=wait)
    except queue.Empty:
        return
    while True:
        if isinstance(item, ev.Event):
            if isinstance(item, ev.Registered):
                watch.model_id = item.model_id
            elif isinstance(item, ev.Progress):
                watch.stopped_at = item.iteration
            say(item)
        else:
            kind, value = item
            setattr(watch, kind, value)
        try:
            item = out.get_nowait()
        except queue.Empty:
            return


def _abandoned(target: str | Path, watch: _Watch, say: Any) -> ev.TrainResult:
    """The child was ended mid-step: record the run as cancelled at its last checkpoint."""
    from pipeline.store.database import Project

    from . import registry
    from .runfiles import CHECKPOINT, read_checkpoint_info

    if watch.model_id is None:
        raise LongtailError("training stopped before its model was registered; nothing to resume")
    with Project.open(target) as project:
        folder = registry.model_dir(project, watch.model_id)
        info = read_checkpoint_info(folder)
        iteration = int(info.get("iteration", 0)) if info else 0
        path = folder / CHECKPOINT if info else None
        record = registry.get_model(project, watch.model_id)
        registry.update_model(
            project,
            watch.model_id,
            status=registry.CANCELLED,
            checkpoint=project.relative(path) if path is not None else None,
            config={
                "iterations_done": iteration,
                "error": "stopped; resume continues from the checkpoint",
            },
        )
        weights = str(record.config.get("start_weights", ""))
    say(
        ev.Cancelled(
            watch.model_id,
            registry.CANCELLED,
            iteration,
            str(path) if path is not None else None,
            None,
            stopped_at=watch.stopped_at,
        )
    )
    return ev.TrainResult(
        model_id=watch.model_id,
        status=registry.CANCELLED,
        iterations_done=iteration,
        checkpoint=path,
        metrics=None,
        weights=weights,
        seconds=0.0,
        stopped_at=watch.stopped_at,
    )

"""The one entry point of a training run, for ``longtail train`` and ``python -m model.training``.

:func:`run` reads the options (:mod:`model.training.config`), sets the project's
held-out share, turns SIGINT and SIGTERM into a stop request, and runs the loop — in a
child process (:mod:`model.training.isolate`), so that a stop ends the command within
2 seconds even in the middle of a step, or directly in this process under ``torchrun``
(each rank is already a process of its own). Both commands differ only in how they
show the events: a progress bar, or JSON lines. torch is imported by the child only.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from . import events as ev
from .config import config_from_args, set_heldout_fraction

CANCELLED_EXIT = 130


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """A stop flag that SIGINT and SIGTERM set while the block runs."""
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    for signum in previous:
        signal.signal(signum, handler)
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def run(args: argparse.Namespace, report: Callable[[ev.Event], None]) -> ev.TrainResult:
    """One training run as the command line asks; its result (``status`` cancelled after
    a stop, with ``iterations_done`` the iteration ``--resume`` continues from)."""
    config = config_from_args(args)
    set_heldout_fraction(args.project, args.heldout_fraction)
    options = {"resume": args.resume, "resume_model": args.resume_model, "device": args.device}
    with stop_on_signals() as stop:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from .loop import train

            return train(args.project, config, report=report, stop=stop, **options)
        from .isolate import train_in_child

        return train_in_child(args.project, config, report=report, stop=stop, **options)


def exit_status(result: ev.TrainResult) -> int:
    return CANCELLED_EXIT if result.status == "cancelled" else 0


def leave(status: int) -> None:
    """End this process now with ``status``, its output flushed: the run has written and
    closed everything, and an interpreter's teardown (the killed child reaped, every
    module freed) costs seconds on a loaded machine, out of a stop's 2."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)

"""``python -m model.training PROJECT [options]``: one training run, progress as JSON lines.

The process the GUI starts (QProcess) and ``torchrun`` replicates: one JSON object per
line on stdout (an :mod:`model.training.events` event's ``as_dict``: registered, start,
progress, checkpoint, evaluating, evaluation_progress, evaluation, done, cancelled or
error); everything else goes to stderr. SIGINT or SIGTERM stops the run within 2 seconds
(:mod:`model.training.entry`), with a checkpoint, and exits with status 130; an error
prints an ``error`` event and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from pipeline.errors import LongtailError

from . import events as ev
from .config import add_arguments
from .entry import CANCELLED_EXIT, exit_status, leave, run

__all__ = ["CANCELLED_EXIT", "emit", "main"]


def emit(event: ev.Event) -> None:
    sys.stdout.write(json.dumps(event.as_dict(), default=str) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.training", description="Train a Mask R-CNN on a project."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        result = run(args, emit)
    except LongtailError as exc:
        emit(ev.Failed(str(exc)))
        return 1
    return exit_status(result)


if __name__ == "__main__":
    leave(main())  # a process of its own: no teardown to wait for after a stop

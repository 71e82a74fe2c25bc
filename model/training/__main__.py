"""``python -m model.training PROJECT [options]``: one training run, progress as JSON lines.

The process the GUI starts (QProcess) and ``torchrun`` replicates: one JSON object per
line on stdout (``event``: start, progress, checkpoint, evaluating, evaluation, done,
cancelled or error); everything else goes to stderr. SIGINT or SIGTERM stops the run at
the next step (within a couple of seconds on one process), writes a checkpoint and
exits with status 130; an error prints an ``error`` event and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from pipeline.errors import LongtailError

from .config import add_arguments, config_from_args, set_heldout_fraction

CANCELLED_EXIT = 130


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (the loop then checkpoints and ends)."""

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.training", description="Train a Mask R-CNN on a project."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    stop = threading.Event()
    install_stop_handlers(stop)
    try:
        config = config_from_args(args)
        set_heldout_fraction(args.project, args.heldout_fraction)
        from .loop import train  # torch is imported here, after the arguments are checked

        result = train(
            args.project,
            config,
            resume=args.resume,
            resume_model=args.resume_model,
            device=args.device,
            report=emit,
            stop=stop,
        )
    except LongtailError as exc:
        emit({"event": "error", "message": str(exc)})
        return 1
    return CANCELLED_EXIT if result.status == "cancelled" else 0


if __name__ == "__main__":
    sys.exit(main())

"""``longtail train PROJECT [--model r50-fpn-v2|swin-t|tiny] [--iterations N] [--batch-size B]
[--resume] [--device D] ...``

Fine-tunes a Mask R-CNN on the project's accepted masks (federated loss, repeat-factor
sampling), evaluates it on the held-out split and adds it to the registry (``longtail
models``). Runs in this process with a progress bar (loss, ETA); Ctrl-C (or SIGTERM)
stops the run within 2 seconds (the loop runs in a child process), with a checkpoint,
and exits with status 130 — ``--resume`` continues from the checkpoint it names. The same
entry point as ``python -m model.training`` (:mod:`model.training.entry`). For several GPUs: ``torchrun --nproc-per-node N -m model.training PROJECT ...``
takes the same options. torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipeline.errors import LongtailError


def register(sub: argparse._SubParsersAction) -> None:
    from model.training.config import add_arguments  # torch-free

    p = sub.add_parser(
        "train",
        help="fine-tune the Mask R-CNN on the project's accepted masks",
        description="Train on a snapshot of the project's curated data (accepted masks; "
        "positives, verified negatives and not-exhaustive labels per image), evaluate on "
        "the held-out split, and register the model. Ctrl-C stops with a checkpoint; "
        "--resume continues.",
    )
    add_arguments(p)
    p.set_defaults(func=run)


class _Bar:
    """tqdm on stderr (quiet when not a terminal) with the loss and the ETA."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar: Any = None

    def __call__(self, event: Any) -> None:
        from model.training import events as ev  # torch-free

        if isinstance(event, ev.Started):
            snap = event.snapshot
            ranks = f" x{event.world_size}" if event.world_size > 1 else ""
            print(
                f"model {event.model_id}: {event.architecture} from {event.start_weights} "
                f"on {event.device}{ranks}; {snap['train_images']} train / "
                f"{snap['heldout_images']} held-out images ({snap['heldout_rule']})",
                file=sys.stderr,
            )
            self.bar = self._tqdm(
                total=event.iterations,
                initial=event.start_iteration,
                desc="training",
                unit="it",
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
                leave=False,
            )
        elif isinstance(event, ev.Progress) and self.bar is not None:
            self.bar.set_postfix(loss=f"{event.loss:.3f}", lr=f"{event.lr:.2g}", refresh=False)
            self.bar.update(event.iteration - self.bar.n)
        elif isinstance(event, ev.Evaluating):
            self.close()
            print(f"evaluating on {event.images} held-out images", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    from model.training.entry import exit_status
    from model.training.entry import run as run_training
    from model.training.report import format_metrics  # torch-free

    bar = _Bar()
    try:
        result = run_training(args, bar)
    finally:
        bar.close()
    if result.status == "cancelled":
        lost = (
            f" (the step after it was abandoned at iteration {result.stopped_at})"
            if result.stopped_at is not None and result.stopped_at > result.iterations_done
            else ""
        )
        print(
            f"longtail: training cancelled; --resume continues from iteration "
            f"{result.iterations_done}{lost}, checkpoint {result.checkpoint}",
            file=sys.stderr,
        )
        return exit_status(result)
    if result.checkpoint is None:  # pragma: no cover - a finished run always writes one
        raise LongtailError("training finished without writing a checkpoint")
    print(
        f"model {result.model_id}: {result.iterations_done} iterations in {result.seconds:.0f}s "
        f"from {result.weights}; {format_metrics(result.metrics)}; "
        f"use it with `longtail models {args.project} --use {result.model_id}`"
    )
    return 0

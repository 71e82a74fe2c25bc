"""``longtail train PROJECT [--model r50-fpn-v2|swin-t|tiny] [--iterations N] [--batch-size B]
[--resume] [--device D] ...``

Fine-tunes a Mask R-CNN on the project's accepted masks (federated loss, repeat-factor
sampling), evaluates it on the held-out split and adds it to the registry (``longtail
models``). Runs in this process with a progress bar (loss, ETA); Ctrl-C (or SIGTERM)
stops at the next step, writes a checkpoint and exits with status 130 — ``--resume``
continues. For several GPUs: ``torchrun --nproc-per-node N -m model.training PROJECT ...``
takes the same options. torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
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

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "start":
            print(
                f"model {event['model_id']}: {event['architecture']} from "
                f"{event['start_weights']} on {event['device']}"
                f"{' x' + str(event['world_size']) if event['world_size'] > 1 else ''}; "
                f"{event['snapshot']['train_images']} train / "
                f"{event['snapshot']['heldout_images']} held-out images "
                f"({event['snapshot']['heldout_rule']})",
                file=sys.stderr,
            )
            self.bar = self._tqdm(
                total=event["iterations"],
                initial=event["start_iteration"],
                desc="training",
                unit="it",
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
                leave=False,
            )
        elif kind == "progress" and self.bar is not None:
            self.bar.set_postfix(
                loss=f"{event['loss']:.3f}", lr=f"{event['lr']:.2g}", refresh=False
            )
            self.bar.update(event["iteration"] - self.bar.n)
        elif kind == "evaluating":
            self.close()
            print(f"evaluating on {event['images']} held-out images", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    from model.training.config import config_from_args, set_heldout_fraction

    config = config_from_args(args)
    set_heldout_fraction(args.project, args.heldout_fraction)
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    for signum in previous:
        signal.signal(signum, handler)
    bar = _Bar()
    try:
        from model.training.evaluate import format_metrics
        from model.training.loop import train

        result = train(
            args.project,
            config,
            resume=args.resume,
            resume_model=args.resume_model,
            device=args.device,
            report=bar,
            stop=stop,
        )
    finally:
        bar.close()
        for signum, old in previous.items():
            signal.signal(signum, old)
    if result.status == "cancelled":
        print(
            f"longtail: training cancelled at iteration {result.iterations_done}; checkpoint "
            f"{result.checkpoint} (continue with --resume)",
            file=sys.stderr,
        )
        return 130
    if result.checkpoint is None:  # pragma: no cover - a finished run always writes one
        raise LongtailError("training finished without writing a checkpoint")
    print(
        f"model {result.model_id}: {result.iterations_done} iterations in {result.seconds:.0f}s "
        f"from {result.weights}; {format_metrics(result.metrics)}; "
        f"use it with `longtail models {args.project} --use {result.model_id}`"
    )
    return 0

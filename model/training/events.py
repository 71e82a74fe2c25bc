"""What a training run tells its watchers, as plain dataclasses (torch-free).

The loop (:mod:`model.training.loop`) creates them, the child process that runs it
passes them to its parent (:mod:`model.training.isolate`), ``python -m model.training``
prints them as JSON lines (:meth:`Event.as_dict`), the CLI progress bar
(``longtail train``) and the GUI worker (:mod:`app.gui.workers.training`) read them back
(:func:`event_from_dict`). This module imports nothing but the standard library, so the
GUI and the CLI read events without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """One thing that happened; ``kind`` is the ``event`` field of its JSON line."""

    kind: ClassVar[str] = ""

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Registered(Event):
    """The run has its registry row (before the model is built)."""

    kind: ClassVar[str] = "registered"
    model_id: int


@dataclass(frozen=True)
class Started(Event):
    kind: ClassVar[str] = "start"
    model_id: int
    architecture: str
    start_weights: str  # COCO weights, ImageNet backbone, a longtail model, scratch
    weights: str  # what filled which parts
    snapshot: dict[str, Any]
    iterations: int
    start_iteration: int
    device: str
    world_size: int
    amp: bool
    optimizer: str
    total_batch: int
    frozen_batch_norms: int = 0  # BatchNorm layers kept frozen (those with pretrained stats)


@dataclass(frozen=True)
class Progress(Event):
    kind: ClassVar[str] = "progress"
    iteration: int
    iterations: int
    loss: float
    losses: dict[str, float]
    lr: float
    images: int
    images_per_s: float | None
    eta_s: float
    ranks: int


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    iteration: int
    path: str


@dataclass(frozen=True)
class Evaluating(Event):
    kind: ClassVar[str] = "evaluating"
    images: int


@dataclass(frozen=True)
class EvaluationProgress(Event):
    kind: ClassVar[str] = "evaluation_progress"
    done: int
    total: int


@dataclass(frozen=True)
class Evaluated(Event):
    kind: ClassVar[str] = "evaluation"
    metrics: dict[str, Any] | None


@dataclass(frozen=True)
class Ended(Event):
    """The run is over: ``done`` (finished) or ``cancelled``. ``iteration`` is where its
    checkpoint stands, the iteration ``--resume`` continues from; ``stopped_at`` the
    last iteration the run finished (later than ``iteration`` when a stop had to abandon
    the step and fall back on the last periodic checkpoint)."""

    kind: ClassVar[str] = "done"
    model_id: int
    status: str
    iteration: int
    checkpoint: str | None
    metrics: dict[str, Any] | None
    stopped_at: int | None = None


@dataclass(frozen=True)
class Cancelled(Ended):
    kind: ClassVar[str] = "cancelled"


@dataclass(frozen=True)
class Failed(Event):
    kind: ClassVar[str] = "error"
    message: str


KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        Registered,
        Started,
        Progress,
        CheckpointSaved,
        Evaluating,
        EvaluationProgress,
        Evaluated,
        Ended,
        Cancelled,
        Failed,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """The event a JSON line holds; None for an unknown kind (a newer trainer)."""
    cls = KINDS.get(str(data.get("event")))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError:  # a field missing: not an event this reader understands
        return None


@dataclass
class TrainResult:
    """How a run ended (what :func:`model.training.loop.train` returns)."""

    model_id: int
    status: str  # registry.FINISHED or registry.CANCELLED
    iterations_done: int  # where the checkpoint stands (what --resume continues from)
    checkpoint: Path | None
    metrics: dict[str, Any] | None
    weights: str  # what the run started from
    seconds: float
    losses: list[dict[str, float]] = field(default_factory=list)  # per iteration, this session
    stopped_at: int | None = None  # the last finished iteration, when later than the checkpoint

"""Replay a labelled set through the six stages with scripted annotators.

``simulate(project, truth)`` reads a COCO or LVIS JSON whose images are the project's
(matched by ``file_name``, else by the last part of ``coco_url``; categories by the
vocabulary's one matching rule), seeds the queues, and lets ``annotators`` scripted
annotators claim and answer items through the same :class:`~pipeline.stages.Pipeline`
API the desktop app uses, until every queue is empty. Each answer is taken from the
truth, with the mistakes a :class:`NoiseProfile` asks for. It is for trying settings,
measuring the work each stage needs, and tests.

What the scripted annotators do:

1. spotting: spot every truly present category not yet known (a point on one of its
   instances); crowd-only categories are not spotted (no instance can be marked);
2. marking: the category fits when the truth has a non-crowd instance of it; then one
   mark (point + box) per instance;
3. segmentation: the truth mask, or a sloppy one (IoU with the truth at most
   ``SLOPPY_CEILING``: a coarse outline, a grown or a shrunk mask);
4. verification: accept when the mask's IoU with the truth reaches the project's
   quality bar (setting ``verify_min_iou``);
5. exhaustive: "all segmented" when every truth instance has an accepted instance,
   else the missing ones are marked;
6. negatives: present when the truth has the category in the image (crowd included;
   for LVIS truth, when it is annotated there).

A mark is tied to its truth instance by the point: the scripted marker puts it on a
pixel of that instance only (the deepest one), so any later stage finds it again.
Durations and clicks come from a nominal effort model (:func:`nominal_effort`): they
give the event log plausible figures, they are not measurements.

The modules: ``noise`` (profiles, sloppy masks), ``truth`` (reading and matching the
truth), ``annotator`` (the scripted answers), ``step`` (one claim-and-answer step,
shared by) ``run`` (the single-process loop) and ``worker`` (one annotator per
process), and ``summary`` (the comparison with the truth).
"""

from __future__ import annotations

from .annotator import ScriptedAnnotator, nominal_effort
from .noise import (
    PROFILES,
    SLOPPY_CEILING,
    NoiseProfile,
    NoiseWork,
    noise_profile,
    sloppy_mask,
)
from .run import RunOutcome, run_annotators, scripted_annotator, simulate
from .step import STAGE_ORDER, Step, claim_and_answer
from .summary import SimulationSummary, summarize
from .truth import Truth, TruthImage, TruthInstance, load_truth
from .worker import WorkerReport, run_worker

__all__ = [
    "PROFILES",
    "SLOPPY_CEILING",
    "STAGE_ORDER",
    "NoiseProfile",
    "NoiseWork",
    "RunOutcome",
    "ScriptedAnnotator",
    "SimulationSummary",
    "Step",
    "Truth",
    "TruthImage",
    "TruthInstance",
    "WorkerReport",
    "claim_and_answer",
    "load_truth",
    "noise_profile",
    "nominal_effort",
    "run_annotators",
    "run_worker",
    "scripted_annotator",
    "simulate",
    "sloppy_mask",
    "summarize",
]

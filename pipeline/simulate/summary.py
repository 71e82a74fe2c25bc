"""What a simulation did, compared with the truth: the summary and its text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from ..federated import check_invariants, federated_labels, label_counts
from ..masks.geometry import Mask
from ..stages import Pipeline
from ..store import schema as s
from ..store.database import Project
from .truth import Truth


@dataclass
class SimulationSummary:
    images: int
    annotators: int
    noise: str
    seed: int
    answers: dict[int, int]  # per stage, in this run
    elapsed_s: float
    cancelled: bool
    stalled: dict[int, int]  # items still pending per stage when the run ended
    rejected_segments: int  # redo loops
    instances_redone: int
    masks: dict[str, Any]
    labels: dict[str, int]
    truth_check: dict[str, int]
    violations: list[str]
    effort_hours: float
    # truth categories no project category matched (their annotations were left out)
    unmatched_categories: list[str] = field(default_factory=list)
    # of ``stalled``: items under someone else's live lease when the run ended
    leased_elsewhere: int = 0

    @property
    def total_answers(self) -> int:
        return sum(self.answers.values())

    @property
    def answers_per_s(self) -> float:
        return self.total_answers / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def finished(self) -> bool:
        return not self.cancelled and not any(self.stalled.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["answers"] = {str(k): v for k, v in self.answers.items()}
        out["stalled"] = {str(k): v for k, v in self.stalled.items()}
        out.update(
            total_answers=self.total_answers,
            answers_per_s=round(self.answers_per_s, 2),
            finished=self.finished,
        )
        return out

    def lines(self) -> list[str]:
        names = s.STAGES
        out = [
            f"{self.images} images, {self.annotators} scripted annotators, noise {self.noise}, "
            f"seed {self.seed}",
            "",
            f"{'stage':<42}{'answers':>9}{'left':>7}",
        ]
        for stage in sorted(names):
            out.append(
                f"{stage} {names[stage]:<40}{self.answers.get(stage, 0):>9}"
                f"{self.stalled.get(stage, 0):>7}"
            )
        m = self.masks
        out += [
            "",
            f"redo loops: {self.rejected_segments} segments rejected, "
            f"{self.instances_redone} instances redrawn",
            f"accepted masks: {m['accepted']}, matched to {m['matched_truth']} of "
            f"{m['truth_instances']} truth instances; IoU with the truth mean "
            f"{_fmt(m['mean_iou'])}, min {_fmt(m['min_iou'])}, >= 0.9: {_fmt(m['share_iou_0.9'])}",
            f"federated labels: {self.labels['positive_pairs']} positive, "
            f"{self.labels['negative_pairs']} negative, "
            f"{self.labels['not_exhaustive_pairs']} not exhaustive pairs; against the truth: "
            f"{self.truth_check['missing_positives']} positives missing, "
            f"{self.truth_check['false_positives']} false positives, "
            f"{self.truth_check['wrong_negatives']} wrong negatives",
            f"invariants: {'all hold' if not self.violations else f'{len(self.violations)} broken'}",
            f"{self.total_answers} answers in {self.elapsed_s:.1f} s "
            f"({self.answers_per_s:.1f} answers/s); nominal annotator time "
            f"{self.effort_hours:.1f} h",
        ]
        if self.cancelled:
            out.append("cancelled: the answers given so far are saved")
        elif self.leased_elsewhere:
            out.append(
                f"not finished: {self.leased_elsewhere} items are leased by someone else "
                "(another run or a person); run again when they are answered"
            )
        elif any(self.stalled.values()):
            out.append(
                "stalled: items are left that nobody may take (verification needs someone "
                "other than the author: more --annotators, or allow_self_verification)"
            )
        return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summarize(
    project: Project,
    truth: Truth,
    *,
    answers: dict[int, int],
    elapsed: float,
    cancelled: bool,
    annotators: int,
    noise: str,
    seed: int,
) -> SimulationSummary:
    """Compare the project's state with the truth."""
    service = Pipeline(project)
    progress = service.progress()
    stalled = {stage: p.remaining for stage, p in progress.items()}
    held = sum(p.leased for p in progress.values())
    with project.read() as conn:
        labels = federated_labels(conn)
        counts = label_counts(conn)
        violations = [str(v) for v in check_invariants(conn)]
        rejected = list(
            conn.execute(
                select(s.segments.c.instance_id).where(s.segments.c.status == s.SEGMENT_REJECTED)
            ).scalars()
        )
        accepted = conn.execute(
            select(
                s.segments.c.mask_kind,
                s.segments.c.mask,
                s.instances.c.image_id,
                s.instances.c.category_id,
                s.instances.c.x,
                s.instances.c.y,
            )
            .join(s.instances, s.instances.c.id == s.segments.c.instance_id)
            .where(
                s.segments.c.status == s.SEGMENT_ACCEPTED,
                s.instances.c.is_crowd.is_(False),
            )
        ).all()
        effort = conn.execute(
            select(s.events.c.duration_s).where(s.events.c.action == "answer")
        ).scalars()
        effort_s = sum(d or 0.0 for d in effort)
    ious, matched = [], set()
    for row in accepted:
        image = truth.images.get(row.image_id)
        if image is None:
            continue
        mask = Mask.from_bytes(row.mask_kind, row.mask, image.height, image.width)
        if row.x is not None:
            target = image.match(row.category_id, row.x, row.y)
        else:  # imported: no mark point
            target = image.match_mask(row.category_id, mask)
        if target is None:
            continue
        ious.append(mask.iou(target.mask))
        matched.add((row.image_id, target.ann_id))
    truth_instances = sum(
        len([t for t in im.instances if not t.is_crowd]) for im in truth.images.values()
    )
    missing = false_pos = wrong_neg = 0
    for image_id, image in truth.images.items():
        got = labels.get(image_id)
        if got is None:
            continue
        missing += len(image.present - got.positive_category_ids)
        false_pos += len(got.positive_category_ids - image.anywhere)
        wrong_neg += len(got.negative_category_ids & image.anywhere)
    masks = {
        "accepted": len(ious),
        "matched_truth": len(matched),
        "truth_instances": truth_instances,
        "mean_iou": float(np.mean(ious)) if ious else None,
        "min_iou": float(np.min(ious)) if ious else None,
        "share_iou_0.9": float(np.mean([v >= 0.9 for v in ious])) if ious else None,
    }
    return SimulationSummary(
        images=len(truth.images),
        annotators=annotators,
        noise=noise,
        seed=seed,
        answers=answers,
        elapsed_s=round(elapsed, 3),
        cancelled=cancelled,
        stalled=stalled,
        rejected_segments=len(rejected),
        instances_redone=len(set(rejected)),
        masks=masks,
        labels=counts.as_dict(),
        truth_check={
            "missing_positives": missing,
            "false_positives": false_pos,
            "wrong_negatives": wrong_neg,
        },
        violations=violations,
        effort_hours=round(effort_s / 3600.0, 2),
        unmatched_categories=list(truth.unmatched_categories),
        leased_elsewhere=held,
    )

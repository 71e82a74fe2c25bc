"""Corrections: a mask redrawn outside the stage queues (in the explorer) becomes a new
segment version of its instance, and that version goes back to verification.

Accepted data is never edited silently: the corrected instance leaves the accepted
state until verifiers accept the new version (the rules of stage 4 apply as to any
segment; its author is excluded unless ``allow_self_verification``), and the
correction is an event in the log with who made it, when, with what tool and effort.
In one transaction:

- the new version is inserted (status ``pending``); the versions it replaces, the
  accepted one included, become ``superseded`` and stay in the history;
- the instance becomes ``segmented``; stage-3 and stage-4 items still pending for it
  (a redo, verifications of an older version) are cancelled, and
  ``verifiers_per_segment`` stage-4 items are opened for the new version;
- the pair's exhaustiveness answer, if any, is cleared and a pending stage-5 item is
  cancelled: stage 5 is asked again once every instance is accepted (the federated
  invariant: an exhaustiveness answer needs every instance accepted).

Until the new version is accepted the instance is not exported and its pair counts
as unverified (not a positive) if it has no other accepted instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from .errors import ConflictError, NotFoundError
from .events import Effort, log_event
from .masks.geometry import Mask
from .stages.common import cancel, lock_image, pair_row, pending_items
from .stages.journal import Journal
from .stages.segmentation import new_segment_version
from .store import schema as s
from .store.database import Annotator, Project, now, read_settings

CORRECTION = "correct"
"""The event action of a correction (``pipeline.stats.effort`` counts them apart)."""


@dataclass(frozen=True)
class Correction:
    """What a correction did."""

    instance_id: int
    segment_id: int  # the new version
    version: int
    replaced: tuple[int, ...]  # segment ids that became superseded
    verification_items: tuple[int, ...]  # the stage-4 items opened for the new version
    cancelled_items: int  # pending stage 3/4/5 items that are no longer needed
    exhaustive_cleared: bool  # the pair's stage-5 answer was cleared (asked again later)
    event_id: int


def correct_mask(
    project: Project,
    instance_id: int,
    mask: Mask,
    annotator: Annotator | str,
    *,
    tool: str = "polygon",
    effort: Effort | None = None,
) -> Correction:
    """Make ``mask`` the new version of instance ``instance_id``, to be verified (see the
    module docstring). Raises NotFoundError, LongtailError for a mask that does not fit
    the image, ConflictError for an instance that cannot be corrected."""
    who = annotator if isinstance(annotator, Annotator) else project.annotator(annotator)
    with project.write() as conn:
        instance = conn.execute(select(s.instances).where(s.instances.c.id == instance_id)).first()
        if instance is None:
            raise NotFoundError(f"instance {instance_id} does not exist")
        lock_image(conn, instance.image_id)
        image = conn.execute(select(s.images).where(s.images.c.id == instance.image_id)).one()
        if instance.is_crowd:
            raise ConflictError(
                f"instance {instance_id} is a crowd region: crowd regions are kept as "
                "imported and never verified, so they cannot be corrected"
            )
        pair = pair_row(conn, instance.image_id, instance.category_id)
        if pair is None or pair.state != s.CONFIRMED:
            state = "none" if pair is None else pair.state
            raise ConflictError(
                f"instance {instance_id}: its category is not confirmed in image "
                f"{instance.image_id} (the pair's state is {state})"
            )
        settings = read_settings(conn)
        journal = Journal(conn)
        replaced = tuple(
            conn.execute(
                select(s.segments.c.id).where(
                    s.segments.c.instance_id == instance_id,
                    s.segments.c.status.in_((s.PENDING, s.SEGMENT_ACCEPTED)),
                )
            ).scalars()
        )
        for segment_id in replaced:
            journal.update(s.segments, segment_id, status=s.SUPERSEDED)
        cancelled = cancel(journal, pending_items(conn, s.SEGMENTATION, instance_id=instance_id))
        cancelled += cancel(journal, pending_items(conn, s.VERIFICATION, instance_id=instance_id))
        cancelled += cancel(
            journal,
            pending_items(
                conn, s.EXHAUSTIVE, image_id=instance.image_id, category_id=instance.category_id
            ),
        )
        cleared = pair.exhaustive is not None
        if cleared:
            journal.update(
                s.image_categories,
                {"image_id": instance.image_id, "category_id": instance.category_id},
                exhaustive=None,
                updated_at=now(),
            )
        written = new_segment_version(
            journal,
            settings,
            instance,
            image,
            mask,
            author_id=who.id,
            tool=tool,
            where=f"instance {instance_id}: ",
        )
        event_id = log_event(
            conn,
            CORRECTION,
            annotator_id=who.id,
            stage=s.SEGMENTATION,
            image_id=instance.image_id,
            category_id=instance.category_id,
            effort=effort,
            payload={
                "correction": {
                    "instance_id": instance_id,
                    "segment_id": written.segment_id,
                    "version": written.version,
                    "replaced": list(replaced),
                    "previous_status": instance.status,
                    "tool": tool,
                    "area": mask.area,
                    "exhaustive_cleared": cleared,
                },
                "journal": journal.ops,
            },
            tool=tool,
        )
    return Correction(
        instance_id=instance_id,
        segment_id=written.segment_id,
        version=written.version,
        replaced=replaced,
        verification_items=written.verification_items,
        cancelled_items=cancelled,
        exhaustive_cleared=cleared,
        event_id=event_id,
    )

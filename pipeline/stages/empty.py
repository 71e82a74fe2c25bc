"""Why a stage has nothing for an annotator, and what would open it (issue 18).

A front end shows this when a stage's queue is empty for someone: a solo annotator
must learn that stage 4 holds their own masks, which they may not verify unless the
project allows it, and that stage 6 waits for images to finish spotting. One read
transaction; Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..store import schema as s
from ..store.settings import ProjectSettings

# What an answer in which stage opens this one (docs/pipeline.md).
OPENED_BY = {
    s.SPOTTING: "Stage 1 has an item per image until spotting is done with it "
    "(every image has finished spotting, or none was added).",
    s.MARKING: "Stage 2 opens when a stage-1 answer spots a category on an image "
    "(every instance of it is then marked here).",
    s.SEGMENTATION: "Stage 3 opens when stage 2 marks instances (each is segmented here).",
    s.VERIFICATION: "Stage 4 opens when stage 3 submits a mask (each is verified here).",
    s.EXHAUSTIVE: "Stage 5 opens when every marked instance of a category on an image "
    "has an accepted mask.",
    s.NEGATIVES: "Stage 6 opens an image's negative-label questions once spotting is done with it.",
}


@dataclass(frozen=True)
class EmptyStage:
    """Why ``stage`` has nothing for the annotator, in sentences, and the numbers."""

    stage: int
    reasons: tuple[str, ...]
    own_masks: int = 0  # stage 4: open items that are the annotator's own masks
    setting: str | None = None  # the project setting that would open work, if any
    nothing_new_left: int | None = None  # stage 6: "nothing new" answers still needed

    @property
    def text(self) -> str:
        return "\n".join(self.reasons)


def why_empty(
    conn: Connection, stage: int, annotator_id: int, settings: ProjectSettings
) -> EmptyStage:
    """Why ``stage`` has nothing open for ``annotator_id`` (see the module docstring)."""
    wi = s.work_items
    leased = int(
        conn.execute(
            select(func.count())
            .select_from(wi)
            .where(wi.c.stage == stage, wi.c.status == s.LEASED, wi.c.lease_owner != annotator_id)
        ).scalar_one()
    )
    others = (
        [f"{leased} item{'s are' if leased != 1 else ' is'} being worked on by others now."]
        if leased
        else []
    )
    if stage == s.VERIFICATION and not settings.allow_self_verification:
        own = int(
            conn.execute(
                select(func.count())
                .select_from(wi.join(s.segments, s.segments.c.id == wi.c.segment_id))
                .where(
                    wi.c.stage == stage,
                    wi.c.status == s.OPEN,
                    s.segments.c.annotator_id == annotator_id,
                )
            ).scalar_one()
        )
        if own:
            them = "them" if own != 1 else "it"
            return EmptyStage(
                stage,
                (
                    f"{own} mask{'s wait' if own != 1 else ' waits'} for verification, but you "
                    f"drew {them}, and you may not verify your own masks in this project.",
                    f"Another annotator can verify {them}, or an admin can allow it: "
                    "Project \u2192 Settings\u2026 \u2192 \u201cannotators may verify their own "
                    "masks\u201d.",
                    *others,
                ),
                own_masks=own,
                setting="allow_self_verification",
            )
    if stage == s.NEGATIVES:
        return _negatives(conn, settings, others)
    return EmptyStage(stage, (OPENED_BY[stage], *others))


def _negatives(conn: Connection, settings: ProjectSettings, others: list[str]) -> EmptyStage:
    done_after = settings.spot_done_after
    finished = select(s.spotting_finished.c.image_id)
    waiting = conn.execute(select(s.images.c.id).where(s.images.c.id.not_in(finished))).scalars()
    waiting_ids = set(waiting)
    if not waiting_ids:
        return EmptyStage(
            s.NEGATIVES,
            (
                "Every image has finished spotting. Stage 6 asks about categories that are "
                "still short of the negatives quota (project setting: "
                f"{settings.negatives_per_category} verified-absent images per category); "
                "none is left to ask now.",
                *others,
            ),
            setting="negatives_per_category",
            nothing_new_left=0,
        )
    # each waiting image needs `done_after` "nothing new" answers in a row; count the
    # ones it has at the end of its visits
    visits = conn.execute(
        select(s.spot_visits.c.image_id, s.spot_visits.c.nothing_new)
        .where(s.spot_visits.c.image_id.not_in(finished))
        .order_by(s.spot_visits.c.image_id, s.spot_visits.c.id.desc())
    ).all()
    in_row: dict[int, int] = {}
    broken: set[int] = set()
    for image_id, nothing_new in visits:
        if image_id in broken:
            continue
        if nothing_new:
            in_row[image_id] = min(done_after, in_row.get(image_id, 0) + 1)
        else:
            broken.add(image_id)
    left = sum(done_after - in_row.get(i, 0) for i in waiting_ids)
    n = len(waiting_ids)
    return EmptyStage(
        s.NEGATIVES,
        (
            OPENED_BY[s.NEGATIVES],
            f"Spotting is done with an image after {done_after} \u201cnothing new\u201d "
            f"answer{'s' if done_after != 1 else ''} (N) in a row in stage 1 (project setting "
            "spot_done_after).",
            f"{n} image{'s are' if n != 1 else ' is'} still in spotting: {left} more "
            "\u201cnothing new\u201d answers would finish them all.",
            *others,
        ),
        setting="spot_done_after",
        nothing_new_left=left,
    )


__all__ = ["OPENED_BY", "EmptyStage", "why_empty"]

"""The service both front ends call: next item, answer, skip, undo, progress.

    service = Pipeline(project)
    service.seed()                                  # open the missing work items
    item = service.next_item(SPOTTING, "alice")     # claim; None when the queue is empty
    service.answer(item, SpotAnswer(nothing_new=True), effort=Effort(4.2, 1))
    service.undo_last("alice")                      # the same item, leased to alice again

Every call is one transaction: an answer completes its work item, writes its results,
opens the follow-up items and logs the event with annotator, duration and clicks, or
does nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from ..errors import ConflictError, LongtailError, NotFoundError
from ..events import Effort, log_event
from ..federated import FederatedLabels, federated_labels
from ..images import image_from_row
from ..store import notify
from ..store import schema as s
from ..store.database import Annotator, Project, now, read_settings
from ..store.workqueue import (
    WorkItem,
    claim_in,
    complete_in,
    item_from_row,
    release_in,
    stage_counts,
)
from ..team import roles
from . import exhaustive, marking, negatives, segmentation, spotting, verification
from .answers import (
    Answer,
    ExhaustiveAnswer,
    MarkAnswer,
    NegativeAnswer,
    SegmentAnswer,
    SpotAnswer,
    VerifyAnswer,
)
from .common import Answering, image_row, lock_image, lock_seeding
from .journal import Journal
from .seeding import SeedReport, open_spotting, seed
from .undo import ANSWER, latest_answer, undo_problem
from .undo import undo_last as _undo_last
from .views import StageItem

wi = s.work_items


@dataclass(frozen=True)
class StageRules:
    """How the service handles one stage."""

    answer_type: type
    build_view: Callable[..., StageItem]
    apply: Callable[[Answering, Any], None]
    claim_filter: Callable[[int], Any] | None = None
    # The item's exclusion is only a preference: without another item, take it anyway.
    soft_exclusion: bool = False


STAGE_RULES: dict[int, StageRules] = {
    s.SPOTTING: StageRules(SpotAnswer, spotting.build_view, spotting.apply, soft_exclusion=True),
    s.MARKING: StageRules(MarkAnswer, marking.build_view, marking.apply),
    s.SEGMENTATION: StageRules(SegmentAnswer, segmentation.build_view, segmentation.apply),
    s.VERIFICATION: StageRules(
        VerifyAnswer, verification.build_view, verification.apply, verification.claim_filter
    ),
    s.EXHAUSTIVE: StageRules(ExhaustiveAnswer, exhaustive.build_view, exhaustive.apply),
    s.NEGATIVES: StageRules(NegativeAnswer, negatives.build_view, negatives.apply),
}


@dataclass(frozen=True)
class AnswerResult:
    """What an answer did: its event, and the work items it opened per stage."""

    event_id: int
    work_item_id: int
    stage: int
    opened: dict[int, int]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class StageProgress:
    stage: int
    name: str
    open: int
    leased: int
    done: int

    @property
    def remaining(self) -> int:
        return self.open + self.leased


def check_stage(stage: int) -> int:
    if stage not in s.STAGES:
        raise LongtailError(f"there is no stage {stage}; the stages are 1 to 6")
    return int(stage)


class Pipeline:
    """The six-stage pipeline of one project (see the module docstring). Thread-safe:
    every method opens its own transaction; annotators are cached by name."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._annotators: dict[str, Annotator] = {}
        self._empty_refill: tuple[Any, ...] | None = None

    # ------------------------------------------------------------ annotators

    def annotator(self, who: Annotator | str, *, is_bot: bool = False) -> Annotator:
        """The annotator (created on first use when named)."""
        if isinstance(who, Annotator):
            return who
        found = self._annotators.get(who)
        if found is None:
            roles.check_acting(self.project, who)  # PostgreSQL: the login acts (decision 0020)
            found = self._annotators[who] = self.project.annotator(who, is_bot=is_bot)
        return found

    # ------------------------------------------------------------ seeding

    def seed(
        self,
        *,
        image_ids: Iterable[int] | None = None,
        spot_imported: bool = True,
        verify_imported: bool = True,
        by: Annotator | str | None = None,
    ) -> SeedReport:
        """Open the work items no answer will open (new images, imported annotations,
        changed settings); idempotent. See :mod:`pipeline.stages.seeding`. An admin's
        action (``by``, else whoever acts: :func:`pipeline.team.roles.acting_name`)."""
        with self.project.write() as conn:
            roles.require_in(conn, roles.SEED, by)
            lock_seeding(conn)
            report = seed(
                conn,
                read_settings(conn),
                image_ids=image_ids,
                spot_imported=spot_imported,
                verify_imported=verify_imported,
            )
            notify.announce(conn, notify.QUEUES)
            return report

    # ------------------------------------------------------------ claiming

    def next_item(self, stage: int, annotator: Annotator | str) -> StageItem | None:
        """Claim the next item of ``stage`` for ``annotator`` and return what they must see;
        None when nothing in the stage is open to them."""
        rules = STAGE_RULES[check_stage(stage)]
        who = self.annotator(annotator)
        with self.project.write() as conn:
            item = self._claim(conn, stage, rules, who, read_settings(conn))
        if item is None:
            return None
        with self.project.read() as conn:
            return self._view(conn, item, who)

    def next_items(self, stage: int, annotator: Annotator | str, n: int) -> list[StageItem]:
        """Claim up to ``n`` items of ``stage`` in one transaction (a verification page),
        in queue order, each claimed as :meth:`next_item` would; fewer (or none) when the
        stage runs out."""
        if n < 1:
            raise LongtailError(f"claim at least one item, not {n}")
        rules = STAGE_RULES[check_stage(stage)]
        who = self.annotator(annotator)
        claimed: list[WorkItem] = []
        with self.project.write() as conn:
            settings = read_settings(conn)
            while len(claimed) < n:
                item = self._claim(conn, stage, rules, who, settings)
                if item is None:
                    break
                claimed.append(item)
        with self.project.read() as conn:
            return [self._view(conn, item, who) for item in claimed]

    def _claim(
        self, conn: Connection, stage: int, rules: StageRules, who: Annotator, settings: Any
    ) -> WorkItem | None:
        """One claim inside the caller's write transaction (the rules of :meth:`next_item`)."""
        roles.check_stage(conn, who, stage, settings)
        where = rules.claim_filter(who.id) if rules.claim_filter else None
        # Own segments follow the setting as it is now, not the exclusion stored with the item.
        stored_exclusion = stage != s.VERIFICATION
        if not stored_exclusion:
            own = roles.own_segment_rule(who.id, settings)
            where = own if where is None else and_(where, own)
        claim = dict(lease_seconds=settings.lease_seconds, where=where)
        item = claim_in(conn, stage, who.id, honour_exclusion=stored_exclusion, **claim)
        if item is None and rules.soft_exclusion:
            item = claim_in(conn, stage, who.id, honour_exclusion=False, **claim)
        if item is None and stage == s.NEGATIVES and self._refill(conn, settings):
            item = claim_in(conn, stage, who.id, **claim)
        # images added since the last seed() are spotted without waiting for one
        if item is None and stage == s.SPOTTING:
            lock_seeding(conn)
            if open_spotting(Journal(conn, record=False), settings):
                item = claim_in(conn, stage, who.id, honour_exclusion=False, **claim)
        return item

    def held(self, annotator: Annotator | str, stage: int | None = None) -> list[StageItem]:
        """The items ``annotator`` holds now (to resume after a restart), oldest first."""
        who = self.annotator(annotator)
        query = select(wi).where(wi.c.status == s.LEASED, wi.c.lease_owner == who.id)
        if stage is not None:
            query = query.where(wi.c.stage == check_stage(stage))
        with self.project.read() as conn:
            rows = conn.execute(query.order_by(wi.c.id)).all()
            return [self._view(conn, item_from_row(r), who) for r in rows]

    def renew(self, item: StageItem) -> StageItem:
        """Extend the lease on an item (a front end calls it while the annotator works)."""
        with self.project.write() as conn:
            row = self._held_row(conn, item)
            settings = read_settings(conn)
            updated = conn.execute(
                wi.update()
                .where(wi.c.id == row.id)
                .values(status=s.LEASED, lease_expires=now() + settings.lease_seconds)
                .returning(*wi.c)
            ).first()
        return _replace_item(item, item_from_row(updated))

    def release(self, item: StageItem) -> None:
        """Give an item back unanswered, keeping its place in the queue (closing the app)."""
        with self.project.write() as conn:
            self._held_row(conn, item)
            release_in(conn, item.id, item.annotator.id)
            self._log(conn, "release", item, None)

    def skip(self, item: StageItem, *, effort: Effort | None = None) -> None:
        """Give an item back unanswered and move it behind the rest of its stage's queue,
        so that the annotator's next item is another one."""
        with self.project.write() as conn:
            self._held_row(conn, item)
            release_in(conn, item.id, item.annotator.id, to_back=True)
            self._log(conn, "skip", item, effort)

    # ------------------------------------------------------------ answering

    def answer(
        self, item: StageItem, answer: Answer, *, effort: Effort | None = None
    ) -> AnswerResult:
        """Apply ``answer`` to the held ``item`` in one transaction (see the module docstring).

        Raises LongtailError for an answer that does not fit the item, ConflictError when
        the item is no longer the annotator's or no longer needed.
        """
        rules = STAGE_RULES[check_stage(item.stage)]
        if not isinstance(answer, rules.answer_type):
            raise LongtailError(
                f"a stage {item.stage} item takes a {rules.answer_type.__name__}, "
                f"not a {type(answer).__name__}"
            )
        who = item.annotator
        with self.project.write() as conn:
            lock_image(conn, item.work_item.image_id)
            self._held_row(conn, item)
            settings = read_settings(conn)
            roles.check_stage(conn, who, item.stage, settings)  # a role may change meanwhile
            work = complete_in(conn, item.id, who.id)
            journal = Journal(conn)
            ctx = Answering(conn, journal, settings, who, work, image_row(conn, work.image_id))
            rules.apply(ctx, answer)
            event_id = log_event(
                conn,
                ANSWER,
                annotator_id=who.id,
                stage=work.stage,
                work_item_id=work.id,
                image_id=work.image_id,
                category_id=work.category_id,
                effort=effort,
                payload={"answer": ctx.summary, "journal": journal.ops},
                tool=ctx.summary.get("tool") if work.stage == s.SEGMENTATION else None,
            )
            opened = dict.fromkeys(s.STAGES, 0)
            if journal.ops:
                created = journal.created(wi)
                if created:
                    for stage in conn.execute(select(wi.c.stage).where(wi.c.id.in_(created))):
                        opened[stage[0]] += 1
        return AnswerResult(event_id, work.id, work.stage, opened, tuple(ctx.notes))

    # ------------------------------------------------------------ undo

    def can_undo(self, annotator: Annotator | str) -> str | None:
        """None when :meth:`undo_last` would succeed, else why not (for the undo button)."""
        who = self.annotator(annotator)
        with self.project.read() as conn:
            event = latest_answer(conn, who.id)
            if event is None:
                return "there is no answer of yours to undo"
            return undo_problem(conn, event)

    def undo_last(self, annotator: Annotator | str) -> StageItem:
        """Take back the annotator's last answer (rule: :mod:`pipeline.stages.undo`);
        returns its item, leased to them again, to be answered anew."""
        who = self.annotator(annotator)
        with self.project.write() as conn:
            work = _undo_last(conn, who.id, read_settings(conn))
        with self.project.read() as conn:
            return self._view(conn, work, who)

    # ------------------------------------------------------------ reading

    def progress(self) -> dict[int, StageProgress]:
        """Open / leased / done items per stage (a lease that ran out counts as open)."""
        with self.project.read() as conn:
            counts = stage_counts(conn)
        return {
            stage: StageProgress(stage, s.STAGES[stage], **counts[stage])
            for stage in sorted(s.STAGES)
        }

    def category_usage(self) -> dict[int, int]:
        """Images each category is known present in (spotted or confirmed), by category id:
        the category picker lists the categories most used in the project first."""
        ic = s.image_categories
        with self.project.read() as conn:
            rows = conn.execute(
                select(ic.c.category_id, func.count())
                .where(ic.c.state.in_((s.SPOTTED, s.CONFIRMED)))
                .group_by(ic.c.category_id)
            ).all()
        return {int(category_id): int(n) for category_id, n in rows}

    def labels(self, image_ids: Iterable[int] | None = None) -> dict[int, FederatedLabels]:
        """The federated labels of the images (all when None)."""
        with self.project.read() as conn:
            return federated_labels(conn, image_ids)

    def item(self, item_id: int, annotator: Annotator | str) -> StageItem:
        """The view of an item ``annotator`` holds (e.g. after the front end restarted)."""
        who = self.annotator(annotator)
        with self.project.read() as conn:
            row = conn.execute(select(wi).where(wi.c.id == item_id)).first()
            if row is None:
                raise NotFoundError(f"work item {item_id} does not exist")
            if row.lease_owner != who.id or row.status != s.LEASED:
                raise ConflictError(f"work item {item_id} is not held by {who.name}")
            return self._view(conn, item_from_row(row), who)

    # ------------------------------------------------------------ helpers

    def _refill(self, conn: Connection, settings: Any) -> int:
        """An empty negatives queue samples its next round (:func:`negatives.refill`).
        A refill that found nothing is not repeated until spotting or stage 6 moved on."""
        mark = (
            conn.execute(select(func.count()).select_from(s.spotting_finished)).scalar_one(),
            conn.execute(select(func.count()).select_from(s.negative_checks)).scalar_one(),
            settings,
        )
        if mark == self._empty_refill:
            return 0
        lock_seeding(conn)
        opened = negatives.refill(Journal(conn, record=False), settings)
        self._empty_refill = None if opened else mark
        return opened

    def _view(self, conn: Connection, item: WorkItem, who: Annotator) -> StageItem:
        settings = read_settings(conn)
        base = {
            "work_item": item,
            "annotator": who,
            "image": image_from_row(image_row(conn, item.image_id)),
        }
        return STAGE_RULES[item.stage].build_view(conn, base, settings)

    @staticmethod
    def _held_row(conn: Connection, item: StageItem) -> Any:
        row = conn.execute(select(wi).where(wi.c.id == item.id)).first()
        if row is None:
            raise NotFoundError(f"work item {item.id} does not exist")
        if row.status == s.CANCELLED:
            raise ConflictError(
                f"work item {item.id} is no longer needed (its segment was decided meanwhile)"
            )
        if row.status == s.DONE:
            raise ConflictError(f"work item {item.id} is already done")
        if row.lease_owner != item.annotator.id:
            raise ConflictError(
                f"work item {item.id} is no longer yours (it was released, or its lease ran "
                "out and someone else claimed it)"
            )
        return row

    @staticmethod
    def _log(conn: Connection, action: str, item: StageItem, effort: Effort | None) -> None:
        log_event(
            conn,
            action,
            annotator_id=item.annotator.id,
            stage=item.stage,
            work_item_id=item.id,
            image_id=item.work_item.image_id,
            category_id=item.work_item.category_id,
            effort=effort,
        )


def _replace_item(view: StageItem, item: WorkItem) -> StageItem:
    return replace(view, work_item=item)

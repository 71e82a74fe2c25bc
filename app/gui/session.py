"""One annotator working on one open project: the GUI's only door to the pipeline.

Views call the session and listen to its signals; they never query the store. The
session keeps the leases of what the views hold alive (a heartbeat renews every tracked
item every third of the lease) and says when one was lost. An item the annotator still
holds from before (a crash, a restart, "Take back last answer") is handed out again by
:meth:`Session.next_item` before anything new is claimed, so that work resumes where it
stopped and an autosaved draft finds its item.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from pipeline import explorer
from pipeline.constants import MODEL_IN_USE_KEY
from pipeline.errors import ConflictError, LongtailError, NotFoundError
from pipeline.events import Effort
from pipeline.images import ImageFiles, ImageRecord
from pipeline.stages import AnswerResult, Pipeline, StageItem, StageProgress
from pipeline.stages.empty import EmptyStage, why_empty
from pipeline.store import schema as s
from pipeline.store.database import Project, read_meta
from pipeline.store.notify import Change, watch
from pipeline.store.settings import ProjectSettings
from pipeline.team import roles

from .workers.lifetime import DaemonWorker

if TYPE_CHECKING:
    from .workers.model import ModelWorker

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_MS = 3000


def read_model_in_use(project: Project) -> str | None:
    """The meta value naming the model in use (None: none), one small read."""
    with project.read() as conn:
        return read_meta(conn, MODEL_IN_USE_KEY)


def stage_word(stage: int, count: int) -> str:
    """'3 segmentation items' / '1 spotting item' for toasts."""
    short = {
        s.SPOTTING: "spotting",
        s.MARKING: "marking",
        s.SEGMENTATION: "segmentation",
        s.VERIFICATION: "verification",
        s.EXHAUSTIVE: "exhaustiveness",
        s.NEGATIVES: "negative-label",
    }[stage]
    return f"{count} {short} item{'s' if count != 1 else ''}"


def answer_toast(result: AnswerResult) -> str:
    """What an answer did, in a line: the items it opened and the pipeline's notes."""
    opened = [stage_word(stage, n) for stage, n in sorted(result.opened.items()) if n]
    parts = ["Saved"]
    if opened:
        parts.append(f"opened {', '.join(opened)}")
    parts.extend(result.notes)
    return "; ".join(parts)


class Session(QObject):
    """One annotator working on one open project (see the module docstring)."""

    itemClaimed = Signal(object)  # StageItem
    answered = Signal(object)  # AnswerResult
    progressChanged = Signal(object)  # dict[int, StageProgress]
    toast = Signal(str)
    leaseLost = Signal(object)  # StageItem
    takenBack = Signal(object)  # StageItem of an answer taken back (held again, untracked)
    projectChanged = Signal(object)  # pipeline.store.notify.Change made by any session (GUI thread)
    modelWorkerChanged = Signal()  # the model in use changed: ask ``model_worker`` again
    _heard = Signal(object)  # from the watcher's thread, queued to _on_heard
    _counted = Signal(object)  # progress read on a worker thread, queued to _on_counted

    def __init__(self, project: Project, annotator_name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.pipeline = Pipeline(project)
        self.annotator = self.pipeline.annotator(annotator_name)
        # Every image the views open is checked against the project's image roots first.
        self.image_files = ImageFiles(project)
        # Admin actions and a training subprocess act as this annotator.
        roles.set_actor(self.annotator.name)
        self._held: dict[int, StageItem] = {}
        self._model_worker: ModelWorker | None = None
        self._worker_model: str | None = None  # the meta "model_in_use" its predictor is of
        self._closed = False
        self.last_progress: dict[int, StageProgress] = {}

        lease = project.settings().lease_seconds
        self._heartbeat = QTimer(self)
        self._heartbeat.setInterval(max(1000, int(lease * 1000 / 3)))
        self._heartbeat.timeout.connect(self.renew_held)
        self._heartbeat.start()

        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(PROGRESS_INTERVAL_MS)
        self._progress_timer.timeout.connect(self.refresh_progress_later)
        self._progress_timer.start()
        # Periodic counts are read off the GUI thread: on a large project the
        # group-by over the work items is not free.
        self._counting = False
        # a daemon thread: closing never waits for a slow count (workers/lifetime.py)
        self._count_pool = DaemonWorker("progress-counts")
        self._counted.connect(self._on_counted, Qt.ConnectionType.QueuedConnection)

        # Other sessions' answers reach this one as they happen (PostgreSQL NOTIFY, or
        # polling on SQLite); the counts follow at once instead of at the next tick.
        self._heard.connect(self._on_heard, Qt.ConnectionType.QueuedConnection)
        self._watcher = watch(project, self._heard.emit)

    # ------------------------------------------------------------ claiming

    def next_item(self, stage: int) -> StageItem | None:
        """The next item of ``stage`` for this annotator (one they still hold first);
        tracked for the heartbeat; emits itemClaimed. None when the stage has nothing open."""
        resumed = self._untracked_held(stage, 1)
        item = resumed[0] if resumed else self.pipeline.next_item(stage, self.annotator)
        if item is None:
            return None
        self.track(item)
        self.itemClaimed.emit(item)
        return item

    def next_items(self, stage: int, n: int) -> list[StageItem]:
        """Up to ``n`` items of ``stage`` (held ones first), each tracked and announced."""
        items = self._untracked_held(stage, n)
        wanted = n - len(items)
        if wanted > 0:
            batch = getattr(self.pipeline, "next_items", None)
            if batch is not None:
                items.extend(batch(stage, self.annotator, wanted))
            else:
                for _ in range(wanted):
                    item = self.pipeline.next_item(stage, self.annotator)
                    if item is None:
                        break
                    items.append(item)
        for item in items:
            self.track(item)
            self.itemClaimed.emit(item)
        return items

    def _untracked_held(self, stage: int, n: int) -> list[StageItem]:
        held = self.pipeline.held(self.annotator, stage)
        return [item for item in held if item.id not in self._held][:n]

    # ------------------------------------------------------------ answering

    def answer(self, item: StageItem, answer: Any, effort: Effort | None = None) -> AnswerResult:
        """Submit ``answer`` for ``item`` (one transaction); the item is no longer held."""
        try:
            result = self.pipeline.answer(item, answer, effort=effort)
        except ConflictError:
            self.untrack(item)
            self.leaseLost.emit(item)
            raise
        self.untrack(item)
        self.answered.emit(result)
        self.toast.emit(answer_toast(result))
        self.refresh_progress()
        return result

    def skip(self, item: StageItem, effort: Effort | None = None) -> None:
        """Give ``item`` back and move it behind the rest of its queue."""
        self.pipeline.skip(item, effort=effort)
        self.untrack(item)
        self.refresh_progress()

    def release(self, item: StageItem) -> None:
        """Give ``item`` back unanswered, keeping its queue place. An item that is no
        longer this annotator's needs no release."""
        self.untrack(item)
        try:
            self.pipeline.release(item)
        except (ConflictError, NotFoundError) as exc:
            log.info("release of item %s: %s", item.id, exc)

    def undo_last(self) -> StageItem:
        """ "Take back last answer": the item comes back leased to this annotator; the next
        :meth:`next_item` of its stage hands it out (the main window switches there)."""
        item = self.pipeline.undo_last(self.annotator)
        self.toast.emit(f"Took back your last answer ({s.STAGES[item.stage]})")
        self.refresh_progress()
        self.takenBack.emit(item)
        return item

    def can_undo(self) -> str | None:
        """None when :meth:`undo_last` would work, else why not."""
        return self.pipeline.can_undo(self.annotator)

    def why_empty(self, stage: int) -> EmptyStage:
        """Why ``stage`` has nothing for this annotator, and what would open it."""
        settings = self.project.settings()
        with self.project.read() as conn:
            return why_empty(conn, stage, self.annotator.id, settings)

    def settings(self) -> ProjectSettings:
        return self.project.settings()

    def update_settings(self, **changes: Any) -> ProjectSettings:
        """Change project settings (an admin's action where the project has admins; the
        store refuses otherwise, saying why); the counts and empty stages follow."""
        new = self.project.update_settings(**changes)
        self.refresh_progress()
        return new

    # ------------------------------------------------------------ progress

    def refresh_progress(self) -> None:
        """Read open / leased / done per stage and emit progressChanged (now)."""
        if self._closed:
            return
        self.last_progress = self.pipeline.progress()
        self.progressChanged.emit(self.last_progress)

    def refresh_progress_later(self) -> None:
        """:meth:`refresh_progress` with the reading on a worker thread (the timer and
        other sessions' changes use it); one reading at a time."""
        if self._closed or self._counting:
            return
        self._counting = True
        pipeline, done, project = self.pipeline, self._counted, self.project

        def count() -> None:
            try:
                # the model in use rides along (one meta row): another process's
                # `longtail models --use` reaches the model worker within a tick
                counted = (pipeline.progress(), read_model_in_use(project))
            except Exception as exc:  # a closed project, a lost server: next tick retries
                log.info("progress refresh failed: %s", exc)
                counted = None
            with contextlib.suppress(RuntimeError):  # the session was closed and freed
                done.emit(counted)

        self._count_pool.submit(count)

    @Slot(object)
    def _on_counted(self, counted: tuple[dict[int, StageProgress], str | None] | None) -> None:
        self._counting = False
        if self._closed or counted is None:
            return
        progress, in_use = counted
        if self._model_worker is not None and in_use != self._worker_model:
            self.drop_model_worker()
        self.last_progress = progress
        self.progressChanged.emit(progress)

    @Slot(object)
    def _on_heard(self, change: Change) -> None:
        if self._closed:
            return
        self.projectChanged.emit(change)
        if change.annotator_id != self.annotator.id:  # our own answers refreshed already
            self.refresh_progress_later()

    # ------------------------------------------------------------ leases

    def track(self, item: StageItem) -> None:
        """Keep ``item``'s lease alive until it is answered, skipped or released."""
        self._held[item.id] = item

    def untrack(self, item: StageItem) -> None:
        self._held.pop(item.id, None)

    def held_items(self) -> set[int]:
        return set(self._held)

    def renew_held(self) -> None:
        """The heartbeat: renew every tracked lease; a lost one is untracked and announced."""
        for item_id, item in list(self._held.items()):
            try:
                self._held[item_id] = self.pipeline.renew(item)
            except (ConflictError, NotFoundError) as exc:
                self._held.pop(item_id, None)
                self.toast.emit(f"Item {item_id} is no longer yours: {exc}")
                self.leaseLost.emit(item)

    # ------------------------------------------------------------ the read side
    # What the views show of the store, as named pipeline reads (``pipeline.explorer``):
    # views call these and never open a connection. Each is one read transaction, safe
    # on a worker thread.

    def image_summary(self, image_id: int) -> explorer.ImageSummary | None:
        """The image's pairs, instances with their latest masks, and category names."""
        with self.project.read() as conn:
            return explorer.image_summary(conn, image_id)

    def image_history(self, image_id: int) -> explorer.ImageHistory:
        with self.project.read() as conn:
            return explorer.image_history(conn, image_id)

    def filter_choices(self) -> explorer.FilterChoices:
        with self.project.read() as conn:
            return explorer.filter_choices(conn)

    def filter_images(self, chosen: explorer.ImageFilter) -> tuple[Any, int]:
        """The ids (numpy) of the images that pass ``chosen``, and the project's total."""
        with self.project.read() as conn:
            return explorer.filter_with_total(conn, chosen)

    def first_image_ids(self, limit: int) -> Any:
        with self.project.read() as conn:
            return explorer.first_image_ids(conn, limit)

    def image_page(self, ids: Any, offset: int, limit: int) -> list[ImageRecord]:
        with self.project.read() as conn:
            return explorer.image_page(conn, ids, offset, limit)

    # ------------------------------------------------------------ model, closing

    @property
    def model_worker(self) -> ModelWorker:
        """The model worker thread (created on first use; it imports torch lazily).
        A closed session makes none: its worker must not outlive it."""
        if self._closed:
            raise LongtailError("the project was closed: no model worker")
        if self._model_worker is None:
            from .workers.model import ModelWorker

            self._worker_model = read_model_in_use(self.project)
            self._model_worker = ModelWorker(self.project, parent=self)
        return self._model_worker

    def drop_model_worker(self, _model_id: int | None = None) -> None:
        """Another model is in use ("Use this model", or another process): close the
        worker, so that the next prompt builds the predictor anew from the registry.
        Views that hold the worker hear ``modelWorkerChanged`` and ask again."""
        worker, self._model_worker = self._model_worker, None
        if worker is None:
            return
        worker.close()  # cancels its pending requests (the views hear `cancelled`)
        worker.deleteLater()
        if not self._closed:  # closing: nobody may ask for a new one
            self.modelWorkerChanged.emit()

    def close(self) -> None:
        """Release every held item and stop the timers and the model worker."""
        if self._closed:
            return
        self._heartbeat.stop()
        self._progress_timer.stop()
        self._watcher.stop()
        # A count still running ends on its own (its answer is dropped: _closed); one
        # that meets the disposed engine fails quietly. Never waited for.
        self._count_pool.close()
        for item in list(self._held.values()):
            self.release(item)
        # The worker never outlives the session: closed here (a request still running
        # is abandoned, its answer dropped; workers/lifetime.py), whoever holds it.
        self._closed = True
        self.drop_model_worker()
        roles.set_actor(None)

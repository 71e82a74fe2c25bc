"""Long work off the GUI thread: folder scans, imports, exports, seeding.

A :class:`Job` wraps a function ``work(progress) -> Report``; the runner calls it on a
QThread. ``progress(done, total)`` is the pipeline's own callback (the CLI passes a
tqdm bar in the same place); it raises :class:`JobCancelled` once Cancel was pressed,
which unwinds the pipeline's transaction, so a cancelled import stores nothing. The
report (a summary and every located problem) comes back as a signal on the GUI thread.

The job functions below are what the CLI's ``init``, ``import`` and ``export`` do,
returning a :class:`~app.gui.widgets.dialogs.Report` instead of printing.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from pipeline.errors import LongtailError

from ..widgets.dialogs import Report
from .lifetime import DaemonWorker

Progress = Callable[[int, int], None]
Work = Callable[[Progress], Report]


class JobCancelled(Exception):
    """Raised inside the job by its progress callback after Cancel."""


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended: its report, and whether it succeeded or was cancelled."""

    title: str
    report: Report
    ok: bool
    cancelled: bool = False
    seconds: float = 0.0


class Job(QObject):
    """One piece of long work with progress and Cancel (see the module docstring)."""

    progress = Signal(int, int)  # emitted on the GUI thread
    finished = Signal(object)  # JobOutcome, emitted on the GUI thread
    _progressed = Signal(int, int)  # from the worker thread, queued to _forward_progress
    _done = Signal(object)  # from the worker thread, queued to _deliver

    def __init__(self, title: str, work: Work, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self._work = work
        self._cancel = threading.Event()
        self._thread: DaemonWorker | None = None
        self.outcome: JobOutcome | None = None
        self._last_emit = 0.0
        # A plain function connected to a worker's signal would run on the worker;
        # bound slots of this GUI-thread object run on the GUI thread.
        self._progressed.connect(self._forward_progress, Qt.ConnectionType.QueuedConnection)
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(int, int)
    def _forward_progress(self, done: int, total: int) -> None:
        self.progress.emit(done, total)

    @Slot(object)
    def _deliver(self, outcome: JobOutcome) -> None:
        self.outcome = outcome
        self.finished.emit(outcome)

    def start(self) -> None:
        # A daemon thread: a job that does not stop in time after Cancel is abandoned
        # (its report goes nowhere), never destroyed while it runs (workers/lifetime.py).
        self._thread = DaemonWorker(f"job {self.title}")
        self._thread.close(last=self._run)  # its one task, then the thread ends

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_running(self) -> bool:
        return self._thread is not None and self.outcome is None

    def wait(self, ms: int = 30000) -> bool:
        """Block until the thread ended, at most ``ms`` (tests, closing the window)."""
        return self._thread.join(ms / 1000) if self._thread is not None else True

    def _report_progress(self, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise JobCancelled
        # A signal per file would flood the GUI thread on large folders: ~30 a second.
        t = time.monotonic()
        if done >= total or t - self._last_emit > 0.03:
            self._last_emit = t
            with contextlib.suppress(RuntimeError):  # the job was freed: nobody listens
                self._progressed.emit(int(done), int(total))

    def _run(self) -> None:
        start = time.monotonic()
        try:
            report = self._work(self._report_progress)
            outcome = JobOutcome(self.title, report, ok=not report.failed)
        except JobCancelled:
            outcome = JobOutcome(
                self.title,
                Report(self.title, f"{self.title} cancelled; nothing was changed", failed=True),
                ok=False,
                cancelled=True,
            )
        except LongtailError as exc:
            lines = str(exc).splitlines()
            summary = lines[0] if lines else type(exc).__name__
            outcome = JobOutcome(
                self.title, Report(self.title, summary, lines[1:], failed=True), ok=False
            )
        except Exception as exc:  # a bug: show it rather than lose it on a thread
            outcome = JobOutcome(
                self.title,
                Report(
                    self.title,
                    f"{self.title} failed: {exc}",
                    traceback.format_exc().splitlines(),
                    failed=True,
                ),
                ok=False,
            )
        with contextlib.suppress(RuntimeError):  # the job was freed: nobody listens
            self._done.emit(
                JobOutcome(
                    outcome.title,
                    outcome.report,
                    outcome.ok,
                    outcome.cancelled,
                    time.monotonic() - start,
                )
            )


# ---------------------------------------------------------------- the jobs

Target = Any  # a folder or URL (str), or the open pipeline.store.database.Project


@contextlib.contextmanager
def opened(target: Target) -> Iterator[Any]:
    """The project: the window's open one as it is (its connections, and a password
    typed for it, are reused; it stays open), else opened here and closed after."""
    if not isinstance(target, str):
        yield target
        return
    from pipeline.store.database import Project

    with Project.open(target) as project:
        yield project


def create_project_work(
    target: str, images: str, vocabulary: str, *, split: str | None = None
) -> Work:
    """``longtail init``: a project from an image folder and a vocabulary."""

    def work(progress: Progress) -> Report:
        from pipeline.images import add_image_folder
        from pipeline.store.database import DB_NAME, Project
        from pipeline.vocabulary import add_categories, load_vocabulary

        vocab = load_vocabulary(vocabulary)  # fail before creating anything
        if not Path(images).expanduser().is_dir():
            raise LongtailError(f"image folder {images} does not exist or is not a folder")
        folder = None if "://" in target else Path(target).expanduser()
        existed = folder is not None and folder.exists()
        try:
            with Project.create(target) as project:
                added, _ = add_categories(project, vocab)
                report = add_image_folder(project, images, split=split, progress=progress)
        except JobCancelled:
            # A cancelled New Project leaves no half-made project behind.
            if folder is not None:
                for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
                    (folder / name).unlink(missing_ok=True)
                if not existed:
                    with contextlib.suppress(OSError):
                        folder.rmdir()
            raise
        return Report(
            "New project",
            f"created {target}: {report.summary()}; {added} categories ({vocab.name})",
            report.lines(),
        )

    return work


def import_work(
    target: Target,
    file: str,
    fmt: str,
    *,
    images_root: str | None = None,
    split: str | None = None,
    lenient: bool = False,
) -> Work:
    """``longtail import``: all or nothing unless lenient; a refusal raises with the
    located report, and the project is left as it was."""

    def work(progress: Progress) -> Report:
        from pipeline.formats import FormatError, ImportOptions, import_annotations

        # The same frozen options as `longtail import` builds (labelme: no image root
        # given means the imported folder).
        root = None if fmt == "labelme" else images_root
        options = ImportOptions(kind=fmt, images_root=root, split=split, lenient=lenient)
        with opened(target) as project:
            try:
                report = import_annotations(project, file, options, progress)
            except FormatError as exc:
                rep = exc.report
                return Report(
                    "Import refused",
                    f"{rep.format} import of {Path(file).name} refused: "
                    f"{len(rep.problems)} problem(s); nothing was imported",
                    rep.lines(),
                    failed=True,
                )
            from pipeline.stages import Pipeline

            Pipeline(project).seed()  # imported annotations open their stage items
        return Report("Import", report.summary(), report.lines())

    return work


def export_work(target: Target, out: str, fmt: str, *, split: str | None = None) -> Work:
    """``longtail export``: deterministic COCO / LVIS JSON, written atomically."""

    def work(progress: Progress) -> Report:
        from pipeline.formats import export_project

        with opened(target) as project:
            _, summary = export_project(project, fmt, out, split=split, progress=progress)
        return Report("Export", summary.summary())

    return work


def seed_work(target: Target) -> Work:
    """Open the work items no answer opens (new images, imported annotations)."""

    def work(progress: Progress) -> Report:
        from pipeline.stages import Pipeline

        progress(0, 1)
        with opened(target) as project:
            report = Pipeline(project).seed()
        progress(1, 1)
        return Report("Seeding", f"opened {report.total} work items")

    return work

"""Nothing lost: the drawing in progress is written to the store as a draft.

An :class:`AutoSaver` watches a :class:`MaskEditor` (or takes any JSON content from a
stage view through :meth:`AutoSaver.schedule`). After each change a short debounce
timer (``DEBOUNCE_MS``) snapshots the content on the GUI thread, and one worker thread
of a private ``QThreadPool`` writes it in its own transaction (``pipeline.drafts``): the
draft is in the database well within a second of the edit, and the GUI never waits
for the disk. One writer thread keeps the writes in order (a discard after a save
deletes what the save wrote).

Use from a stage view::

    saver = AutoSaver(session.project, session.annotator)
    mask = saver.restore(item.work_item_id)          # None when nothing was saved
    editor.load(path, context, draft=mask, draft_tool=saver.restored_tool(...))
    saver.watch(editor, item.work_item_id, item.image_id)
    ...
    session.answer(item, SegmentAnswer(editor.current_mask(), editor.tool_used()))
    saver.discard(item.work_item_id)                 # the answer is committed
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from pipeline.drafts import delete_draft, load_draft, mask_to_json, save_draft
from pipeline.masks.geometry import Mask
from pipeline.store.database import Annotator, Project

DEBOUNCE_MS = 300


class _Signals(QObject):
    saved = Signal(int)  # work item id
    discarded = Signal(int)
    failed = Signal(str)


class _Task(QRunnable):
    def __init__(self, run: Any) -> None:
        super().__init__()
        self._run = run

    def run(self) -> None:
        self._run()


class AutoSaver(QObject):
    """Writes drafts off the GUI thread (see the module doc)."""

    saved = Signal(int)  # work item id, once its draft is in the database
    discarded = Signal(int)
    failed = Signal(str)

    def __init__(
        self,
        project: Project,
        annotator: Annotator | int,
        parent: QObject | None = None,
        *,
        debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.annotator_id = annotator if isinstance(annotator, int) else annotator.id
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # writes in the order they were made
        self._signals = _Signals()
        self._signals.saved.connect(self.saved)
        self._signals.discarded.connect(self.discarded)
        self._signals.failed.connect(self.failed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._write_pending)
        self._pending: dict[int, tuple[int, Any]] = {}  # item -> (image id, content maker)
        self._editor: Any = None
        self._watched: tuple[int, int] | None = None

    # ------------------------------------------------------------ watching an editor

    def watch(self, editor: Any, work_item_id: int, image_id: int) -> None:
        """Save ``editor``'s mask as the draft of ``work_item_id`` after each change.
        Watching another item (or editor) first writes what is pending for the last."""
        self.unwatch()
        self._editor = editor
        self._watched = (int(work_item_id), int(image_id))
        editor.maskChanged.connect(self._on_mask_changed)

    def unwatch(self) -> None:
        if self._editor is not None:
            with contextlib.suppress(RuntimeError, TypeError):  # the editor is gone already
                self._editor.maskChanged.disconnect(self._on_mask_changed)
            self._write_pending()
        self._editor = None
        self._watched = None

    def _on_mask_changed(self, mask: Mask | None) -> None:
        if self._watched is None:
            return
        editor = self._editor
        item, image = self._watched

        def content() -> dict[str, Any]:
            current = editor.current_mask()
            return {
                "mask": mask_to_json(current) if current is not None else None,
                "tool": editor.tool_used(),
            }

        self._pending[item] = (image, content)
        self._timer.start()

    # ------------------------------------------------------------ any content

    def schedule(self, work_item_id: int, image_id: int, content: dict[str, Any]) -> None:
        """Save ``content`` (JSON) as the draft of ``work_item_id`` after the debounce;
        a later call for the same item replaces it (stage views with points, marks)."""
        self._pending[int(work_item_id)] = (int(image_id), lambda: content)
        self._timer.start()

    def _write_pending(self) -> None:
        self._timer.stop()
        pending, self._pending = self._pending, {}
        for item, (image, make) in pending.items():
            content = make()  # snapshot on the GUI thread: masks are immutable values
            self._pool.start(_Task(lambda i=item, g=image, c=content: self._save(i, g, c)))

    def _save(self, item: int, image: int, content: dict[str, Any]) -> None:
        try:
            save_draft(self.project, item, self.annotator_id, image, content)
        except Exception as exc:  # a full disk must not take the window down
            self._signals.failed.emit(f"the draft of work item {item} was not saved: {exc}")
            return
        self._signals.saved.emit(item)

    # ------------------------------------------------------------ restore and discard

    def restore(self, work_item_id: int) -> Mask | None:
        """The saved mask of ``work_item_id`` by this annotator, or None."""
        stored = load_draft(self.project, int(work_item_id), self.annotator_id)
        return stored.mask if stored is not None else None

    def restore_content(self, work_item_id: int) -> dict[str, Any] | None:
        """The saved JSON content of ``work_item_id`` (for views that save their own)."""
        stored = load_draft(self.project, int(work_item_id), self.annotator_id)
        return stored.content if stored is not None else None

    def restored_tool(self, work_item_id: int, default: str = "polygon") -> str:
        content = self.restore_content(work_item_id)
        return str(content.get("tool") or default) if content else default

    def discard(self, work_item_id: int) -> None:
        """Forget the draft (its answer was submitted); pending writes for it are
        dropped, one already running is deleted after it lands."""
        item = int(work_item_id)
        self._pending.pop(item, None)
        if not self._pending:
            self._timer.stop()
        if self._watched is not None and self._watched[0] == item:
            self.unwatch()
        self._pool.start(_Task(lambda: self._delete(item)))

    def _delete(self, item: int) -> None:
        try:
            delete_draft(self.project, item, self.annotator_id)
        except Exception as exc:
            self._signals.failed.emit(f"the draft of work item {item} was not deleted: {exc}")
            return
        self._signals.discarded.emit(item)

    def flush(self, timeout_ms: int = 5000) -> bool:
        """Write what is pending now and wait for every write (on close, in tests)."""
        self._write_pending()
        return self._pool.waitForDone(timeout_ms)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending) or self._pool.activeThreadCount() > 0


__all__ = ["DEBOUNCE_MS", "AutoSaver"]

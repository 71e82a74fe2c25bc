"""Stage 3, instance segmentation: draw the mask of one marked instance.

The canvas's :class:`MaskEditor` (docs/canvas.md) does the drawing (polygon, hole, brush, eraser, vertex
edits, model proposals; Ctrl+Z undoes an edit). The view adds the item around it:

- the instance's point (and box) and the other marks of its category are shown;
- a model proposal is already there when the item opens: the view holds the next item
  too and asks the model worker for that item's proposal while the annotator works on
  this one (``G`` asks again for the shown item);
- an item that came back after a rejection starts from the rejected mask and shows the
  verifiers' reasons;
- the draft is saved within a second of each edit (the editor's autosave) and restored
  when the same item is opened again;
- ``Enter`` submits the mask, ``S`` skips.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from pipeline.masks.geometry import Mask
from pipeline.stages import SEGMENTATION, SegmentAnswer, SegmentationItem, StageItem

from ..autosave import AutoSaver
from ..canvas.context import ContextLayer
from ..editor import MaskEditor
from ..style import COLORS
from .base import IMAGES, StageView, image_path, submit_keys
from .image_view import SidePanel, title_label

if TYPE_CHECKING:
    from ..session import Session

AHEAD = 1  # items held beyond the shown one, their proposals computed in advance
TOP_UP_MS = 60  # after an item is shown, the next is claimed and its proposal asked
OTHER_MARK = QColor("#9aa5b1")


def rejection_reasons(item: SegmentationItem) -> list[str]:
    """The verifiers' reasons against the latest attempt (empty for a first attempt)."""
    if not item.attempts:
        return []
    latest = item.attempts[-1]
    return [v.reason or "no reason given" for v in latest.verdicts if not v.accept]


class SegmentationView(StageView[SegmentationItem]):
    """Stage 3 (see the module docstring)."""

    stage: ClassVar[int] = SEGMENTATION
    item_type = SegmentationItem
    title: ClassVar[str] = "Segmentation"
    page_size: ClassVar[int] = 1 + AHEAD
    sequential: ClassVar[bool] = True
    undoStackChanged = Signal(object)  # the editor's stack of the shown item (main window)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        # item id -> (request id, mask or None): proposals asked ahead for held items
        self.proposals: dict[int, tuple[int, Mask | None]] = {}
        self._worker_ready = False
        # another model in use: the session made a new worker
        session.modelWorkerChanged.connect(self._on_worker_changed)
        self._top_up_timer = QTimer(self)
        self._top_up_timer.setSingleShot(True)
        self._top_up_timer.setInterval(TOP_UP_MS)
        self._top_up_timer.timeout.connect(self._top_up)
        self.autosaver = AutoSaver(session.project, session.annotator, self)
        self.autosaver.failed.connect(self.toast.show_message)
        area = self.work_area()
        self.editor = MaskEditor(area)
        self.toast.anchor = self.editor  # toasts over the image, not the panel's buttons
        self.editor.undoStackChanged.connect(self.undoStackChanged)
        self.editor.statusMessage.connect(self.statusMessage)
        # the image's other masks, faintly: what is done, and where not to overlap
        self.context = ContextLayer(self.editor.scene, self)
        self.panel = SidePanel(area)
        panel = QVBoxLayout(self.panel)
        panel.setContentsMargins(12, 8, 12, 8)
        self.category_label = title_label(self.panel)
        self.definition_label = QLabel(self.panel)
        self.definition_label.setWordWrap(True)
        self.instance_label = QLabel(self.panel)
        self.instance_label.setWordWrap(True)
        self.instance_label.setProperty("role", "muted")
        self.rejection_label = QLabel(self.panel)
        self.rejection_label.setWordWrap(True)
        self.rejection_label.setStyleSheet(
            f"background: #fdecea; color: {COLORS['error']}; border-radius: 4px; padding: 6px;"
        )
        self.proposal_label = QLabel(self.panel)
        self.proposal_label.setWordWrap(True)
        self.proposal_label.setProperty("role", "muted")
        for label in (
            self.category_label,
            self.definition_label,
            self.instance_label,
            self.rejection_label,
            self.proposal_label,
        ):
            panel.addWidget(label)

        self.submit_action = self.add_action(
            "Submit mask", "Return", self.submit_mask, "save this mask; it goes to verification"
        )
        self.submit_action.setShortcuts(submit_keys())
        self.propose_action = self.add_action(
            "Ask the model",
            "G",
            self.ask_proposal,
            "a proposal from the instance's box or point",
            decision=False,
        )
        panel.addSpacing(8)
        panel.addLayout(
            self.button_column(
                [self.submit_action, self.propose_action],
                [self.skip_action, self.take_back_action],
                primary=self.submit_action,
            )
        )
        hint = QLabel(
            "P polygon, H hole, B brush, E eraser, V vertices, X box, M propose from a box "
            "or a click; Ctrl+Z undoes an edit.",
            self.panel,
        )
        hint.setWordWrap(True)
        hint.setProperty("role", "muted")
        panel.addWidget(hint)
        panel.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Horizontal, area)
        splitter.addWidget(self.editor)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([900, 320])
        splitter.setChildrenCollapsible(False)
        layout = QHBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    # ------------------------------------------------------------ the contract

    def actions(self) -> list:
        editor = self.editor
        # inside the main window Edit -> Undo / Redo (its QUndoGroup) own these commands:
        # the editor's keyless copies would show in F1 and the Stage menu with no key
        owned = (
            (editor.undo_action, editor.redo_action) if hasattr(self.window(), "undo_group") else ()
        )
        return [*super().actions(), *(a for a in editor.actions() if a not in owned)]

    def undo_stack(self) -> Any:
        return self.editor.undo_stack()

    def activate(self) -> None:
        # inside the main window its QUndoGroup owns Ctrl+Z; two owners would cancel out
        self.editor.set_undo_shortcuts(not hasattr(self.window(), "undo_group"))
        super().activate()

    def deactivate(self) -> None:
        self._top_up_timer.stop()
        self._flush_draft()
        super().deactivate()
        for request_id, _ in self.proposals.values():
            self._worker().cancel(request_id)
        self.proposals.clear()

    # ------------------------------------------------------------ showing

    def _worker(self) -> Any:
        worker = self.session.model_worker  # created on first use; torch loads in its thread
        if not self._worker_ready:
            self.editor.set_model_worker(worker)
            worker.proposalReady.connect(self._on_proposal)
            worker.requestFailed.connect(self._on_proposal_failed)
            self._worker_ready = True
        return worker

    def _on_worker_changed(self) -> None:
        # the old worker cancelled what it had; its request ids mean nothing to the new one
        self.proposals.clear()
        if self._worker_ready:
            self._worker_ready = False
            self._worker()  # the editor prompts the new worker from now on

    def advance(self) -> None:
        super().advance()
        self._top_up_soon()

    def load_next(self) -> bool:
        shown = super().load_next()
        if shown:
            self._top_up_soon()
        return shown

    def _top_up_soon(self) -> None:
        # the item on screen first: claiming the next one and starting its proposal can
        # wait the moment it takes the annotator to look at this one
        self._top_up_timer.start()

    def _top_up(self) -> None:
        """Hold the next item too, and ask for its proposal now (see the module doc)."""
        if not self.active or not self.items:
            return
        while len(self.items) < self.page_size:
            claimed = self.session.next_item(self.stage)
            if claimed is None or any(i.id == claimed.id for i in self.items):
                break
            self.items.append(self._own(claimed))
        for item in self.items[1:]:
            self._ask_ahead(item)
        paths = [image_path(self.session, i) for i in self.items[1:]]
        if paths:
            self.editor.prefetch(paths)

    def _ask_ahead(self, item: SegmentationItem) -> None:
        if item.id in self.proposals or item.attempts:
            return  # a redo starts from its rejected mask
        path = image_path(self.session, item)
        worker = self._worker()
        if item.instance.box is not None:
            rid = worker.propose_box(path, item.instance.box, item.category.name)
        elif item.instance.point is not None:
            rid = worker.propose_point(path, item.instance.point, item.category.name)
        else:
            return
        self.proposals[item.id] = (rid, None)

    def show_item(self, item: SegmentationItem) -> None:
        self.autosaver.unwatch()  # the last item's pending edit is written (off this thread)
        path = image_path(self.session, item)
        draft, tool = self._starting_mask(item)
        self.editor.load(
            IMAGES.array(path),
            (),
            draft,
            category=item.category.name,  # the predictor knows categories by name
            category_id=item.category.id,
            draft_tool=tool,
        )
        self._show_marks(item)
        # clicks with the prompt tool (M) refine the proposal from the instance's prompt
        self.editor.set_prompt(box=item.instance.box, point=item.instance.point)
        self.category_label.setText(item.category.display_name)
        self.definition_label.setText(item.category.definition)
        where = "its box" if item.instance.box is not None else "its point"
        others = len(item.others)
        self.instance_label.setText(
            f"Draw the mask of the marked instance ({where}, in yellow)."
            + (f" {others} other {item.category.display_name} marks are grey." if others else "")
        )
        reasons = rejection_reasons(item)
        self.rejection_label.setVisible(bool(reasons))
        if reasons:
            self.rejection_label.setText(
                f"Attempt {len(item.attempts)} was rejected: "
                + "; ".join(reasons)
                + ". It is shown as the starting mask."
            )
        self._start_autosave(item)
        self.editor.setFocus(Qt.FocusReason.OtherFocusReason)

    def _starting_mask(self, item: SegmentationItem) -> tuple[Mask | None, str]:
        """A restored draft, else the rejected mask of a redo, else a ready proposal."""
        stored, tool = self._restore_draft(item)
        if stored is not None:
            self.proposal_label.setText("Your unsaved draft was restored.")
            return stored, tool
        if item.attempts:
            latest = item.attempts[-1].segment
            self.proposal_label.setText("")
            return latest.mask, latest.tool or "polygon"
        found = self.proposals.get(item.id)
        if found is not None and found[1] is not None:
            self.proposal_label.setText("The model's proposal is shown: edit it or draw anew.")
            return found[1], "proposal"
        if found is None:
            self._ask_ahead(item)
        self.proposal_label.setText("Asking the model for a proposal...")
        return None, "polygon"

    def _show_marks(self, item: SegmentationItem) -> None:
        scene = self.editor.scene
        for other in item.others:
            if other.point is not None:
                scene.add_point(*other.point, "", OTHER_MARK)
        instance = item.instance
        if instance.box is not None:
            scene.add_box(instance.box, item.category.display_name, QColor("#ffd400"))
        if instance.point is not None:
            label = "" if instance.box is not None else item.category.display_name
            scene.add_point(*instance.point, label, QColor("#ffd400"))

    def clear_item(self) -> None:
        self._stop_autosave()

    def context_layer(self) -> ContextLayer:
        return self.context

    def context_exclude(self) -> frozenset[int]:
        # the instance being segmented is the editor's draft, not context
        return frozenset({self.items[0].instance.id}) if self.items else frozenset()

    def describe(self, item: SegmentationItem) -> str:
        return f"Stage 3: segment a {item.category.display_name} in {item.image.file_name}"

    # ------------------------------------------------------------ proposals

    def ask_proposal(self) -> None:
        if not self.items:
            return
        item = self.items[0]
        self._worker()
        if item.instance.box is not None:
            self.editor.request_proposal(box=item.instance.box)
        elif item.instance.point is not None:
            self.editor.request_proposal(point=item.instance.point)

    def _on_proposal(self, request_id: int, mask: Mask, score: float) -> None:
        for item_id, (rid, _) in list(self.proposals.items()):
            if rid != request_id:
                continue
            self.proposals[item_id] = (rid, mask)
            shown = self.items[0] if self.items else None
            # the shown item was waiting for it, and nothing was drawn meanwhile
            untouched = self.editor.current_mask() is None and not self.editor.undo_stack().count()
            if shown is not None and shown.id == item_id and untouched:
                self.show_item(shown)
                self.context.ensure(shown.image.id)  # the editor's reload cleared it
            return

    def _on_proposal_failed(self, request_id: int, message: str) -> None:
        for item_id, (rid, _) in list(self.proposals.items()):
            if rid == request_id:
                del self.proposals[item_id]
                if self.items and self.items[0].id == item_id:
                    self.proposal_label.setText(f"No proposal ({message}): draw the mask.")

    # ------------------------------------------------------------ answering

    def submit_mask(self) -> None:
        if not self.items:
            return
        mask = self.editor.current_mask()
        if mask is None or mask.area == 0:
            self.toast.show_message("Draw the mask first (or G asks the model, S skips)")
            return
        item = self.items[0]
        tool = self.editor.tool_used()
        self.autosaver.unwatch()
        self.proposals.pop(item.id, None)
        if self.submit(item, SegmentAnswer(mask, tool)) is not None:
            self.autosaver.discard(item.id)  # the answer is committed: the draft is done

    def skip(self) -> None:
        if self.items:
            self._stop_autosave(delete=True)
            self.proposals.pop(self.items[0].id, None)
        super().skip()

    # ------------------------------------------------------------ drafts

    def _restore_draft(self, item: StageItem) -> tuple[Mask | None, str]:
        return self.autosaver.restore(item.id), self.autosaver.restored_tool(item.id)

    def _start_autosave(self, item: StageItem) -> None:
        self.autosaver.watch(self.editor, item.id, item.image.id)

    def _flush_draft(self) -> None:
        self.autosaver.unwatch()  # writes what is pending for the item shown
        self.autosaver.flush()

    def _stop_autosave(self, *, delete: bool = False) -> None:
        if delete and self.items:
            self.autosaver.discard(self.items[0].id)
        else:
            self.autosaver.unwatch()

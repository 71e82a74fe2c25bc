"""MaskEditor: draw and edit one instance mask on one image.

A :class:`CanvasView` with a tool bar (polygon, hole, brush, eraser, vertex edit, box,
model proposal, point), a fill-opacity slider and show/hide. The mask being drawn is a
``pipeline.masks.edits.Draft``; every change is a ``QUndoCommand`` (``app.gui.edits``) on the
editor's ``QUndoStack``, a new one for each image (``undo_stack()``; ``undoStackChanged``
tells a ``QUndoGroup`` holder when it is replaced). Other masks of the image can be shown
as context (read-only). Model proposals go to a :class:`ModelWorker` and come back as an
editable mask; a spinner shows meanwhile and Esc cancels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.gui import edits
from app.gui.canvas.items import MaskItem, category_color
from app.gui.canvas.preview import PreviewItem
from app.gui.canvas.scene import AnnotationScene
from app.gui.canvas.tiles import ImageSource
from app.gui.canvas.view import CanvasView
from app.gui.tools import TOOLS, BrushRadius, BrushTool, PromptTool, Tool
from app.gui.tools.base import (
    AddBox,
    AddPoint,
    AddPolygon,
    CancelProposal,
    DeleteVertex,
    InsertVertex,
    MaskPreview,
    MoveVertex,
    PaintStroke,
    Propose,
    Refine,
)
from pipeline.errors import LongtailError
from pipeline.masks.edits import Draft, DraftError
from pipeline.masks.geometry import Box, Mask

EDITOR_TOOLS = ("polygon", "hole", "brush", "eraser", "vertex", "box", "prompt", "point")
TRACE_EPSILON = 1.0  # px: a painted mask traced for vertex edits keeps its shape to 1 px

ContextMask = tuple[Mask, str] | tuple[Mask, str, int | None]


class MaskEditor(QWidget):
    """Draws one mask (see the module doc)."""

    maskChanged = Signal(object)  # Mask | None, after every edit, undo and redo
    toolChanged = Signal(str)
    pointAdded = Signal(float, float)  # the point tool (for stage views that want points)
    statusMessage = Signal(str)
    undoStackChanged = Signal(object)  # the new QUndoStack (one per image)
    proposalBusy = Signal(bool)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        tools: Sequence[str] = EDITOR_TOOLS,
        model_worker: Any | None = None,
    ) -> None:
        super().__init__(parent)
        self.scene = AnnotationScene(self)
        self.view = CanvasView(self.scene, self)
        self.preview = PreviewItem()
        self.scene.addItem(self.preview)
        self.view.zoomChanged.connect(self.preview.set_view_scale)
        self.radius = BrushRadius(8.0, self)
        self.radius.changed.connect(self._show_radius)
        self._tools: dict[str, Tool] = {}
        for name in tools:
            cls = TOOLS[name]
            tool = (
                cls(self, self, radius=self.radius)
                if issubclass(cls, BrushTool)
                else cls(self, self)
            )
            tool.editRequested.connect(self._on_request)
            tool.previewChanged.connect(self._on_preview)
            self._tools[name] = tool
        self._tool: Tool | None = None
        self._draft: Draft | None = None
        self._item: MaskItem | None = None
        self._stack = QUndoStack(self)
        self._image: ImageSource | None = None
        self._category: str | int | None = None
        self._color = category_color(None)
        self._worker = model_worker
        self._own_worker = False
        self._proposal_id: int | None = None
        # the prompt of the mask on screen (box, point, refining clicks), and that of
        # the proposal on its way: clicks refine the former (see tools/prompt.py)
        self._prompt: edits.Prompt | None = None
        self._asked: edits.Prompt | None = None
        self._click_items: list[Any] = []
        self._build_ui(tools)
        self.set_tool(tools[0] if tools else None)

    # ------------------------------------------------------------ layout and actions

    def _build_ui(self, tools: Sequence[str]) -> None:
        self.toolbar = QToolBar("Mask tools", self)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self._tool_group = QActionGroup(self)
        self._tool_actions: dict[str, QAction] = {}
        for name in tools:
            tool = self._tools[name]
            act = self._action(
                f"{tool.title}", tool.shortcut, lambda _=False, n=name: self.set_tool(n)
            )
            act.setCheckable(True)
            act.setToolTip(f"{tool.title} ({tool.shortcut})")
            self._tool_group.addAction(act)
            self.toolbar.addAction(act)
            self._tool_actions[name] = act
        self.undo_action = self._action(
            "Undo", QKeySequence.StandardKey.Undo, lambda: self._stack.undo()
        )
        self.redo_action = self._action(
            "Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], lambda: self._stack.redo()
        )
        self.undo_action.setToolTip("Undo the last edit (Ctrl+Z)")
        self.redo_action.setToolTip("Redo (Ctrl+Shift+Z, Ctrl+Y)")
        self.cancel_action = self._action("Cancel proposal", "Esc", self.cancel_proposal)
        self.cancel_action.setEnabled(False)
        self.clear_action = self._action("Clear mask", "Ctrl+Shift+Backspace", self.clear_mask)
        self.show_action = self._action("Show masks", "Shift+H", self._toggle_visible)
        self.show_action.setCheckable(True)
        self.show_action.setChecked(True)
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(self.scene.opacity * 100))
        self.opacity.setFixedWidth(90)
        self.opacity.setToolTip("Fill opacity of the masks")
        self.opacity.valueChanged.connect(lambda v: self.scene.set_opacity(v / 100))
        self.radius_label = QLabel(self)
        self._show_radius(self.radius.value)
        self.spinner = QProgressBar(self)
        self.spinner.setRange(0, 0)  # busy indicator
        self.spinner.setFixedWidth(90)
        self.spinner.setMaximumHeight(14)
        self.spinner_label = QLabel("Proposing… Esc cancels", self)
        self.spinner.hide()
        self.spinner_label.hide()

        # The view options sit right of the tools, or below them when the editor is
        # too narrow for one row (no tool hides behind the tool bar's overflow arrow).
        self._options = QWidget(self)
        options = QHBoxLayout(self._options)
        options.setContentsMargins(0, 0, 0, 0)
        options.setSpacing(10)
        show = QToolButton(self._options)
        show.setDefaultAction(self.show_action)
        # Undo / Redo sit with the view options, so that the tool bar holds the tools
        # alone and all of them fit beside the side panel at the default window size.
        self.edit_bar = QToolBar("Edit", self._options)
        self.edit_bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.edit_bar.addAction(self.undo_action)
        self.edit_bar.addAction(self.redo_action)
        options.addWidget(self.edit_bar)
        options.addWidget(self.spinner_label)
        options.addWidget(self.spinner)
        options.addWidget(self.radius_label)
        options.addWidget(show)
        options.addWidget(QLabel("Opacity", self._options))
        options.addWidget(self.opacity)
        self._row1 = QHBoxLayout()
        self._row1.setContentsMargins(4, 2, 8, 2)
        self._row1.setSpacing(10)
        self._row1.addWidget(self.toolbar)
        self._row1.addStretch(1)
        self._row1.addWidget(self._options)
        self._row2 = QHBoxLayout()
        self._row2.setContentsMargins(8, 0, 8, 2)
        self._row2.addStretch(1)
        self._two_rows = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self._row1)
        layout.addLayout(self._row2)
        layout.addWidget(self.view, 1)
        self.setFocusProxy(self.view)
        self._connect_stack()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._update_rows()

    def _update_rows(self) -> None:
        needed = self.toolbar.sizeHint().width() + self._options.sizeHint().width() + 40
        two_rows = self.width() < needed
        if two_rows != self._two_rows:
            self._two_rows = two_rows
            if two_rows:
                self._row1.removeWidget(self._options)
                self._row2.addWidget(self._options)
            else:
                self._row2.removeWidget(self._options)
                self._row1.addWidget(self._options)

    def _action(self, text: str, keys: Any, slot: Any) -> QAction:
        act = QAction(text, self)
        if isinstance(keys, list):
            act.setShortcuts([QKeySequence(k) for k in keys])
        elif keys:
            act.setShortcut(QKeySequence(keys))
        # The window's keys: tools work without a click on the canvas first (after
        # Ctrl+3, a click on a button); a hidden stage's editor is not asked.
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    def actions(self) -> list[QAction]:
        """Every editor command with its shortcut (tools, undo, redo, view)."""
        return [*super().actions(), *self.view.view_actions()]

    def set_undo_shortcuts(self, enabled: bool) -> None:
        """Drop Ctrl+Z / Ctrl+Y here when a window-wide QUndoGroup owns them."""
        if enabled:
            self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
            self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        else:
            self.undo_action.setShortcuts([])
            self.redo_action.setShortcuts([])

    def _show_radius(self, radius: float) -> None:
        self.radius_label.setText(f"Radius {radius:.1f} px")
        self.radius_label.setToolTip("Brush and eraser radius: [ smaller, ] larger")

    def _toggle_visible(self, checked: bool) -> None:
        self.scene.set_annotations_visible(checked)

    # ------------------------------------------------------------ loading

    def load(
        self,
        image: ImageSource,
        context_masks: Iterable[ContextMask] = (),
        draft: Mask | None = None,
        *,
        category: str | int | None = None,
        category_id: int | None = None,
        draft_tool: str = "polygon",
    ) -> None:
        """Show ``image`` with read-only ``context_masks`` ((mask, label[, category_id]))
        and start drawing from ``draft`` (a restored autosave, or an earlier segment);
        a fresh undo history. ``category`` goes with model prompts; ``draft_tool`` is the
        tool that made ``draft`` (for ``tool_used``)."""
        self._base_tool = draft_tool if draft is not None else "polygon"
        self.cancel_proposal()
        if self._tool is not None:
            self._tool.cancel()
        self.scene.clear_annotations()
        self._item = None
        self._click_items = []
        self._apply_prompt(None)
        self.view.set_image(image)
        self._image = image
        self._category = category
        self._color = category_color(category_id) if category_id is not None else QColor("#ffd400")
        width, height = self.scene.image_size
        for entry in context_masks:
            mask, label, *rest = entry
            cid = rest[0] if rest else None
            item = self.scene.add_mask(mask, label, category_id=cid)
            item.setFlag(item.GraphicsItemFlag.ItemIsSelectable, False)
        self._draft = Draft(height, width, draft)
        old = self._stack
        self._stack = QUndoStack(self)
        self._connect_stack()
        old.deleteLater()
        self.undoStackChanged.emit(self._stack)
        self._show_mask(self._draft.mask)
        self.maskChanged.emit(self._draft.mask)
        self.preview.set_view_scale(self.view.scale_factor)

    def _connect_stack(self) -> None:
        self.undo_action.setEnabled(self._stack.canUndo())
        self.redo_action.setEnabled(self._stack.canRedo())
        self._stack.canUndoChanged.connect(self.undo_action.setEnabled)
        self._stack.canRedoChanged.connect(self.redo_action.setEnabled)

    # ------------------------------------------------------------ state

    def undo_stack(self) -> QUndoStack:
        """This image's edits (for a QUndoGroup and Edit -> History)."""
        return self._stack

    def current_mask(self) -> Mask | None:
        return self._draft.mask if self._draft is not None else None

    @property
    def image_size(self) -> tuple[int, int]:
        return self.scene.image_size

    def tool_used(self) -> str:
        """The tool that began the current mask ("proposal", "polygon", "brush", ...),
        for ``SegmentAnswer.tool``."""
        tool = getattr(self, "_base_tool", "polygon")
        for i in range(self._stack.index()):
            command = self._stack.command(i)
            if (
                isinstance(command, edits.DraftEdit)
                and command.before is None
                and command.after is not None
            ):
                tool = command.tool
        return tool

    @property
    def tool(self) -> Tool | None:
        return self._tool

    def tool_named(self, name: str) -> Tool:
        return self._tools[name]

    def set_tool(self, name: str | None) -> None:
        if self._tool is not None:
            self._tool.cancel()
        self._tool = self._tools.get(name) if name else None
        self.view.set_tool(self._tool)
        if name and self._tool is not None:
            self.view.viewport().setCursor(self._tool.cursor)
            self._tool_actions[name].setChecked(True)
        editing = name == "vertex"
        if (
            editing
            and self._draft is not None
            and self._draft.mask is not None
            and self._draft.mask.kind == "rle"
        ):
            self._push(edits.trace(self._draft, TRACE_EPSILON, self._changed))
            self.statusMessage.emit("The painted mask was traced into polygons (Ctrl+Z undoes it)")
        if self._item is not None:
            self._item.set_editing(editing)
        self.radius_label.setVisible(name in ("brush", "eraser"))
        self._update_rows()
        self.preview.set_preview(None)
        self.toolChanged.emit(name or "")

    # ------------------------------------------------------------ edits

    def _push(self, command: edits.DraftEdit) -> None:
        self._stack.push(command)

    def _changed(self, mask: Mask | None, tool: str) -> None:
        self._show_mask(mask)
        self.maskChanged.emit(mask)

    def _show_mask(self, mask: Mask | None) -> None:
        if mask is None:
            if self._item is not None:
                self.scene.remove_annotation(self._item)
                self._item = None
            return
        if self._item is None:
            self._item = self.scene.add_mask(mask, color=self._color, cached=False)
            self._item.setZValue(100)
            self._item.set_active(True)
            self._item.setFlag(self._item.GraphicsItemFlag.ItemIsSelectable, False)
        else:
            self._item.set_mask(mask)
        self._item.set_editing(self._tool is not None and self._tool.name == "vertex")

    def _on_request(self, request: object) -> None:
        draft = self._draft
        if draft is None:
            self.statusMessage.emit("Open an image first")
            return
        try:
            if isinstance(request, AddPolygon):
                if request.hole:
                    command = edits.cut_hole(draft, list(request.points), self._changed)
                else:
                    command = edits.add_polygon(draft, list(request.points), self._changed)
            elif isinstance(request, PaintStroke):
                command = edits.paint(
                    draft, list(request.points), request.radius, request.erase, self._changed
                )
            elif isinstance(request, MoveVertex):
                command = edits.move_vertex(draft, request.ref, request.to, self._changed)
            elif isinstance(request, InsertVertex):
                command = edits.insert_vertex(draft, request.ref, request.at, self._changed)
            elif isinstance(request, DeleteVertex):
                command = edits.delete_vertex(draft, request.ref, self._changed)
            elif isinstance(request, AddBox):
                x, y, w, h = request.box
                corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
                command = edits.add_polygon(draft, corners, self._changed)
                command.setText("Add box")
                command.tool = "box"
            elif isinstance(request, AddPoint):
                self.pointAdded.emit(*request.point)
                return
            elif isinstance(request, Propose):
                self.request_proposal(box=request.box, point=request.point)
                return
            elif isinstance(request, Refine):
                self.refine(*request.point, request.positive)
                return
            elif isinstance(request, CancelProposal):
                self.cancel_proposal()
                return
            else:
                return
        except DraftError as exc:
            self.statusMessage.emit(str(exc))
            if self._item is not None:  # drop a vertex-drag preview
                self._show_mask(draft.mask)
            return
        self._push(command)

    def _on_preview(self, preview: object) -> None:
        if isinstance(preview, MaskPreview):
            if self._item is not None:
                if preview.mask is not None:
                    self._item.set_mask(preview.mask)
                self._item.set_active_vertex(preview.active)
            return
        self.preview.set_preview(preview)

    def clear_mask(self) -> None:
        """Start over (undoable)."""
        if self._draft is not None and self._draft.mask is not None:
            self._push(edits.replace(self._draft, None, "Clear mask", "clear", self._changed))

    # ------------------------------------------------------------ proposals

    def set_model_worker(self, worker: Any) -> None:
        """The ModelWorker to ask (the session's); the editor makes its own otherwise."""
        if self._worker is worker:
            return
        self._disconnect_worker()
        self._worker = worker
        self._own_worker = False

    def _ensure_worker(self) -> Any:
        if self._worker is None:
            from app.gui.workers.model import ModelWorker

            self._worker = ModelWorker(parent=self)
            self._own_worker = True
        if not getattr(self, "_worker_connected", False):
            self._worker.proposalReady.connect(self._on_proposal)
            self._worker.requestFailed.connect(self._on_proposal_failed)
            self._worker.cancelled.connect(self._on_proposal_cancelled)
            self._worker_connected = True
        return self._worker

    def _disconnect_worker(self) -> None:
        if self._worker is not None and getattr(self, "_worker_connected", False):
            self._worker.proposalReady.disconnect(self._on_proposal)
            self._worker.requestFailed.disconnect(self._on_proposal_failed)
            self._worker.cancelled.disconnect(self._on_proposal_cancelled)
        self._worker_connected = False

    def request_proposal(
        self, box: Box | None = None, point: tuple[float, float] | None = None
    ) -> int | None:
        """Ask the model for a mask from a box (x, y, w, h) or a point; returns the request
        id. The answer replaces the mask being drawn (undoable); clicks then refine it."""
        if box is None and point is None:
            return None
        return self._ask((box, point, ()))

    def set_prompt(self, box: Box | None = None, point: tuple[float, float] | None = None) -> None:
        """What the mask on screen was (or would be) proposed from, so that clicks refine
        it (stage 3 gives the instance's box or point; a correction the mask's box)."""
        self._apply_prompt((box, point, ()) if box is not None or point is not None else None)

    def refine(self, x: float, y: float, positive: bool) -> int | None:
        """Ask again with one more click: positive (the object is there) or negative (it
        is not); the answer replaces the mask in place, one undo step per click."""
        if self._prompt is None:
            self.statusMessage.emit("Ask for a proposal first: drag a box or click (M)")
            return None
        box, point, clicks = self._prompt
        return self._ask((box, point, (*clicks, (float(x), float(y), bool(positive)))))

    @property
    def clicks(self) -> tuple[edits.Click, ...]:
        """The refining clicks of the mask on screen."""
        return self._prompt[2] if self._prompt is not None else ()

    def _ask(self, prompt: edits.Prompt) -> int | None:
        if self._image is None:
            return None
        worker = self._ensure_worker()
        if self._proposal_id is not None:
            worker.cancel(self._proposal_id)
        box, point, clicks = prompt
        try:
            if box is not None:
                rid = worker.propose_box(self._image, box, self._category, points=clicks)
            else:
                rid = worker.propose_point(self._image, point, self._category, points=clicks)
        except LongtailError as exc:
            self.statusMessage.emit(str(exc))
            return None
        self._proposal_id = rid
        self._asked = prompt
        self._set_waiting(True)
        return rid

    def _apply_prompt(self, prompt: edits.Prompt | None) -> None:
        """The prompt of the mask on screen (a PromptEdit's undo and redo set it too);
        its clicks are shown as green (positive) and red (negative) dots."""
        self._prompt = prompt
        tool = self._tools.get("prompt")
        if isinstance(tool, PromptTool):
            tool.refining = prompt is not None
        for item in self._click_items:
            self.scene.remove_annotation(item)
        self._click_items = [
            self.scene.add_point(x, y, "", QColor("#2ecc40" if positive else "#ff4136"))
            for x, y, positive in (prompt[2] if prompt is not None else ())
        ]

    def cancel_proposal(self) -> None:
        if self._proposal_id is not None and self._worker is not None:
            self._worker.cancel(self._proposal_id)
        self._proposal_id = None
        self._set_waiting(False)

    def prefetch(self, images: Iterable[ImageSource]) -> None:
        """Prepare the next images for proposals (decoded, features when trained)."""
        self._ensure_worker().prefetch(list(images))

    @property
    def waiting_for_proposal(self) -> bool:
        return self._proposal_id is not None

    def _set_waiting(self, waiting: bool) -> None:
        self.spinner.setVisible(waiting)
        self.spinner_label.setVisible(waiting)
        self._update_rows()
        self.cancel_action.setEnabled(waiting)
        prompt = self._tools.get("prompt")
        if isinstance(prompt, PromptTool):
            prompt.waiting = waiting
        self.proposalBusy.emit(waiting)

    def _on_proposal(self, rid: int, mask: Mask, score: float) -> None:
        if rid != self._proposal_id or self._draft is None:
            return
        self._proposal_id = None
        self._set_waiting(False)
        if (mask.height, mask.width) != (self._draft.height, self._draft.width) or mask.area == 0:
            self.statusMessage.emit("The model found nothing there")
            return
        source = getattr(self._worker, "last_source", None) or "model"
        asked, self._asked = self._asked, None
        clicks = asked[2] if asked is not None else ()
        if clicks and self._prompt is not None and clicks[:-1] == self._prompt[2]:
            text = "Positive click" if clicks[-1][2] else "Negative click"
        else:
            text = f"Model proposal ({source})"
        self._push(
            edits.PromptEdit(
                self._draft,
                mask,
                text,
                self._changed,
                (self._prompt, asked),
                self._apply_prompt,
            )
        )
        self.statusMessage.emit(
            f"{text} from {source}: click to refine (right or Alt+click: not the object), "
            "or edit it"
        )

    def _on_proposal_failed(self, rid: int, message: str) -> None:
        if rid != self._proposal_id:
            return
        self._proposal_id = None
        self._set_waiting(False)
        self.statusMessage.emit(f"No proposal: {message}")

    def _on_proposal_cancelled(self, rid: int) -> None:
        if rid == self._proposal_id:
            self._proposal_id = None
            self._set_waiting(False)

    def close_worker(self) -> None:
        """Stop a worker the editor made itself (a session's worker is the session's)."""
        if self._own_worker and self._worker is not None:
            self._worker.close()

    # ------------------------------------------------------------ helpers for callers

    def image_point_to_view(self, x: float, y: float) -> QPointF:
        return self.view.image_to_view(QPointF(x, y))

    def bitmap(self) -> np.ndarray | None:
        mask = self.current_mask()
        return mask.to_bitmap() if mask is not None else None


__all__ = ["EDITOR_TOOLS", "MaskEditor"]

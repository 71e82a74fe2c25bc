"""Stage 2, exhaustive instance marking: does the category fit, and where is every
instance of it?

The category's name, synonyms and definition are shown beside the image, with the
spotted instance highlighted. ``Y`` (it fits) or ``N`` (it does not: the category is
rejected for this image). After ``Y``, one click per instance marks it, a drag marks
it with a box; the spotted instance is marked already. ``Delete`` removes the last
mark, ``Enter`` submits. When a trained model is in use its detections of the category
appear as candidate marks; ``U`` accepts the best one left.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from pipeline.stages import MARKING, Mark, MarkAnswer, MarkingItem

from ..canvas.items import BoxItem
from ..canvas.view import CanvasEvent
from ..tools.base import Tool
from .base import image_path, submit_keys
from .image_view import ImageStageView
from .spotting import model_in_use

if TYPE_CHECKING:
    from ..session import Session

SPOT_COLOR = QColor("#ffd400")
EXISTING_COLOR = QColor("#9aa5b1")
CANDIDATE_COLOR = QColor("#bfbfbf")
DRAG_PX = 6.0  # a press that moves further than this on screen draws a box


class MarkTool(Tool):
    """Click: a point mark; drag: a box mark (its centre is the point). A canvas tool
    whose events the canvas passes on, so it keeps its zoom and pan; what it does not
    handle falls to :class:`Tool`'s defaults."""

    def __init__(self, view: MarkingView) -> None:
        super().__init__()
        self.view = view
        self._start: CanvasEvent | None = None
        self._band: BoxItem | None = None

    def press(self, event: CanvasEvent) -> bool:
        if event.button != Qt.MouseButton.LeftButton:
            return False
        self._start = event
        return True

    def move(self, event: CanvasEvent) -> bool:
        if self._start is None:
            return False
        box = self._box(event)
        if box is None:
            return True
        if self._band is None:
            self._band = self.view.scene.add_box(box, "", SPOT_COLOR)
        else:  # BoxItem has no setter: replace the rubber band
            self.view.scene.remove_annotation(self._band)
            self._band = self.view.scene.add_box(box, "", SPOT_COLOR)
        return True

    def release(self, event: CanvasEvent) -> bool:
        if self._start is None:
            return False
        box = self._box(event)
        start, self._start = self._start, None
        if self._band is not None:
            self.view.scene.remove_annotation(self._band)
            self._band = None
        if box is None:
            self.view.add_mark(start.x, start.y)
        else:
            x, y, w, h = box
            self.view.add_mark(x + w / 2, y + h / 2, box)
        return True

    def _box(self, event: CanvasEvent) -> tuple[float, float, float, float] | None:
        start = self._start
        if start is None:
            return None
        if math.hypot(event.x - start.x, event.y - start.y) * event.scale < DRAG_PX:
            return None
        width, height = self.view.image_size()
        x0, x1 = sorted((min(max(start.x, 0), width), min(max(event.x, 0), width)))
        y0, y1 = sorted((min(max(start.y, 0), height), min(max(event.y, 0), height)))
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            return None
        return (x0, y0, x1 - x0, y1 - y0)


class MarkingView(ImageStageView[MarkingItem]):
    """Stage 2 (see the module docstring)."""

    stage: ClassVar[int] = MARKING
    item_type = MarkingItem
    title: ClassVar[str] = "Marking"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.fits: bool | None = None
        self.marks: list[Mark] = []
        self._mark_items: list[list[Any]] = []
        self.candidates: list[Mark] = []
        self._candidate_items: list[Any] = []
        self._candidate_request: int | None = None
        self._worker_connected = False
        changed = getattr(session, "modelWorkerChanged", None)
        if changed is not None:  # another model in use: connect to the session's new worker
            changed.connect(self._forget_worker)
        self.tool = MarkTool(self)
        self.fits_action = self.add_action(
            "Fits", "Y", lambda: self.decide(True), "the category fits the highlighted object"
        )
        self.not_fits_action = self.add_action(
            "Does not fit", "N", lambda: self.decide(False), "reject the category for this image"
        )
        self.submit_action = self.add_action(
            "Submit marks", "Return", self.submit_marks, "every instance is marked"
        )
        self.submit_action.setShortcuts(submit_keys())
        self.remove_action = self.add_action(
            "Remove last mark", "Delete", self.remove_last, "take the last mark away"
        )
        self.candidate_action = self.add_action(
            "Accept candidate", "U", self.accept_candidate, "the model's best candidate left"
        )
        self.finish_panel(
            [self.fits_action, self.not_fits_action],
            [self.submit_action, self.remove_action],
            [self.candidate_action],
            [self.skip_action, self.take_back_action],
        )

    def image_size(self) -> tuple[int, int]:
        item = self.items[0]
        return item.image.width, item.image.height

    # ------------------------------------------------------------ showing

    def show_item(self, item: MarkingItem) -> None:
        self.show_image(item)
        self.show_category(item.category)
        self.fits = None
        self.fits_action.setEnabled(True)
        self.not_fits_action.setEnabled(True)
        self.marks = []
        self._mark_items = []
        self.candidates = []
        self._candidate_items = []
        self.canvas.set_tool(None)
        for mark in item.marks:
            if mark.box is not None:
                self.scene.add_box(mark.box, "", EXISTING_COLOR)
            if mark.point is not None:
                self.scene.add_point(*mark.point, "marked before", EXISTING_COLOR)
        if item.spot is not None:
            self.scene.add_point(*item.spot, "spotted", SPOT_COLOR)
        name = item.category.display_name
        where = "the highlighted object" if item.spot is not None else "something in this image"
        self.question_label.setText(f"Is {where} a {name}?  Y yes, N no")
        self.detail_label.setText(
            "Compare with the definition above. After Y, mark every instance: "
            "a click each, or a drag for a box."
        )

    def clear_item(self) -> None:
        super().clear_item()
        self.canvas.set_tool(None)
        self.fits = None
        self.marks = []
        self._mark_items = []

    # ------------------------------------------------------------ deciding

    def decide(self, fits: bool) -> None:
        if not self.items or self.fits is not None:
            return
        item: MarkingItem = self.items[0]
        if not fits:
            self.submit(item, MarkAnswer(category_fits=False))
            return
        self.fits = True
        self.fits_action.setEnabled(False)  # answered: Y and N are spent on this item
        self.not_fits_action.setEnabled(False)
        self.canvas.set_tool(self.tool)
        self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)
        if item.spot is not None and not item.marks:
            self.add_mark(*item.spot)  # the spotted instance is the first mark
        name = item.category.display_name
        self.question_label.setText(f"Mark every {name}: click each, or drag a box. Enter submits.")
        self._ask_candidates(item)

    def add_mark(
        self, x: float, y: float, box: tuple[float, float, float, float] | None = None
    ) -> None:
        if not self.items or not self.fits:
            return
        number = len(self.marks) + 1
        self.marks.append(Mark(x, y, box))
        shapes: list[Any] = []
        name = self.items[0].category.display_name
        if box is not None:
            shapes.append(self.scene.add_box(box, "", category_id=self.items[0].category.id))
        shapes.append(
            self.scene.add_point(x, y, f"{name} {number}", category_id=self.items[0].category.id)
        )
        self._mark_items.append(shapes)
        self.detail_label.setText(
            f"{len(self.marks)} instance{'s' if len(self.marks) != 1 else ''} marked. "
            "Delete removes the last; Enter submits."
        )

    def remove_last(self) -> None:
        if self.marks:
            self.marks.pop()
            for shape in self._mark_items.pop():
                self.scene.remove_annotation(shape)

    def submit_marks(self) -> None:
        if not self.items:
            return
        if self.fits is None:
            self.toast.show_message("First: does the category fit? Y or N")
            return
        if not self.marks:
            self.toast.show_message("Mark at least one instance (a click on it)")
            return
        self.submit(self.items[0], MarkAnswer(True, tuple(self.marks)))

    # ------------------------------------------------------------ model candidates

    def _forget_worker(self) -> None:
        self._worker_connected = False

    def _ask_candidates(self, item: MarkingItem) -> None:
        if not model_in_use(self.session.project):
            return
        worker = self.session.model_worker
        if not self._worker_connected:
            worker.proposalsReady.connect(self._on_candidates)
            self._worker_connected = True
        self._candidate_request = worker.whole_image(image_path(self.session, item))

    def _on_candidates(self, request_id: int, proposals: list) -> None:
        if request_id != self._candidate_request or not self.items or not self.fits:
            return
        item: MarkingItem = self.items[0]
        mine = [p for p in proposals if p.category == item.category.name]
        for proposal in sorted(mine, key=lambda p: -p.score):
            x, y, w, h = proposal.box
            box = (x, y, w, h)
            mark = Mark(x + w / 2, y + h / 2, box)
            if any(math.hypot(m.x - mark.x, m.y - mark.y) < max(w, h) / 3 for m in self.marks):
                continue  # already marked
            self.candidates.append(mark)
            self._candidate_items.append(
                self.scene.add_box(box, f"{proposal.score:.2f}?", CANDIDATE_COLOR)
            )
        if self.candidates:
            self.detail_label.setText(
                f"{len(self.candidates)} model candidates: U accepts the best one left."
            )

    def accept_candidate(self) -> None:
        if not self.candidates:
            self.toast.show_message("No model candidate left")
            return
        mark = self.candidates.pop(0)
        self.scene.remove_annotation(self._candidate_items.pop(0))
        self.add_mark(mark.x, mark.y, mark.box)


__all__ = ["MarkTool", "MarkingView"]

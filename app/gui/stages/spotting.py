"""Stage 1, object spotting: one point on one instance of each category not spotted yet.

The image shows every known spot as a point with its category name. A click on an
object puts a point there and opens the category picker (type a few letters, Enter);
the point gets the picked name. ``Delete`` removes the last new spot, ``Enter`` submits
the new spots, ``N`` answers "nothing new". Categories already known in the image, or
excluded from it (rejected at marking, verified absent), cannot be picked, and the
picker says why.

When a trained model is in use, its whole-image detections appear as suggestions
(dashed, with category and score); ``U`` accepts the best one left as a spot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QWidget

from pipeline.stages import SPOTTING, Spot, SpotAnswer, SpottingItem, StageItem
from pipeline.vocabulary import Category, project_categories

from ..canvas.items import PointItem
from ..widgets.category_picker import CategoryPicker
from .base import image_path, submit_keys
from .image_view import ImageStageView

if TYPE_CHECKING:
    from ..session import Session

PENDING_COLOR = QColor("#ffffff")
SUGGESTION_COLOR = QColor("#bfbfbf")
EXCLUDED_REASON = "rejected at marking or verified absent in this image"
KNOWN_REASON = "already spotted in this image"
NEW_REASON = "you spotted it just now"


@dataclass(frozen=True)
class Suggestion:
    """A trained model's detection offered as a spot."""

    category: Category
    x: float
    y: float
    score: float


def model_in_use(project: Any) -> bool:
    """Is a trained model in use (so whole-image suggestions make sense)? Torch-free."""
    from model.training.registry import in_use_model  # torch-free, read when needed

    return in_use_model(project) is not None


class SpottingView(ImageStageView[SpottingItem]):
    """Stage 1 (see the module docstring)."""

    stage: ClassVar[int] = SPOTTING
    item_type = SpottingItem
    title: ClassVar[str] = "Spotting"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.spots: list[Spot] = []
        self._spot_items: list[PointItem] = []
        self.clicked_at: tuple[float, float] | None = None
        self._click_item: PointItem | None = None
        self.suggestions: list[Suggestion] = []
        self._suggestion_items: list[PointItem] = []
        self._suggestion_request: int | None = None
        self._worker_connected = False
        # another model in use: connect to the session's new worker
        session.modelWorkerChanged.connect(self._forget_worker)
        self.categories = project_categories(session.project)
        self._by_id = {c.id: c for c in self.categories}
        # the spots of this session's recent answers, by item id: an answer taken back
        # (Ctrl+Backspace) comes back with its spots, to be edited, not drawn again
        self._answered: dict[int, tuple[Spot, ...]] = {}
        self._restore: dict[int, tuple[Spot, ...]] = {}
        session.takenBack.connect(self._on_taken_back)
        self.picker = CategoryPicker(self.categories, parent=self.panel)
        self.picker.picked.connect(self._on_picked)
        self.picker.cancelled.connect(self._cancel_click)
        self.picker.setEnabled(False)

        self.submit_action = self.add_action(
            "Submit spots", "Return", self.submit_spots, "save the new spots"
        )
        self.submit_action.setShortcuts(submit_keys())
        self.nothing_action = self.add_action(
            "Nothing new", "N", self.nothing_new, "no category in the image is missing a spot"
        )
        self.remove_action = self.add_action(
            "Remove last spot", "Delete", self.remove_last, "take back the last new spot"
        )
        self.suggestion_action = self.add_action(
            "Accept suggestion", "U", self.accept_suggestion, "the model's best detection left"
        )
        self.known_label = QLabel(self.panel)
        self.known_label.setWordWrap(True)
        self.known_label.setProperty("role", "muted")
        self.category_label.hide()
        self.synonyms_label.hide()
        self.definition_label.hide()
        self.panel_layout.addWidget(self.known_label)
        self.panel_layout.addWidget(self.picker, 1)
        self.panel_layout.addLayout(
            self.button_column(
                [self.submit_action, self.nothing_action],
                [self.remove_action, self.suggestion_action],
                [self.skip_action, self.take_back_action],
                primary=self.submit_action,
            )
        )
        self.canvas.clicked.connect(self._on_click)

    # ------------------------------------------------------------ showing

    def activate(self) -> None:
        self.picker.set_usage(self.session.pipeline.category_usage())
        super().activate()

    def show_item(self, item: SpottingItem) -> None:
        self.show_image(item)
        self.spots = []
        self._spot_items = []
        self._cancel_click()
        # the last image's query ("bird") would filter the list for this one
        self.picker.reset(focus=False)
        for known in item.known:
            if known.point is not None:
                self.scene.add_point(*known.point, known.name, category_id=known.category_id)
        self._refresh_excluded()
        names = ", ".join(k.name.replace("_", " ") for k in item.known) or "none yet"
        self.question_label.setText(
            "Click one object of each category not spotted yet, then pick its category. "
            "Enter submits; N: nothing new."
        )
        self.known_label.setText(
            f"Known here: {names}.\nVisit {item.visits + 1}; the image is done after "
            f"{item.done_after} 'nothing new' answers in a row ({item.nothing_new_in_row} so far)."
        )
        self.detail_label.setText("")
        restored = self._restore.pop(item.id, ())
        for spot in restored:
            category = self._by_id.get(spot.category_id)
            if category is not None:
                self.add_spot(category, spot.x, spot.y, announce=False)
        if restored:
            self.detail_label.setText(
                f"Your {len(restored)} taken-back spot{'s' if len(restored) != 1 else ''} "
                "are back: edit them (Delete removes the last), Enter submits."
            )
        self._ask_suggestions(item)

    def _on_taken_back(self, item: StageItem) -> None:
        spots = self._answered.get(item.id)
        if item.stage == SPOTTING and spots:
            self._restore[item.id] = spots

    def clear_item(self) -> None:
        super().clear_item()
        self.spots = []
        self._spot_items = []
        self.suggestions = []
        self._suggestion_items = []
        self.clicked_at = None
        self._click_item = None
        self.picker.setEnabled(False)

    def _refresh_excluded(self) -> None:
        if not self.items:
            return
        item: SpottingItem = self.items[0]
        reasons = dict.fromkeys(item.excluded_category_ids, EXCLUDED_REASON)
        reasons.update(dict.fromkeys((k.category_id for k in item.known), KNOWN_REASON))
        reasons.update(dict.fromkeys((s.category_id for s in self.spots), NEW_REASON))
        self.picker.set_excluded(reasons)

    # ------------------------------------------------------------ spotting

    def _on_click(self, point: QPointF, button: Qt.MouseButton, modifiers: Any) -> None:
        if not self.items or button != Qt.MouseButton.LeftButton:
            return
        item = self.items[0]
        x, y = point.x(), point.y()
        if not (0 <= x <= item.image.width and 0 <= y <= item.image.height):
            return
        self._cancel_click()
        self.clicked_at = (x, y)
        self._click_item = self.scene.add_point(x, y, "?", PENDING_COLOR)
        self.picker.setEnabled(True)
        self.picker.reset()  # the focus goes to the query: type the category
        self.detail_label.setText("Type the category of the clicked object; Enter picks it.")

    def _cancel_click(self) -> None:
        if self._click_item is not None:
            self.scene.remove_annotation(self._click_item)
        self._click_item = None
        self.clicked_at = None
        self.picker.setEnabled(False)
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_picked(self, category: Category) -> None:
        if self.clicked_at is None:
            self.detail_label.setText("Click the object first, then pick its category.")
            return
        self.add_spot(category, *self.clicked_at)
        self._cancel_click()

    def add_spot(self, category: Category, x: float, y: float, *, announce: bool = True) -> None:
        """A new spot of ``category``; ``announce``: the toast names the category picked
        (a prefix typed and Enter can pick another than meant: it says which)."""
        assert category.id is not None  # the project's categories, read from its store
        self.spots.append(Spot(category.id, x, y))
        if announce:
            self.toast.show_message(f"Spotted: {category.display_name}")
        self._spot_items.append(
            self.scene.add_point(x, y, category.display_name, category_id=category.id)
        )
        self._refresh_excluded()
        count = len(self.spots)
        self.detail_label.setText(
            f"{count} new spot{'s' if count != 1 else ''}: Enter submits, Delete removes the last."
        )

    def remove_last(self) -> None:
        if self.clicked_at is not None:
            self._cancel_click()
            return
        if self.spots:
            self.spots.pop()
            self.scene.remove_annotation(self._spot_items.pop())
            self._refresh_excluded()

    def submit_spots(self) -> None:
        if not self.items:
            return
        if not self.spots:
            self.toast.show_message("No new spot yet: click an object, or N for nothing new")
            return
        self.picker.setEnabled(False)
        item, spots = self.items[0], tuple(self.spots)
        if self.submit(item, SpotAnswer(spots)) is not None:
            self._answered[item.id] = spots
            while len(self._answered) > 50:  # only the last answers can be taken back
                self._answered.pop(next(iter(self._answered)))

    def nothing_new(self) -> None:
        if not self.items:
            return
        if self.spots:
            self.toast.show_message(
                f"You spotted {len(self.spots)} new categories: Enter submits them "
                "(Delete removes the last)"
            )
            return
        self.submit(self.items[0], SpotAnswer(nothing_new=True))

    # ------------------------------------------------------------ model suggestions

    def _forget_worker(self) -> None:
        self._worker_connected = False

    def _ask_suggestions(self, item: SpottingItem) -> None:
        self.suggestions = []
        self._suggestion_items = []
        if not model_in_use(self.session.project):
            return
        worker = self.session.model_worker
        if not self._worker_connected:
            worker.proposalsReady.connect(self._on_suggestions)
            self._worker_connected = True
        self._suggestion_request = worker.whole_image(image_path(self.session, item))

    def _on_suggestions(self, request_id: int, proposals: list) -> None:
        if request_id != self._suggestion_request or not self.items:
            return
        item: SpottingItem = self.items[0]
        taken = {k.category_id for k in item.known} | set(item.excluded_category_ids)
        by_name = {c.name: c for c in self.categories}
        found: dict[int, Suggestion] = {}
        for proposal in proposals:
            category = by_name.get(proposal.category or "")
            if category is None or category.id in taken:
                continue
            assert category.id is not None  # the project's categories, read from its store
            if category.id in found and found[category.id].score >= proposal.score:
                continue
            x, y, w, h = proposal.box
            found[category.id] = Suggestion(category, x + w / 2, y + h / 2, proposal.score)
        self.suggestions = sorted(found.values(), key=lambda s: -s.score)
        for s in self.suggestions:
            label = f"{s.category.display_name}? {s.score:.2f}"
            self._suggestion_items.append(self.scene.add_point(s.x, s.y, label, SUGGESTION_COLOR))
        if self.suggestions:
            self.detail_label.setText(
                f"{len(self.suggestions)} model suggestions: U accepts the best one left."
            )

    def accept_suggestion(self) -> None:
        spotted = {s.category_id for s in self.spots}
        while self.suggestions:
            suggestion = self.suggestions.pop(0)
            marker = self._suggestion_items.pop(0)
            self.scene.remove_annotation(marker)
            category_id = suggestion.category.id
            if category_id not in spotted:
                assert category_id is not None  # a suggestion names a stored category
                self.picker.note_used(category_id)
                self.add_spot(suggestion.category, suggestion.x, suggestion.y)
                return
        self.toast.show_message("No model suggestion left")

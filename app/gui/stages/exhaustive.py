"""Stage 5, exhaustive annotations verification: is every instance of the category
segmented?

The image shows every accepted mask of the category. ``A`` answers "all segmented".
Otherwise a click on each missing instance marks it (``Delete`` removes the last
mark) and ``Enter`` answers "some are missing": the marked instances go to stage 3;
with no mark the pair becomes not exhaustive (``M`` answers that directly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from pipeline.stages import EXHAUSTIVE, ExhaustiveAnswer, ExhaustiveItem, Mark

from ..canvas.items import PointItem
from .base import submit_keys
from .image_view import ImageStageView

if TYPE_CHECKING:
    from ..session import Session

MISSING_COLOR = QColor("#ff2d55")
INSTANCE_COLORS = ("#ffd60a", "#30d158", "#64d2ff", "#ff9f0a", "#bf5af2", "#ffffff")


class ExhaustiveView(ImageStageView[ExhaustiveItem]):
    """Stage 5 (see the module docstring)."""

    stage: ClassVar[int] = EXHAUSTIVE
    item_type = ExhaustiveItem
    title: ClassVar[str] = "Exhaustive check"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.missing: list[tuple[float, float]] = []
        self._missing_items: list[PointItem] = []
        self.all_action = self.add_action(
            "All segmented", "A", self.answer_all, "every instance of the category has a mask"
        )
        self.submit_action = self.add_action(
            "Some missing: submit marks",
            "Return",
            self.answer_missing,
            "the instances you clicked have no mask yet",
        )
        self.submit_action.setShortcuts(submit_keys())
        self.not_exhaustive_action = self.add_action(
            "Some missing, not marked",
            "M",
            self.answer_not_exhaustive,
            "instances are missing but are not marked (the pair is not exhaustive)",
        )
        self.remove_action = self.add_action(
            "Remove last mark", "Delete", self.remove_last, "take the last missing mark away"
        )
        self.finish_panel(
            [self.all_action, self.submit_action],
            [self.not_exhaustive_action, self.remove_action],
            [self.skip_action, self.take_back_action],
            primary=self.all_action,
        )
        self.canvas.clicked.connect(self._on_click)

    def show_item(self, item: ExhaustiveItem) -> None:
        self.show_image(item)
        self.show_category(item.category)
        self.missing = []
        self._missing_items = []
        shown = 0
        name = item.category.display_name
        for number, annotation in enumerate(item.annotations, start=1):
            if annotation.segment is not None:
                # one bright colour per instance: neighbours stay apart on any photo
                color = QColor(INSTANCE_COLORS[(number - 1) % len(INSTANCE_COLORS)])
                self.scene.add_mask(annotation.segment.mask, f"{name} {number}", color)
                shown += 1
        self.question_label.setText(
            f"Are all {name} instances segmented?  A: all segmented. "
            "Otherwise click each missing one, then Enter."
        )
        round_text = f" (round {item.round})" if item.round > 1 else ""
        self.detail_label.setText(
            f"{shown} accepted mask{'s' if shown != 1 else ''} shown{round_text}. "
            "Missing instances you mark go to segmentation; M says some are missing "
            "without marking them (the pair becomes not exhaustive)."
        )

    def _on_click(self, point: QPointF, button: Qt.MouseButton, modifiers) -> None:
        if not self.items or button != Qt.MouseButton.LeftButton:
            return
        item = self.items[0]
        x, y = point.x(), point.y()
        if not (0 <= x <= item.image.width and 0 <= y <= item.image.height):
            return  # a click beside the image marks nothing
        self.missing.append((x, y))
        marker = self.scene.add_point(x, y, f"missing {len(self.missing)}", MISSING_COLOR)
        self._missing_items.append(marker)
        count = len(self.missing)
        marked = f"{count} missing instance{'s' if count != 1 else ''} marked"
        self.statusMessage.emit(f"{marked}; Enter submits")

    def context_exclude(self) -> frozenset[int]:
        # the category's masks are the question, drawn brightly by show_item
        if not self.items:
            return frozenset()
        return frozenset(a.instance.id for a in self.items[0].annotations)

    def remove_last(self) -> None:
        if self.missing:
            self.missing.pop()
            self.scene.remove_annotation(self._missing_items.pop())

    def answer_all(self) -> None:
        if not self.items:
            return
        if self.missing:
            self.toast.show_message(
                "You marked missing instances: Enter submits them, Delete removes the last"
            )
            return
        self.submit(self.items[0], ExhaustiveAnswer(True))

    def answer_missing(self) -> None:
        if not self.items:
            return
        if not self.missing:
            self.toast.show_message(
                "Click each missing instance first (or A: all segmented, M: missing, not marked)"
            )
            return
        marks = tuple(Mark(x, y) for x, y in self.missing)
        self.submit(self.items[0], ExhaustiveAnswer(False, marks))

    def answer_not_exhaustive(self) -> None:
        if self.items:
            self.submit(self.items[0], ExhaustiveAnswer(False))

    def clear_item(self) -> None:
        super().clear_item()
        self.missing = []
        self._missing_items = []

"""Stage 6, negative labels: is the candidate category anywhere in the image?

The image and the category with its definition; ``Y`` present, ``N`` absent. The view
claims a few candidates at once and works them image by image, so that the
candidates of one image follow each other on the same, already shown picture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from PySide6.QtWidgets import QWidget

from pipeline.stages import NEGATIVES, NegativeAnswer, NegativeItem, StageItem

from .base import image_path
from .image_view import ImageStageView

if TYPE_CHECKING:
    from ..session import Session

BATCH = 6  # a round samples up to negative_candidates_per_image (5) per image


class NegativesView(ImageStageView[NegativeItem]):
    """Stage 6 (see the module docstring)."""

    stage: ClassVar[int] = NEGATIVES
    item_type = NegativeItem
    title: ClassVar[str] = "Negative labels"
    page_size: ClassVar[int] = BATCH
    sequential: ClassVar[bool] = True

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.present_action = self.add_action(
            "Present", "Y", lambda: self.decide(True), "the category is somewhere in the image"
        )
        self.absent_action = self.add_action(
            "Absent", "N", lambda: self.decide(False), "the category is nowhere in the image"
        )
        self.finish_panel(
            [self.present_action, self.absent_action],
            [self.skip_action, self.take_back_action],
        )

    def order(self, items: list[NegativeItem]) -> list[NegativeItem]:
        # the image shown now first, then image by image in claim order
        first: dict[int, int] = {}
        for index, item in enumerate(items):
            first.setdefault(item.image.id, index)
        shown = next((i.image.id for i in items if self._is_shown(i)), None)
        position = {item.id: index for index, item in enumerate(items)}
        return sorted(items, key=lambda i: (i.image.id != shown, first[i.image.id], position[i.id]))

    def _is_shown(self, item: StageItem) -> bool:
        return image_path(self.session, item) == self.shown_image

    def show_item(self, item: NegativeItem) -> None:
        self.show_image(item)
        self.show_category(item.category)
        name = item.category.display_name
        self.question_label.setText(f"Is there any {name} in this image?  Y yes, N no")
        left = sum(1 for i in self.items if i.image.id == item.image.id) - 1
        self.detail_label.setText(
            "Look over the whole image, small and partly hidden objects included."
            + (f"\n{left} more candidate{'s' if left != 1 else ''} on this image." if left else "")
        )

    def decide(self, present: bool) -> None:
        if self.items:
            self.submit(self.items[0], NegativeAnswer(present))

"""A stage view with the image on the canvas and the item's question beside it.

Stages 1, 2, 5 and 6 share this shape: the canvas (zoom, pan, fit from the canvas's
``CanvasView``, docs/canvas.md) on the left, a panel on the right with the category's name, synonyms and
definition, the question, and the buttons of the view's actions. The image is set only
when it changes, so items of one image follow each other without reloading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from app.gui.canvas import CanvasView
from app.gui.canvas.context import ContextLayer
from pipeline.stages import StageItem
from pipeline.vocabulary import Category

from ..style import COLORS
from .base import IMAGES, ItemT, StageView, image_path

if TYPE_CHECKING:
    from ..session import Session

PANEL_WIDTH = 340
PANEL_MIN_WIDTH = 290


class SidePanel(QWidget):
    """The column beside the canvas. Never narrower than its widest button: an explicit
    minimum width would override the layout's, and the splitter would then cut the
    buttons' labels ("Take back last answer (Ctrl+Backspace)") at the default window size."""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(max(PANEL_MIN_WIDTH, hint.width()), hint.height())


def title_label(parent: QWidget) -> QLabel:
    """The category's name: the largest text of a panel."""
    label = QLabel(parent)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() + 7)
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    return label


def question_label(parent: QWidget) -> QLabel:
    """What the annotator answers, with its keys."""
    label = QLabel(parent)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() + 1)
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {COLORS['accent']}; margin-top: 8px;")
    return label


class ImageStageView(StageView[ItemT]):
    """The canvas + panel layout (see the module docstring)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.shown_image: str | None = None
        self.image_loads = 0  # how often the canvas was given a new image (tests read it)
        area = self.work_area()
        self.canvas = CanvasView(parent=area)
        self.toast.anchor = self.canvas  # toasts over the image, not the panel's buttons
        self.scene = self.canvas.annotation_scene
        self.context = ContextLayer(self.scene, self)  # the image's masks, faintly
        self.panel = SidePanel(area)
        self.panel_layout = QVBoxLayout(self.panel)
        self.panel_layout.setContentsMargins(12, 8, 12, 8)
        self.category_label = title_label(self.panel)
        self.synonyms_label = self._muted_label()
        self.definition_label = QLabel(self.panel)
        self.definition_label.setWordWrap(True)
        self.definition_label.setStyleSheet(f"color: {COLORS['text']};")
        self.question_label = question_label(self.panel)
        self.detail_label = self._muted_label()
        for label in (
            self.category_label,
            self.synonyms_label,
            self.definition_label,
            self.question_label,
            self.detail_label,
        ):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            self.panel_layout.addWidget(label)
        splitter = QSplitter(Qt.Orientation.Horizontal, area)
        splitter.addWidget(self.canvas)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([900, PANEL_WIDTH])
        splitter.setChildrenCollapsible(False)
        layout = QHBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def _muted_label(self) -> QLabel:
        label = QLabel(self.panel)
        label.setWordWrap(True)
        label.setProperty("role", "muted")
        return label

    def finish_panel(self, *groups: list, primary=None) -> None:
        """Add the buttons below the texts (and a stretch that keeps them together)."""
        self.panel_layout.addSpacing(8)
        self.panel_layout.addLayout(self.button_column(*groups, primary=primary))
        self.panel_layout.addStretch(1)

    # ------------------------------------------------------------ showing

    def show_image(self, item: StageItem) -> bool:
        """Show the item's image unless it is shown already; the annotations are cleared
        either way. Returns True when the image changed."""
        path = image_path(self.session, item)
        changed = path != self.shown_image
        if changed:
            self.canvas.set_image(IMAGES.array(path))
            self.shown_image = path
            self.image_loads += 1
        self.scene.clear_annotations()
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)
        return changed

    def show_category(self, category: Category) -> None:
        self.category_label.setText(category.display_name)
        others = [x.replace("_", " ") for x in category.synonyms if x != category.name]
        self.synonyms_label.setText(("Also called: " + ", ".join(others)) if others else "")
        self.synonyms_label.setVisible(bool(others))
        self.definition_label.setText(category.definition or "(no definition in the vocabulary)")

    def clear_item(self) -> None:
        self.scene.clear_annotations()

    def context_layer(self) -> ContextLayer:
        return self.context

    def describe(self, item: StageItem) -> str:
        return f"Stage {self.stage} ({self.title}): {item.image.file_name}"

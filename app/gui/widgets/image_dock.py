"""The image panel: the image on the canvas, its categories (with their federated state)
and, under each, its objects: every instance with its state and colour.

It follows the item on the canvas: the stage view that shows an item hands over the
image's summary (one read, ``Session.image_summary``) with its context layer
(:class:`app.gui.canvas.context.ContextLayer`), so that the panel never shows an image
the canvas does not. Clicking an object selects and highlights its mask on the canvas;
each object with a mask has an eye (its checkbox), and two toggles act on the canvas:
the labels of every mask, and the faint context masks.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.canvas.items import category_color
from pipeline.explorer import ImageSummary, PairState

if TYPE_CHECKING:
    from app.gui.canvas.context import ContextLayer
    from app.gui.session import Session

LABELS_KEY = "Shift+L"
CONTEXT_KEY = "Shift+C"
INSTANCE_ROLE = Qt.ItemDataRole.UserRole + 1


def describe_pair(state: str, exhaustive: bool | None) -> str:
    return PairState(state, exhaustive).describe()


def swatch(color: QColor, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(color)
    return QIcon(pixmap)


def _children(node: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    """A tree node's child rows, in order (the tree's rows: its invisible root's)."""
    found = (node.child(k) for k in range(node.childCount()))
    return [child for child in found if child is not None]  # none is, below childCount


class ImageDock(QDockWidget):
    """Lists one image's categories and objects (see the module doc)."""

    instanceSelected = Signal(int)  # an object was clicked in the list
    labelsToggled = Signal(bool)
    contextToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Image", parent)
        self.setObjectName("imageDock")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        toggles = QHBoxLayout()
        self.labels_action = self._toggle_action("Labels", LABELS_KEY, self.set_labels_visible)
        self.context_action = self._toggle_action(
            "Context", CONTEXT_KEY, self.set_context_visible
        )
        self.labels_box = self._toggle_box(self.labels_action, "the canvas's mask labels")
        self.context_box = self._toggle_box(
            self.context_action, "the image's accepted and pending masks, faintly"
        )
        toggles.addWidget(self.labels_box)
        toggles.addWidget(self.context_box)
        toggles.addStretch(1)
        layout.addLayout(toggles)
        self.tree = QTreeWidget(body)
        self.tree.setHeaderLabels(["Category", "State"])
        self.tree.setIconSize(QSize(12, 12))
        # The state is always shown whole ("confirmed, not exhaustive" was cut to
        # "confirmed, no...", and at 1280 px wide the column began past the dock's edge
        # behind a long category name): it is as wide as its longest text, and the name
        # column takes what is left, eliding a long name (its tooltip holds it whole).
        # Placeholders sit in the first column, which fits them. Only a dock narrower
        # than a short name plus the state scrolls sideways.
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(72)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setMinimumWidth(250)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemChanged.connect(self._eye_changed)
        layout.addWidget(self.tree, 1)
        self.setWidget(body)
        if parent is not None:  # the keys work wherever the focus is in the window
            parent.addAction(self.labels_action)
            parent.addAction(self.context_action)
        self.image_id: int | None = None
        self.summary: ImageSummary | None = None
        self.layer: ContextLayer | None = None
        self.labels_visible = True
        self.context_visible = True
        self._session: Session | None = None
        self._filling = False
        self._reread = QTimer(self)  # a page of answers reads the image once
        self._reread.setSingleShot(True)
        self._reread.setInterval(0)
        self._reread.timeout.connect(self.refresh)
        self.clear()

    def _toggle_action(self, text: str, key: str, slot) -> QAction:
        action = QAction(text, self)
        action.setCheckable(True)
        action.setChecked(True)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.toggled.connect(slot)
        return action

    def _toggle_box(self, action: QAction, what: str) -> QCheckBox:
        key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        # the key in the tooltip: the dock keeps its narrow width beside stage 3's tools
        box = QCheckBox(action.text(), self)
        box.setToolTip(f"Show {what} ({key})")
        box.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay on the item
        box.setChecked(action.isChecked())
        box.toggled.connect(action.setChecked)
        action.toggled.connect(box.setChecked)
        return box

    # ------------------------------------------------------------ showing

    def clear(self) -> None:
        """Nothing on the canvas: say so (an empty stage, no project)."""
        self.image_id = None
        self.summary = None
        self.layer = None
        self._reread.stop()
        self.tree.clear()
        self.setWindowTitle("Image")
        QTreeWidgetItem(self.tree, ["No image shown", ""])

    def show_image(self, session: Session, image_id: int) -> None:
        """Read the image's summary (one read transaction) and list it."""
        self.show_summary(session.image_summary(image_id), self.layer, session)

    def show_summary(
        self,
        summary: ImageSummary | None,
        layer: ContextLayer | None = None,
        session: Session | None = None,
    ) -> None:
        """List ``summary`` (None: no image) and act on ``layer``, the canvas's context
        masks; with ``session``, answers on the image re-read it."""
        if session is not None and session is not self._session:
            self._session = session
            session.answered.connect(self._on_answered)
        if summary is None:
            self.clear()
            return
        self.summary, self.layer, self.image_id = summary, layer, summary.image.id
        if layer is not None:
            layer.set_visible(self.context_visible)
            layer.scene.set_labels_visible(self.labels_visible)
        self._fill(summary)

    def refresh(self) -> None:
        """Read the shown image again (its states changed); the canvas is the view's."""
        if self._session is None or self.image_id is None:
            return
        summary = self._session.image_summary(self.image_id)
        if summary is None:
            self.clear()
        else:
            self.summary = summary
            self._fill(summary)

    def _on_answered(self, _result: object) -> None:
        if self.image_id is not None:
            self._reread.start()

    def _fill(self, summary: ImageSummary) -> None:
        self._filling = True
        try:
            self.setWindowTitle(f"Image: {summary.image.file_name}")
            self.tree.clear()
            by_category = defaultdict(list)
            for annotation in summary.annotations:
                by_category[annotation.instance.category_id].append(annotation)
            order = summary.category_ids()
            if not order:
                QTreeWidgetItem(self.tree, ["No categories yet", ""])
            drawn = set(self.layer.items) if self.layer is not None else set()
            hidden = self.layer.hidden if self.layer is not None else set()
            bare = [c for c in order if summary.is_bare_negative(c)]
            folded = None
            if len(bare) > 1:
                # Verified negatives can be many (79 after a COCO import): one folded
                # row, last, as in the explorer; a click unfolds it.
                folded = QTreeWidgetItem(self.tree, [f"verified absent ({len(bare)})", "negative"])
                folded.setToolTip(0, ", ".join(summary.names.get(c, str(c)) for c in bare))
            for category_id in order:
                found = by_category.get(category_id, [])
                pair = summary.pairs.get(category_id)
                name = summary.names.get(category_id, str(category_id))
                parent = folded if folded is not None and category_id in bare else self.tree
                node = QTreeWidgetItem(
                    parent, [f"{name} ({len(found)})", pair.describe() if pair else ""]
                )
                node.setIcon(0, swatch(category_color(category_id)))
                node.setToolTip(0, node.text(0))
                node.setToolTip(1, node.text(1))
                for annotation in found:
                    self._object_row(node, annotation, name, drawn, hidden)
                node.setExpanded(True)
            if folded is not None:  # after the others: adding rows above it would move it
                self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(folded))
                self.tree.addTopLevelItem(folded)
                folded.setExpanded(False)
        finally:
            self._filling = False

    def _object_row(self, node, annotation, name: str, drawn: set, hidden: set) -> None:
        inst = annotation.instance
        label = f"{name} #{inst.id}" + (" crowd" if inst.is_crowd else "")
        state = inst.status
        detail = f"instance {inst.id}: {inst.status}"
        if annotation.segment is not None:
            seg = annotation.segment
            state = seg.status  # the area in the tooltip: the column stays narrow
            detail += f"; mask version {seg.version} {seg.status}, {seg.area:,} px"
        row = QTreeWidgetItem(node, [label, state])
        row.setData(0, INSTANCE_ROLE, inst.id)
        row.setIcon(0, swatch(category_color(inst.category_id)))
        if inst.id in drawn:  # its mask is on the canvas: an eye to hide it
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(
                0, Qt.CheckState.Unchecked if inst.id in hidden else Qt.CheckState.Checked
            )
            detail += " (the checkbox shows or hides it on the canvas)"
        row.setToolTip(0, detail)
        row.setToolTip(1, detail)

    # ------------------------------------------------------------ the canvas

    def _clicked(self, row: QTreeWidgetItem, _column: int) -> None:
        instance_id = row.data(0, INSTANCE_ROLE)
        if instance_id is None:
            return
        if self.layer is not None:
            self.layer.select(int(instance_id))
        self.instanceSelected.emit(int(instance_id))

    def _eye_changed(self, row: QTreeWidgetItem, column: int) -> None:
        instance_id = row.data(0, INSTANCE_ROLE)
        if self._filling or column != 0 or instance_id is None or self.layer is None:
            return
        self.layer.set_instance_visible(
            int(instance_id), row.checkState(0) == Qt.CheckState.Checked
        )

    def set_labels_visible(self, visible: bool) -> None:
        self.labels_visible = bool(visible)
        if self.layer is not None:
            self.layer.scene.set_labels_visible(self.labels_visible)
        self.labelsToggled.emit(self.labels_visible)

    def set_context_visible(self, visible: bool) -> None:
        self.context_visible = bool(visible)
        if self.layer is not None:
            self.layer.set_visible(self.context_visible)
        self.contextToggled.emit(self.context_visible)

    # ------------------------------------------------------------ reading

    def category_names(self) -> list[str]:
        return [node.text(0) for node in _children(self.tree.invisibleRootItem())]

    def object_rows(self) -> list[QTreeWidgetItem]:
        """Every object row (an instance), in the order shown."""
        rows = (row for node in _children(self.tree.invisibleRootItem()) for row in _children(node))
        return [row for row in rows if row.data(0, INSTANCE_ROLE) is not None]

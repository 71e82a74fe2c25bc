"""The dataset explorer: every image as a thumbnail, filtered by federated state, stage,
annotator and rejections; an opened image shows all its annotations with their states
and history, and a mask corrected there becomes a new segment version that goes back
to verification (``pipeline.corrections``).

The questions go to ``pipeline.explorer`` on worker threads (filters, the image's
history) and thumbnails decode on a small thread pool, only for the rows the grid
actually paints, so the window stays responsive on a project of 100k images.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QTreeWidgetItemIterator,
    QVBoxLayout,
    QWidget,
)

from app.gui.canvas.items import category_color
from pipeline import explorer as ex
from pipeline.corrections import correct_mask
from pipeline.errors import LongtailError
from pipeline.events import Effort
from pipeline.images import OutsideRootError
from pipeline.masks.geometry import Mask

if TYPE_CHECKING:
    from app.gui.session import Session

THUMB = ex.THUMBNAIL
THUMB_HEIGHT = THUMB * 3 // 4  # a cell's picture height: landscape 4:3 fills it
PAGE = 240  # rows the grid holds before it asks for more (fetchMore)
STATE_LABELS = {
    ex.ANY_STATE: "any state",
    ex.PRESENT: "present (positive)",
    ex.ABSENT: "verified absent (negative)",
    ex.NOT_EXHAUSTIVE: "not exhaustive",
}
SHORT_STAGE = {
    1: "spotting",
    2: "marking",
    3: "segmentation",
    4: "verification",
    5: "exhaustiveness",
    6: "negatives",
}


# ---------------------------------------------------------------- background work


class _Signals(QObject):
    done = Signal(int, object)  # request id, result
    failed = Signal(int, str)


class _Job(QRunnable):
    """Runs ``work()`` on a pool thread; the result comes back through signals."""

    def __init__(self, request: int, work: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.request, self.work, self.signals = request, work, signals

    def run(self) -> None:
        try:
            result = self.work()
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost
            with contextlib.suppress(RuntimeError):  # the explorer closed meanwhile
                self.signals.failed.emit(self.request, str(exc))
            return
        with contextlib.suppress(RuntimeError):  # the explorer closed meanwhile
            self.signals.done.emit(self.request, result)


def category_rgb(category_id: int) -> tuple[int, int, int]:
    """A category's colour as on every canvas (QColor is a value: safe on a pool thread)."""
    color = category_color(category_id)
    return color.red(), color.green(), color.blue()


def _qimage(pixels: np.ndarray) -> QImage:
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888).copy()


# ---------------------------------------------------------------- the thumbnail grid


class ThumbnailModel(QAbstractListModel):
    """Image ids as rows; a thumbnail is decoded the first time a row is painted."""

    ImageIdRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.files = session.image_files  # thumbnails open only files inside the image roots
        self.ids = np.zeros(0, dtype=np.int64)
        self.records: dict[int, Any] = {}
        self.shown = 0  # rows exposed so far (grows with fetchMore)
        self.pixmaps: dict[int, QPixmap] = {}
        self.requested: set[int] = set()
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._signals = _Signals(self)
        self._signals.done.connect(self._thumbnail_ready)
        self._signals.failed.connect(self._thumbnail_failed)
        self.placeholder = self._placeholder()

    def _placeholder(self) -> QPixmap:
        pixmap = QPixmap(THUMB, THUMB_HEIGHT)
        pixmap.fill(QColor("#e8e8e8"))
        return pixmap

    def set_ids(self, ids: np.ndarray) -> None:
        self.beginResetModel()
        self.ids = ids
        self.shown = 0
        self.records.clear()
        self.endResetModel()
        self.fetchMore(QModelIndex())

    # -- paging
    def rowCount(  # noqa: N802
        self,
        parent: QModelIndex | QPersistentModelIndex = QModelIndex(),  # noqa: B008
    ) -> int:
        return 0 if parent.isValid() else self.shown

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        return not parent.isValid() and self.shown < len(self.ids)

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802
        if parent.isValid() or self.shown >= len(self.ids):
            return
        more = min(PAGE, len(self.ids) - self.shown)
        for record in self.session.image_page(self.ids, self.shown, more):
            self.records[record.id] = record
        self.beginInsertRows(QModelIndex(), self.shown, self.shown + more - 1)
        self.shown += more
        self.endInsertRows()

    # -- data
    def image_id(self, row: int) -> int:
        return int(self.ids[row])

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if not index.isValid() or index.row() >= self.shown:
            return None
        image_id = int(self.ids[index.row()])
        record = self.records.get(image_id)
        if role == Qt.ItemDataRole.DisplayRole:
            return record.file_name if record else str(image_id)
        if role == Qt.ItemDataRole.ToolTipRole and record is not None:
            return f"image {image_id}: {record.file_name} ({record.width}x{record.height})"
        if role == self.ImageIdRole:
            return image_id
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self.pixmaps.get(image_id)
            if pixmap is None:
                self._request(image_id)
                return self.placeholder
            return pixmap
        return None

    def _request(self, image_id: int) -> None:
        record = self.records.get(image_id)
        if image_id in self.requested or record is None:
            return
        self.requested.add(image_id)
        try:
            path = self.files.path(record.path)
        except OutsideRootError as exc:
            self._thumbnail_failed(image_id, str(exc))
            return
        session, size = self.session, (record.width, record.height)

        def work() -> QImage:
            # the image's accepted and pending masks, in their categories' colours
            pixels = ex.thumbnail(path)
            summary = session.image_summary(image_id)
            if summary is not None:
                masks = [
                    (a.segment.mask, category_rgb(a.instance.category_id))
                    for a, _ in summary.context_masks()
                    if a.segment is not None  # context masks have one
                ]
                pixels = ex.draw_masks(pixels, size, masks)
            return _qimage(pixels)

        self.pool.start(_Job(image_id, work, self._signals))

    def refresh_thumbnail(self, image_id: int) -> None:
        """Draw the image's thumbnail again (its masks changed)."""
        self.pixmaps.pop(image_id, None)
        self.requested.discard(image_id)
        self._changed(image_id)

    def _thumbnail_ready(self, image_id: int, image: QImage) -> None:
        # Every picture is one size, THUMB x THUMB_HEIGHT, the thumbnail centred in it:
        # the grid's items are uniform (sized from the first row), and a portrait
        # thumbnail taller than a landscape one pushed its name out of its cell.
        if image.height() > THUMB_HEIGHT or image.width() > THUMB:
            image = image.scaled(
                THUMB,
                THUMB_HEIGHT,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        pixmap = QPixmap(THUMB, THUMB_HEIGHT)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.drawImage((THUMB - image.width()) // 2, (THUMB_HEIGHT - image.height()) // 2, image)
        painter.end()
        self.pixmaps[image_id] = pixmap
        self._changed(image_id)

    def _thumbnail_failed(self, image_id: int, message: str) -> None:
        pixmap = self._placeholder()
        painter = QPainter(pixmap)
        painter.setPen(QColor("#a00000"))
        refused = "outside the image root" in message or "image roots" in message
        label = "outside the\nimage roots" if refused else "missing file"
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, label)
        painter.end()
        self.pixmaps[image_id] = pixmap
        self._changed(image_id)

    def _changed(self, image_id: int) -> None:
        rows = np.flatnonzero(self.ids[: self.shown] == image_id)
        for row in rows:
            index = self.index(int(row))
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def wait_for_thumbnails(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)


# ---------------------------------------------------------------- the correction dialog


class CorrectionDialog(QDialog):
    """Redraw one instance's mask with the MaskEditor (its current mask as the draft)."""

    def __init__(
        self,
        image_path: str,
        mask: Mask | None,
        others: list,
        parent=None,
        *,
        category: str | None = None,
        category_id: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Correct mask: the new version goes to verification")
        from app.gui.editor import MaskEditor  # lazily: the editor pulls in the tools

        self.editor = MaskEditor(self)
        # others: (mask, label, category id): each in its category's colour
        self.editor.load(
            image_path,
            others,
            mask,
            category=category,
            category_id=category_id,
            draft_tool="polygon",
        )
        if mask is not None and mask.area:  # clicks (M) refine a proposal from its box
            x, y, w, h = mask.bbox
            self.editor.set_prompt(box=(float(x), float(y), float(w), float(h)))
        note = QLabel(
            "Edit the mask, then send it to verification. The accepted version stays in the "
            "history; the instance counts again once a verifier accepts the new one."
        )
        note.setWordWrap(True)
        # Plain buttons, none default: Enter closes a polygon in the editor and must not
        # also send the mask (a QDialogButtonBox makes its OK button default when shown).
        self.send_button = QPushButton("Send to verification")
        self.cancel_button = QPushButton("Cancel")
        for button in (self.send_button, self.cancel_button):
            button.setAutoDefault(False)
        self.send_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.editor, 1)
        layout.addLayout(buttons)
        self.resize(self._useful_size(parent))

    @staticmethod
    def _useful_size(parent: QWidget | None) -> QSize:
        """Most of the screen (or of the window it opens over): the image to edit, not
        a thumbnail of it."""
        screen = (parent.screen() if parent is not None else None) or QApplication.primaryScreen()
        area = screen.availableGeometry() if screen is not None else None
        if area is None:
            return QSize(1100, 800)
        return QSize(max(900, int(area.width() * 0.8)), max(700, int(area.height() * 0.85)))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        # fitted once the dialog has its size (loaded before, the view was a few px)
        QTimer.singleShot(0, self.editor.view.fit)


# ---------------------------------------------------------------- the explorer


class ExplorerView(QWidget):
    """The explorer (see the module docstring). ``session``: app.gui.session.Session."""

    statusMessage = Signal(str)
    filtered = Signal(int)  # images matching the filter (after each filter run)
    historyShown = Signal(object)  # pipeline.explorer.ImageHistory

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.project = session.project
        self.setWindowTitle("Explorer")
        self._requests = itertools.count(1)
        self._latest_filter = 0
        self._latest_history = 0
        self.history: ex.ImageHistory | None = None
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._kinds: dict[int, str] = {}
        self._started: dict[int, float] = {}
        self._build()
        self._load_choices()
        self.apply_filter()

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        self.category = QComboBox()
        self.category.setEditable(True)
        self.category.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.category_state = QComboBox()
        for key, label in STATE_LABELS.items():
            self.category_state.addItem(label, key)
        self.stage = QComboBox()
        self.stage.addItem("any", None)
        for stage, name in SHORT_STAGE.items():
            self.stage.addItem(f"waiting in {stage} {name}", stage)
        self.stage.addItem("no work waiting", ex.NO_WORK)
        self.annotator = QComboBox()
        self.rejections = QCheckBox("has rejected segments")
        self.count = QLabel("")
        self.count.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Category", self.category)
        form.addRow("its state", self.category_state)
        form.addRow("Stage", self.stage)
        form.addRow("Annotator", self.annotator)
        form.addRow("", self.rejections)
        self.reset_button = QPushButton("Show all images")
        self.reset_button.clicked.connect(self.reset_filter)
        filters = QWidget()
        left = QVBoxLayout(filters)
        left.addWidget(QLabel("<b>Filter images</b>"))
        left.addLayout(form)
        left.addWidget(self.reset_button)
        left.addWidget(self.count)
        left.addStretch(1)

        self.model = ThumbnailModel(self.session, self)
        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setIconSize(QSize(THUMB, THUMB_HEIGHT))
        name_height = self.grid.fontMetrics().height()
        self.grid.setGridSize(QSize(THUMB + 16, THUMB_HEIGHT + name_height + 20))
        self.grid.setSpacing(4)
        self.grid.setWordWrap(False)
        self.grid.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.grid.setModel(self.model)
        self.grid.activated.connect(lambda index: self.open_image(self.model.image_id(index.row())))
        self.grid.doubleClicked.connect(
            lambda index: self.open_image(self.model.image_id(index.row()))
        )

        from app.gui.canvas.scene import AnnotationScene
        from app.gui.canvas.view import CanvasView

        self.scene = AnnotationScene(self)
        self.canvas = CanvasView(self.scene)
        self.canvas.setMinimumSize(320, 240)
        self.title = QLabel("Open an image (double-click or Enter) to see its annotations.")
        self.title.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["annotation", "state", "details"])
        # A long value (a rejection's reason, a long category name) is shown whole, never
        # elided: each column is as wide as its widest text, and the tree scrolls sideways.
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.correct_button = QPushButton("Correct mask…")
        self.correct_button.setToolTip(
            "Redraw the selected instance's mask (Ctrl+E); the new "
            "version goes back to verification"
        )
        self.correct_button.setEnabled(False)
        self.correct_button.clicked.connect(self._correct_selected)
        QShortcut(QKeySequence("Ctrl+E"), self, self._correct_selected).setContext(
            Qt.ShortcutContext.WidgetWithChildrenShortcut  # not the main window's keys
        )
        detail = QWidget()
        right = QVBoxLayout(detail)
        right.addWidget(self.title)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.canvas)
        split.addWidget(self.tree)
        split.setSizes([320, 280])
        right.addWidget(split, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.correct_button)
        right.addLayout(buttons)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(filters)
        splitter.addWidget(self.grid)
        splitter.addWidget(detail)
        splitter.setSizes([230, 560, 460])
        # a wider window widens the grid (it reflows) and the image, not the filters
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 1)
        self.splitter = splitter
        self._shared = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        for combo in (self.category_state, self.stage, self.annotator):
            combo.currentIndexChanged.connect(self.apply_filter)
        self.category.activated.connect(self.apply_filter)
        typed = self.category.lineEdit()
        assert typed is not None  # the category box is editable
        typed.editingFinished.connect(self._category_typed)
        self.rejections.toggled.connect(self.apply_filter)

    DETAIL_SHARE = 0.45
    """The details pane's share of the width beside the filters, set when the window
    first shows at its real size (a 1920 px screen gives it ~770 px: the tree's longer
    lines read without sideways scrolling), the grid the rest."""

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self._shared:
            self._shared = True
            sizes = self.splitter.sizes()
            rest = sum(sizes) - sizes[0]
            detail = int(rest * self.DETAIL_SHARE)
            self.splitter.setSizes([sizes[0], rest - detail, detail])

    def _load_choices(self) -> None:
        choices = self.session.filter_choices()
        self.category.blockSignals(True)
        self.category.addItem("any category", None)
        for cid, name in choices.categories:
            self.category.addItem(name, cid)
        self.category.blockSignals(False)
        self.annotator.blockSignals(True)
        self.annotator.addItem("anyone", None)
        for aid, name in choices.annotators:
            self.annotator.addItem(name, aid)
        self.annotator.blockSignals(False)

    def _category_typed(self) -> None:
        found = self.category.findText(self.category.currentText(), Qt.MatchFlag.MatchFixedString)
        if found >= 0 and found != self.category.currentIndex():
            self.category.setCurrentIndex(found)
            self.apply_filter()

    # ------------------------------------------------------------ filtering

    def current_filter(self) -> ex.ImageFilter:
        return ex.ImageFilter(
            category_id=self.category.currentData(),
            category_state=self.category_state.currentData(),
            stage=self.stage.currentData(),
            annotator_id=self.annotator.currentData(),
            has_rejections=self.rejections.isChecked(),
        )

    def set_filter(self, chosen: ex.ImageFilter) -> None:
        """Show the widgets for ``chosen`` and run it (as if picked by hand)."""
        widgets = (self.category, self.category_state, self.stage, self.annotator, self.rejections)
        for w in widgets:
            w.blockSignals(True)
        self.category.setCurrentIndex(max(0, self.category.findData(chosen.category_id)))
        self.category_state.setCurrentIndex(self.category_state.findData(chosen.category_state))
        self.stage.setCurrentIndex(max(0, self.stage.findData(chosen.stage)))
        self.annotator.setCurrentIndex(max(0, self.annotator.findData(chosen.annotator_id)))
        self.rejections.setChecked(chosen.has_rejections)
        for w in widgets:
            w.blockSignals(False)
        self.apply_filter()

    def reset_filter(self) -> None:
        self.set_filter(ex.ImageFilter())

    def apply_filter(self) -> None:
        chosen = self.current_filter()
        self.count.setText("filtering…")
        if chosen.is_empty and not self.model.shown:
            # Opening: the first page shows at once; the whole list follows.
            self.model.set_ids(self.session.first_image_ids(PAGE))
        session = self.session
        self._latest_filter = self._run("filter", lambda: session.filter_images(chosen))

    def _run(self, kind: str, work: Callable[[], Any]) -> int:
        request = next(self._requests)
        self._kinds[request] = kind
        self.pool.start(_Job(request, work, self._signals))
        return request

    def _on_done(self, request: int, result: Any) -> None:
        kind = self._kinds.pop(request, "")
        if kind == "filter" and request == self._latest_filter:
            ids, total = result
            self.model.set_ids(ids)
            self.count.setText(f"{len(ids)} of {total} images")
            self.filtered.emit(len(ids))
        elif kind == "history" and request == self._latest_history:
            self._show_history(result)

    def _on_failed(self, request: int, message: str) -> None:
        self._kinds.pop(request, None)
        self.count.setText(message)
        self.statusMessage.emit(message)

    @property
    def image_ids(self) -> list[int]:
        """The ids the grid holds (for tests and the status line)."""
        return [int(i) for i in self.model.ids]

    # ------------------------------------------------------------ one image

    def open_image(self, image_id: int) -> None:
        """Show the image's annotations with their states and history (on a worker)."""

        session = self.session
        self._latest_history = self._run("history", lambda: session.image_history(image_id))

    def _show_history(self, history: ex.ImageHistory) -> None:
        self.history = history
        image = history.image
        waiting = ", ".join(f"{n} in {SHORT_STAGE[k]}" for k, n in sorted(history.waiting.items()))
        self.title.setText(
            f"<b>{image.file_name}</b> (image {image.id}, {image.width}x{image.height}, "
            f"split {image.split}) — work waiting: {waiting or 'none'}"
        )
        try:
            self.canvas.set_image(str(self.session.image_files.path(image.path)))
        except (LongtailError, OSError) as exc:
            self.statusMessage.emit(f"image {image.id}: {exc}")
        self.scene.clear_annotations()
        for entry in history.instances:
            if entry.annotation.segment is not None:
                self.scene.add_mask(
                    entry.annotation.segment.mask,
                    entry.category,
                    category_id=entry.annotation.instance.category_id,
                )
        self.tree.clear()
        labels = QTreeWidgetItem(self.tree, ["categories", "", ""])
        absent = [p for p in history.pairs if p.verified_absent]
        for pair in history.pairs:
            if pair.verified_absent:
                continue
            state = "positive" if pair.positive else pair.state
            detail = {True: "exhaustive", False: "not exhaustive", None: ""}[pair.exhaustive]
            QTreeWidgetItem(labels, [pair.category, state, detail])
        if absent:
            # Verified negatives can be many (stage 6 samples them): one folded row.
            folded = QTreeWidgetItem(labels, [f"verified absent ({len(absent)})", "negative", ""])
            for pair in absent:
                QTreeWidgetItem(folded, [pair.category, "verified absent", ""])
        labels.setExpanded(True)
        for entry in history.instances:
            inst = entry.annotation.instance
            crowd = " (crowd)" if inst.is_crowd else ""
            top = QTreeWidgetItem(
                self.tree, [f"{entry.category} #{inst.id}{crowd}", inst.status, inst.source]
            )
            top.setData(0, Qt.ItemDataRole.UserRole, inst.id)
            for version in entry.versions:
                child = QTreeWidgetItem(
                    top,
                    [
                        f"version {version.version}",
                        version.status,
                        f"{version.tool or '?'} by {version.annotator or '?'}, {version.area} px",
                    ],
                )
                child.setData(0, Qt.ItemDataRole.UserRole, inst.id)
                for verdict in version.verdicts:
                    word = "accepted" if verdict.accept else "rejected"
                    reason = f": {verdict.reason}" if verdict.reason else ""
                    leaf = QTreeWidgetItem(child, [f"verdict by {verdict.annotator}", word, reason])
                    leaf.setData(0, Qt.ItemDataRole.UserRole, inst.id)
            top.setExpanded(True)
        every = QTreeWidgetItemIterator(self.tree)
        while every.value():
            item = every.value()
            for column in range(self.tree.columnCount()):
                item.setToolTip(column, item.text(column))  # the whole text on hover too
            every += 1
        self.correct_button.setEnabled(False)
        self.historyShown.emit(history)

    def selected_instance(self) -> int | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def _selection_changed(self) -> None:
        self.correct_button.setEnabled(self.selected_instance() is not None)

    def select_instance(self, instance_id: int) -> None:
        for k in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(k)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == instance_id:
                self.tree.setCurrentItem(item)
                return

    # ------------------------------------------------------------ correcting

    def _correct_selected(self) -> None:
        instance_id = self.selected_instance()
        if instance_id is None or self.history is None:
            return
        entry = next(e for e in self.history.instances if e.annotation.instance.id == instance_id)
        if entry.annotation.instance.is_crowd:
            self.statusMessage.emit("crowd regions are not verified and cannot be corrected")
            return
        others = [
            (e.annotation.segment.mask, e.category, e.annotation.instance.category_id)
            for e in self.history.instances
            if e is not entry and e.annotation.segment is not None
        ]
        current = entry.annotation.segment.mask if entry.annotation.segment else None
        try:
            path = self.session.image_files.path(self.history.image.path)
        except OutsideRootError as exc:
            self.statusMessage.emit(f"image {self.history.image.id}: {exc}")
            return
        dialog = CorrectionDialog(
            str(path),
            current,
            others,
            self,
            category=entry.category,
            category_id=entry.annotation.instance.category_id,
        )
        self.correction_dialog = dialog  # tests drive it
        dialog.open()
        started = _now()

        def finished(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                mask = dialog.editor.current_mask()
                if mask is None:
                    self.statusMessage.emit("the mask is empty: nothing was sent")
                    return
                self.submit_correction(
                    instance_id, mask, dialog.editor.tool_used(), Effort(round(_now() - started, 2))
                )

        dialog.finished.connect(finished)

    def submit_correction(
        self, instance_id: int, mask: Mask, tool: str = "polygon", effort: Effort | None = None
    ) -> None:
        """Store ``mask`` as a new version of the instance (to be verified) and show it."""
        try:
            done = correct_mask(
                self.project, instance_id, mask, self.session.annotator, tool=tool, effort=effort
            )
        except LongtailError as exc:
            self.statusMessage.emit(str(exc))
            return
        message = (
            f"Instance {instance_id}: version {done.version} goes to verification "
            f"({len(done.verification_items)} item{'s' if len(done.verification_items) != 1 else ''})"
        )
        self.statusMessage.emit(message)
        self.session.toast.emit(message)
        self.session.refresh_progress()
        if self.history is not None:
            self.model.refresh_thumbnail(self.history.image.id)
            self.open_image(self.history.image.id)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.model.pool.clear()
        self.pool.clear()
        super().closeEvent(event)


def _now() -> float:
    import time

    return time.monotonic()


__all__ = ["ExplorerView", "ThumbnailModel"]

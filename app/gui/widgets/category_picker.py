"""The category picker: type a few letters, see the best categories, press Enter.

Type-ahead over names, synonyms and definitions with the vocabulary's ranked search
(:class:`pipeline.vocabulary.CategoryIndex`); within a rank the categories most used in
this project come first. Each hit shows its definition and synonyms. Up / Down move,
Enter picks; the last used categories are one key away (Alt+1 ... Alt+9, and an empty
query lists them first). Categories excluded for the current image (rejected, verified
absent, already spotted) stay visible, greyed, and picking one says why instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from pipeline.vocabulary import Category, CategoryIndex

from ..style import COLORS

RESULT_LIMIT = 60
RECENT_KEYS = 9
PICKER_KEYS = (
    Qt.Key.Key_Return,
    Qt.Key.Key_Enter,
    Qt.Key.Key_Escape,
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_PageUp,
    Qt.Key.Key_PageDown,
)


class CategoryModel(QAbstractListModel):
    """The hits of the current query (a short list: the search stops at RESULT_LIMIT)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hits: list[Category] = []
        self.excluded: Mapping[int, str] = {}
        self.recent_ids: list[int] = []

    def set_hits(self, hits: list[Category]) -> None:
        self.beginResetModel()
        self.hits = hits
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        category = self.hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return category.display_name
        if role == Qt.ItemDataRole.UserRole:
            return category
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.excluded.get(category.id) or category.definition
        return None


class CategoryDelegate(QStyledItemDelegate):
    """Two lines a hit: the name (and its Alt+n key if recent) with its synonyms, then the
    definition, elided; an excluded category is greyed with the reason."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        height = QFontMetrics(option.font).height()
        return QSize(200, 2 * height + 12)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        model: CategoryModel = index.model()
        category: Category = index.data(Qt.ItemDataRole.UserRole)
        reason = model.excluded.get(category.id)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        rect = option.rect
        if selected:
            painter.fillRect(rect, QColor(COLORS["accent"]))
        elif index.row() % 2:
            painter.fillRect(rect, QColor(COLORS["alternate"]))
        main = QColor(COLORS["accent_text"] if selected else COLORS["text"])
        muted = QColor("#dfe8fb" if selected else COLORS["muted"])
        if reason:
            main = muted
        inner = rect.adjusted(8, 4, -8, -4)
        line = QFontMetrics(option.font).height()
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(main)
        name = category.display_name
        if category.id in model.recent_ids:
            name += f"   Alt+{model.recent_ids.index(category.id) + 1}"
        name_width = min(QFontMetrics(bold).horizontalAdvance(name) + 4, inner.width())
        top = QRect(inner.left(), inner.top(), inner.width(), line)
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        painter.setFont(option.font)
        painter.setPen(muted)
        extra = f"excluded: {reason}" if reason else _synonym_text(category)
        if extra:
            rest = QRect(inner.left() + name_width + 8, inner.top(), inner.width(), line)
            rest.setRight(inner.right())
            elided = QFontMetrics(option.font).elidedText(
                extra, Qt.TextElideMode.ElideRight, rest.width()
            )
            painter.drawText(
                rest, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided
            )
        second = QRect(inner.left(), inner.top() + line + 2, inner.width(), line)
        definition = category.definition or "(no definition)"
        elided = QFontMetrics(option.font).elidedText(
            definition, Qt.TextElideMode.ElideRight, second.width()
        )
        painter.drawText(second, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)
        painter.restore()


def _synonym_text(category: Category) -> str:
    others = [x.replace("_", " ") for x in category.synonyms if x != category.name]
    return ("also: " + ", ".join(others)) if others else ""


class CategoryPicker(QWidget):
    """Search and pick one category (see the module docstring).

    ``picked(Category)`` when the annotator chooses an allowed category;
    ``cancelled()`` on Escape.
    """

    picked = Signal(object)
    cancelled = Signal()

    def __init__(
        self,
        categories: Iterable[Category],
        *,
        usage: Mapping[int, int] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.index = CategoryIndex(categories)
        self.usage: dict[int, int] = dict(usage or {})
        self.recent: list[int] = []
        self._by_id = {c.id: c for c in self.index.search("", limit=None)}

        self.query = QLineEdit(self)
        self.query.setPlaceholderText("Type a name, synonym or words of a definition")
        self.query.setClearButtonEnabled(True)
        self.model = CategoryModel(self)
        self.list = QListView(self)
        self.list.setModel(self.model)
        self.list.setItemDelegate(CategoryDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # typing stays in the query
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setProperty("role", "muted")
        self.recent_label = QLabel(self)
        self.recent_label.setWordWrap(True)
        self.recent_label.setProperty("role", "muted")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.query)
        layout.addLayout(row)
        layout.addWidget(self.recent_label)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.message)

        self.query.textChanged.connect(self.search)
        self.query.returnPressed.connect(self.pick_current)
        self.query.installEventFilter(self)
        self.list.clicked.connect(lambda index: self._pick_row(index.row()))
        for n in range(1, RECENT_KEYS + 1):
            shortcut = QShortcut(QKeySequence(f"Alt+{n}"), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda n=n: self.pick_recent(n))
        self.search("")

    # ------------------------------------------------------------ state

    def set_usage(self, usage: Mapping[int, int]) -> None:
        self.usage = dict(usage)
        self.search(self.query.text())

    def set_excluded(self, reasons: Mapping[int, str]) -> None:
        """Categories that may not be picked now, each with the reason shown."""
        self.model.excluded = dict(reasons)
        self.search(self.query.text())

    def note_used(self, category_id: int) -> None:
        """A category was just used: it becomes Alt+1, and counts once more."""
        self.recent = [category_id, *[c for c in self.recent if c != category_id]][:RECENT_KEYS]
        self.usage[category_id] = self.usage.get(category_id, 0) + 1
        self._show_recent()

    def reset(self) -> None:
        """An empty query, the recent categories on top, the focus in the query."""
        self.message.clear()
        if self.query.text():
            self.query.clear()
        else:
            self.search("")
        self.query.setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------ search

    def search(self, text: str) -> list[Category]:
        """Show the hits of ``text`` (best first) and select the first."""
        hits = self.index.search(text, limit=RESULT_LIMIT, usage=self.usage)
        if not text.strip() and self.recent:
            recent = [self._by_id[c] for c in self.recent if c in self._by_id]
            hits = recent + [c for c in hits if c.id not in set(self.recent)]
            hits = hits[:RESULT_LIMIT]
        self.model.recent_ids = self.recent
        self.model.set_hits(hits)
        # the best hit is selected even when excluded: Enter then says why, rather than
        # silently picking the next best category
        self._select(0)
        if not hits:
            self.message.setText(f"No category matches {text!r}")
        elif self.message.text().startswith("No category"):
            self.message.clear()
        return hits

    def current(self) -> Category | None:
        index = self.list.currentIndex()
        return self.model.hits[index.row()] if index.isValid() else None

    def pick_current(self) -> None:
        index = self.list.currentIndex()
        if index.isValid():
            self._pick_row(index.row())

    def pick_recent(self, n: int) -> None:
        if 1 <= n <= len(self.recent):
            self._pick(self._by_id[self.recent[n - 1]])

    def _pick_row(self, row: int) -> None:
        if 0 <= row < len(self.model.hits):
            self._pick(self.model.hits[row])

    def _pick(self, category: Category) -> None:
        reason = self.model.excluded.get(category.id)
        if reason:
            self.message.setText(f"{category.display_name!r} cannot be picked here: {reason}")
            return
        self.message.clear()
        self.note_used(category.id)
        self.picked.emit(category)

    def _select(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            index = self.model.index(row)
            self.list.setCurrentIndex(index)
            self.list.scrollTo(index)

    def _show_recent(self) -> None:
        names = [
            f"Alt+{i + 1} {self._by_id[c].display_name}"
            for i, c in enumerate(self.recent[:5])
            if c in self._by_id
        ]
        self.recent_label.setText("Last used: " + "   ".join(names) if names else "")

    # ------------------------------------------------------------ keys

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        # the picker's keys win over a window's shortcuts on the same keys (Enter
        # submits in a stage view, arrows move in a grid)
        override = kind == QEvent.Type.ShortcutOverride and watched is self.query
        if override and event.key() in PICKER_KEYS and not event.modifiers():
            event.accept()
            return True
        if watched is self.query and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            rows = self.model.rowCount()
            row = self.list.currentIndex().row()
            step = {
                Qt.Key.Key_Down: 1,
                Qt.Key.Key_Up: -1,
                Qt.Key.Key_PageDown: 8,
                Qt.Key.Key_PageUp: -8,
            }.get(key)
            if step is not None and rows:
                self._select(max(0, min(rows - 1, row + step)))
                return True
            if key == Qt.Key.Key_Escape:
                self.cancelled.emit()
                return True
        return False

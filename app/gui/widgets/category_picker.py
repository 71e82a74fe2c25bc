"""The category picker: type a few letters, see the best categories, press Enter.

Type-ahead over names, synonyms and definitions with the vocabulary's ranked search
(:class:`pipeline.vocabulary.CategoryIndex`); within a rank the categories most used in
this project come first. Each hit shows its definition and synonyms. Up / Down move,
Enter picks; the last used categories are one key away (Alt+1 ... Alt+9, and an empty
query lists them first). Categories excluded for the current image (rejected, verified
absent, already spotted) stay visible, greyed, and picking one says why instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QRect,
    QSize,
    QStringListModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QKeySequence,
    QPainter,
    QPixmap,
    QShortcut,
)
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

from pipeline.vocabulary import Category, CategoryIndex, narrows, normalize

from ..style import COLORS

RESULT_LIMIT = 60
RECENT_KEYS = 9
HIT_CACHE = 4000  # queries whose hits are kept (cleared when the usage counts change)
ROW_CACHE = 250  # rendered rows kept (250 x 420 x 40 px x 4 bytes: about 17 MB at most)
WARM_QUERIES = tuple("abcdefghijklmnopqrstuvwxyz0123456789")
_WORDS = re.compile(r"[a-z0-9]+")
PICKER_KEYS = (
    Qt.Key.Key_Return,
    Qt.Key.Key_Enter,
    Qt.Key.Key_Escape,
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_PageUp,
    Qt.Key.Key_PageDown,
)


class CategoryModel(QStringListModel):
    """The hits of the current query (a short list: the search stops at RESULT_LIMIT).

    The names live in Qt's own string list, so the view's many row and data queries per
    keystroke stay in C++; the delegate reads the categories from ``hits``.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hits: list[Category] = []
        self.excluded: Mapping[int, str] = {}
        self.recent_ids: list[int] = []

    def set_hits(self, hits: list[Category]) -> None:
        self.hits = hits
        self.setStringList([c.display_name for c in hits])


class CategoryDelegate(QStyledItemDelegate):
    """Two lines a hit: the name (and its Alt+n key if recent) with its synonyms, then the
    definition, elided; an excluded category is greyed with the reason."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fonts: tuple[QFont, QFont, QFontMetrics, QFontMetrics] | None = None
        self._rows: dict[tuple, QPixmap] = {}

    def fonts(self, font: QFont) -> tuple[QFont, QFont, QFontMetrics, QFontMetrics]:
        """The plain and bold fonts and their metrics, made once (a repaint per keystroke)."""
        if self._fonts is None or self._fonts[0] != font:
            bold = QFont(font)
            bold.setBold(True)
            self._fonts = (QFont(font), bold, QFontMetrics(font), QFontMetrics(bold))
        return self._fonts

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        height = self.fonts(option.font)[2].height()
        return QSize(200, 2 * height + 12)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        # A row is drawn once into a pixmap and reused: the same categories come back
        # keystroke after keystroke while the query narrows, and text is slow to draw.
        model: CategoryModel = index.model()
        category: Category = model.hits[index.row()]
        reason = model.excluded.get(category.id)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        recent = model.recent_ids.index(category.id) if category.id in model.recent_ids else -1
        rect = option.rect
        key = (category.id, selected, index.row() % 2, reason, recent, rect.width(), rect.height())
        pixmap = self._rows.get(key)
        if pixmap is None:
            ratio = painter.device().devicePixelRatioF()
            pixmap = QPixmap(rect.size() * ratio)
            pixmap.setDevicePixelRatio(ratio)
            pixmap.fill(QColor(COLORS["base"]))
            row_painter = QPainter(pixmap)
            self._paint_row(row_painter, option, category, reason, selected, recent, index.row())
            row_painter.end()
            if len(self._rows) > ROW_CACHE:
                self._rows.clear()
            self._rows[key] = pixmap
        painter.drawPixmap(rect.topLeft(), pixmap)

    def _paint_row(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        category: Category,
        reason: str | None,
        selected: bool,
        recent: int,
        row: int,
    ) -> None:
        painter.save()
        rect = QRect(0, 0, option.rect.width(), option.rect.height())
        if selected:
            painter.fillRect(rect, QColor(COLORS["accent"]))
        elif row % 2:
            painter.fillRect(rect, QColor(COLORS["alternate"]))
        main = QColor(COLORS["accent_text"] if selected else COLORS["text"])
        muted = QColor("#dfe8fb" if selected else COLORS["muted"])
        if reason:
            main = muted
        inner = rect.adjusted(8, 4, -8, -4)
        plain, bold, metrics, bold_metrics = self.fonts(option.font)
        line = metrics.height()
        painter.setFont(bold)
        painter.setPen(main)
        name = category.display_name
        if recent >= 0:
            name += f"   Alt+{recent + 1}"
        name_width = min(bold_metrics.horizontalAdvance(name) + 4, inner.width())
        top = QRect(inner.left(), inner.top(), inner.width(), line)
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        painter.setFont(plain)
        painter.setPen(muted)
        extra = f"excluded: {reason}" if reason else _synonym_text(category)
        if extra:
            rest = QRect(inner.left() + name_width + 8, inner.top(), inner.width(), line)
            rest.setRight(inner.right())
            elided = metrics.elidedText(extra, Qt.TextElideMode.ElideRight, rest.width())
            painter.drawText(
                rest, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided
            )
        second = QRect(inner.left(), inner.top() + line + 2, inner.width(), line)
        definition = category.definition or "(no definition)"
        elided = metrics.elidedText(definition, Qt.TextElideMode.ElideRight, second.width())
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
        # hits per query for the current usage counts: one-character queries match most
        # of a large vocabulary (the slowest searches), so they are computed in idle time
        self._hits: dict[str, tuple[list[Category], frozenset[int]]] = {}
        self._warm = QTimer(self)
        self._warm.setInterval(0)
        self._warm.timeout.connect(self._warm_one)
        self._to_warm: list[str] = []
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
        self.warm_up()

    # ------------------------------------------------------------ state

    def set_usage(self, usage: Mapping[int, int]) -> None:
        """The project's usage counts (the view reads them when it opens)."""
        self.usage = dict(usage)
        self._hits.clear()
        self.search(self.query.text())
        self.warm_up()

    def warm_up(self) -> None:
        """Compute the broadest queries while the event loop is idle: every single
        character, then the first two letters of each word of a name or synonym (what
        an annotator types first); longer queries are quick on their own."""
        queries = list(WARM_QUERIES) + self._two_letter_starts()
        # popped from the end: single characters first
        self._to_warm = [q for q in reversed(queries) if q not in self._hits]
        self._warm.start()

    def _two_letter_starts(self) -> list[str]:
        starts: dict[str, None] = {}
        for category in self._by_id.values():
            for label in (category.name, *category.synonyms):
                for word in _WORDS.findall(label.lower().replace("_", " ")):
                    if len(word) >= 2:
                        starts.setdefault(word[:2], None)
        return list(starts)

    def _warm_one(self) -> None:
        while self._to_warm:
            query = self._to_warm.pop()
            if query not in self._hits:
                self._ranked(query)
                return  # one search a tick: typing never waits for more than one
        self._warm.stop()

    def _ranked(self, text: str) -> list[Category]:
        """The best hits of ``text``. Type-ahead narrows: the query typed so far was
        searched already, and the new one is ranked among its matches only (exactly the
        same result, see ``vocabulary.narrows``)."""
        key = normalize(text)
        found = self._hits.get(key)
        if found is None:
            among = None
            for end in range(len(key) - 1, 0, -1):
                prefix = self._hits.get(key[:end])
                if prefix is not None and narrows(key[:end], key):
                    among = prefix[1]
                    break
            every = self.index.search(key, limit=None, usage=self.usage, among=among)
            found = (every[:RESULT_LIMIT], frozenset(c.id for c in every))
            if len(self._hits) > HIT_CACHE:
                self._hits.clear()
            self._hits[key] = found
        return found[0]

    def set_excluded(self, reasons: Mapping[int, str]) -> None:
        """Categories that may not be picked now, each with the reason shown."""
        self.model.excluded = dict(reasons)
        self.search(self.query.text())

    def note_used(self, category_id: int) -> None:
        """A category was just used: it becomes Alt+1 (the project's usage counts are
        read again when the view opens the next time)."""
        self.recent = [category_id, *[c for c in self.recent if c != category_id]][:RECENT_KEYS]
        self._show_recent()

    def reset(self, *, focus: bool = True) -> None:
        """An empty query, the recent categories on top, the focus in the query (unless
        ``focus`` is False: a new item resets the picker before anything was clicked)."""
        self.message.clear()
        if self.query.text():
            self.query.clear()
        else:
            self.search("")
        if focus:
            self.query.setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------ search

    def search(self, text: str) -> list[Category]:
        """Show the hits of ``text`` (best first) and select the first."""
        hits = self._ranked(text)
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

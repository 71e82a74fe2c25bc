"""The category picker: type a few letters, see the best categories, press Enter.

Type-ahead over names, synonyms and definitions with the vocabulary's ranked search
(:class:`pipeline.vocabulary.CategoryIndex`); within a rank the categories most used in
this project come first. Each hit shows its definition and synonyms. Up / Down move,
Enter picks; the last used categories are one key away (Alt+1 ... Alt+9, and an empty
query lists them first). Categories excluded for the current image (rejected, verified
absent, already spotted) stay visible, greyed, and picking one says why instead; with
nothing typed, the categories that can be picked are listed before them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
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
    QKeyEvent,
    QKeySequence,
    QPainter,
    QShortcut,
    QStaticText,
    QTransform,
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
ROWS_PER_TICK = 8  # rows laid out per idle tick (about 0.2 ms each)
WIDTHS_KEPT = 2  # list widths whose laid-out rows are kept
MARGIN = 8  # a row's text starts this far from its left and right edges
SELECTED_MUTED = "#dfe8fb"  # the muted text on the selected row's accent
HIT_CACHE = 4000  # queries whose hits are kept (cleared when the usage counts change)
WARM_QUERIES = tuple("abcdefghijklmnopqrstuvwxyz0123456789")
SCROLL_BAR_STYLE = f"""
QScrollBar:vertical {{ background: {COLORS["base"]}; width: 10px; margin: 0; border: none; }}
QScrollBar::handle:vertical {{
    background: {COLORS["border"]}; min-height: 24px; margin: 0 2px; border-radius: 3px;
}}
QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical {{ height: 0; border: none; }}
QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical {{ background: none; }}
"""
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


def _stored_id(category: Category) -> int:
    """A listed category's id: the picker lists the project's categories, all stored."""
    assert category.id is not None, category.name
    return category.id


class CategoryModel(QStringListModel):
    """The hits of the current query (a short list: the search stops at RESULT_LIMIT).

    The names live in Qt's own string list, so the view's many row and data queries per
    keystroke stay in C++; the delegate reads the categories from ``hits``. A new list
    changes only the rows that differ: the view repaints those rows, not the whole list
    (while a query narrows, the top hits mostly stay).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hits: list[Category] = []
        self.excluded: Mapping[int, str] = {}
        self.recent_ids: list[int] = []
        self._drawn_state: tuple = ((), ())

    def set_hits(self, hits: list[Category]) -> None:
        old = self.hits
        self.hits = hits
        if len(hits) < len(old):
            self.removeRows(len(hits), len(old) - len(hits))
        elif len(hits) > len(old):
            self.insertRows(len(old), len(hits) - len(old))
        for row, category in enumerate(hits):
            if row < len(old) and old[row] is category:
                continue  # the same row: not signalled, not repainted
            index = self.index(row)
            if self.data(index) == category.display_name:
                self.dataChanged.emit(index, index)  # another category of the same name
            else:
                self.setData(index, category.display_name)  # signals the row
        # what else a row shows: the exclusion reasons and the Alt+n keys
        state = (tuple(sorted(self.excluded.items())), tuple(self.recent_ids))
        if state != self._drawn_state and hits:
            self._drawn_state = state
            self.dataChanged.emit(self.index(0), self.index(len(hits) - 1))


@dataclass(frozen=True)
class RowText:
    """A category's row, laid out once for one list width: the bold name, its synonyms
    elided to the room left beside it, the definition elided to the width."""

    name: QStaticText
    name_width: int
    synonyms: QStaticText | None
    definition: QStaticText


class CategoryDelegate(QStyledItemDelegate):
    """Two lines a hit: the name (and its Alt+n key if recent) with its synonyms, then the
    definition, elided; an excluded category is greyed with the reason."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fonts: tuple[QFont, QFont, QFontMetrics, QFontMetrics] | None = None
        # laying text out (shaping, eliding) is most of a row's cost, and a laid-out row
        # is drawn in a few microseconds: rows are laid out once per list width (the
        # last two are kept, as across a resize and back), most of them in idle time
        # before they are first shown (see CategoryPicker.warm_up)
        self._texts: dict[tuple[int, float], dict[int | None, RowText]] = {}

    def fonts(self, font: QFont) -> tuple[QFont, QFont, QFontMetrics, QFontMetrics]:
        """The plain and bold fonts and their metrics, made once (a repaint per keystroke)."""
        if self._fonts is None or self._fonts[0] != font:
            bold = QFont(font)
            bold.setBold(True)
            self._fonts = (QFont(font), bold, QFontMetrics(font), QFontMetrics(bold))
            self._texts.clear()
        return self._fonts

    def sizeHint(  # noqa: N802 (Qt's name)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        height = self.fonts(option.font)[2].height()
        return QSize(200, 2 * height + 12)

    def row_text(self, category: Category, font: QFont, width: int, ratio: float) -> RowText:
        """The row of ``category`` laid out for a row ``width`` pixels wide on a screen of
        ``ratio`` device pixels per pixel."""
        fonts = self.fonts(font)
        texts = self._texts_for(width, ratio)
        text = texts.get(category.id)
        if text is None:
            text = texts[category.id] = _lay_out(category, fonts, width - 2 * MARGIN, ratio)
        return text

    def lay_out_ahead(
        self, todo: list[Category], font: QFont, width: int, ratio: float, count: int
    ) -> None:
        """Lay out the rows of up to ``count`` categories not laid out yet, taken from
        the end of ``todo`` (those already laid out are dropped from it for free)."""
        fonts = self.fonts(font)
        texts = self._texts_for(width, ratio)
        while todo and count > 0:
            category = todo.pop()
            if category.id not in texts:
                texts[category.id] = _lay_out(category, fonts, width - 2 * MARGIN, ratio)
                count -= 1

    def _texts_for(self, width: int, ratio: float) -> dict[int | None, RowText]:
        texts = self._texts.get((width, ratio))
        if texts is None:
            while len(self._texts) >= WIDTHS_KEPT:
                del self._texts[next(iter(self._texts))]  # the oldest width
            texts = self._texts[width, ratio] = {}
        return texts

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        # a dozen rows a keystroke: the colours are made once, the text laid out ahead
        model = index.model()
        assert isinstance(model, CategoryModel)  # the picker's list shows its own model
        row = index.row()
        category: Category = model.hits[row]
        reason = model.excluded.get(_stored_id(category))
        selected = bool(option.state & SELECTED)
        rect = option.rect
        painter.fillRect(rect, _PAINT.accent if selected else _PAINT.background[row % 2])
        muted = _PAINT.selected_muted if selected else _PAINT.muted
        font = option.font
        text = self.row_text(category, font, rect.width(), painter.device().devicePixelRatioF())
        fonts = self.fonts(font)  # made by row_text for this font
        plain, bold, metrics, bold_metrics = fonts
        left, top = rect.left() + MARGIN, rect.top() + 4
        painter.setFont(bold)
        painter.setPen(muted if reason else _PAINT.selected_text if selected else _PAINT.text)
        if category.id in model.recent_ids or reason:
            # at most nine recent rows (on the empty query) and the few excluded ones:
            # drawn as they are
            self._paint_name_as_is(painter, fonts, model, category, reason, muted, left, top, rect)
        else:
            painter.drawStaticText(left, top, text.name)
            painter.setFont(plain)
            painter.setPen(muted)
            if text.synonyms is not None:
                painter.drawStaticText(left + text.name_width + 8, top, text.synonyms)
        painter.drawStaticText(left, top + metrics.height() + 2, text.definition)

    def _paint_name_as_is(
        self,
        painter: QPainter,
        fonts: tuple[QFont, QFont, QFontMetrics, QFontMetrics],
        model: CategoryModel,
        category: Category,
        reason: str | None,
        muted: QColor,
        left: int,
        top: int,
        rect: QRect,
    ) -> None:
        plain, bold, metrics, bold_metrics = fonts
        width, line = rect.width() - 2 * MARGIN, metrics.height()
        name = category.display_name
        if category.id in model.recent_ids:
            name += f"   Alt+{model.recent_ids.index(category.id) + 1}"
        name_width = min(bold_metrics.horizontalAdvance(name) + 4, width)
        painter.drawText(QRect(left, top, width, line), Qt.AlignmentFlag.AlignLeft, name)
        painter.setFont(plain)
        painter.setPen(muted)
        extra = f"excluded: {reason}" if reason else _synonym_text(category)
        room = QRect(left + name_width + 8, top, width - name_width - 8, line)
        elided = metrics.elidedText(extra, Qt.TextElideMode.ElideRight, room.width())
        painter.drawText(room, Qt.AlignmentFlag.AlignLeft, elided)


class _Paint:
    """The row colours, made once (``COLORS`` names them)."""

    def __init__(self) -> None:
        self.background = (QColor(COLORS["base"]), QColor(COLORS["alternate"]))
        self.accent = QColor(COLORS["accent"])
        self.text = QColor(COLORS["text"])
        self.selected_text = QColor(COLORS["accent_text"])
        self.muted = QColor(COLORS["muted"])
        self.selected_muted = QColor(SELECTED_MUTED)


_PAINT = _Paint()
SELECTED = QStyle.StateFlag.State_Selected


def _lay_out(
    category: Category,
    fonts: tuple[QFont, QFont, QFontMetrics, QFontMetrics],
    width: int,
    ratio: float,
) -> RowText:
    """The row's texts for ``width`` pixels of text, prepared for the screen's ``ratio``
    (a text prepared for another scale is laid out again when drawn)."""
    plain, bold, metrics, bold_metrics = fonts
    scale = QTransform.fromScale(ratio, ratio)
    name = category.display_name
    name_width = min(bold_metrics.horizontalAdvance(name) + 4, width)
    synonyms = _synonym_text(category)
    room = width - name_width - 8
    definition = category.definition or "(no definition)"
    return RowText(
        name=_static(name, bold, scale),
        name_width=name_width,
        synonyms=(
            _static(metrics.elidedText(synonyms, Qt.TextElideMode.ElideRight, room), plain, scale)
            if synonyms and room > 0
            else None
        ),
        definition=_static(
            metrics.elidedText(definition, Qt.TextElideMode.ElideRight, width), plain, scale
        ),
    )


def _static(text: str, font: QFont, scale: QTransform) -> QStaticText:
    static = QStaticText(text)
    static.setTextFormat(Qt.TextFormat.PlainText)
    static.prepare(scale, font)
    return static


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
        self._hits: dict[str, tuple[list[Category], frozenset[int | None]]] = {}
        self._warm = QTimer(self)
        self._warm.setInterval(0)
        self._warm.timeout.connect(self._warm_one)
        self._to_warm: list[str] = []
        self._to_lay_out: list[Category] = []
        self._by_usage: list[Category] = []
        self._by_id = {c.id: c for c in self.index.search("", limit=None)}

        self.query = QLineEdit(self)
        self.query.setPlaceholderText("Type a name, synonym or words of a definition")
        self.query.setClearButtonEnabled(True)
        self.model = CategoryModel(self)
        self.list = QListView(self)
        self.list.setModel(self.model)
        self.delegate = CategoryDelegate(self.list)
        self.list.setItemDelegate(self.delegate)
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # typing stays in the query
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The number of hits changes with most keystrokes, and so does the scroll bar:
        # a flat one repaints in microseconds where Fusion's takes milliseconds, and one
        # always there keeps the rows' width (a scroll bar coming and going would lay
        # the list out again).
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.list.verticalScrollBar().setStyleSheet(SCROLL_BAR_STYLE)
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
        self.list.viewport().installEventFilter(self)
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
        """Work ahead while the event loop is idle: rank the broadest queries (every
        single character, then the first two letters of each word of a name or synonym,
        what an annotator types first; longer queries are quick on their own), then lay
        out every category's row for the list's width."""
        queries = list(WARM_QUERIES) + self._two_letter_starts()
        # popped from the end: single characters first
        self._to_warm = [q for q in reversed(queries) if q not in self._hits]
        # the least used last, so that the most used are popped first
        self._by_usage = self.index.search("", limit=None, usage=self.usage)[::-1]
        self._lay_out_rows()

    def warming(self) -> bool:
        """Is there work ahead left for idle time?"""
        return self._warm.isActive()

    def _lay_out_rows(self) -> None:
        self._to_lay_out = list(self._by_usage)
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
        # one search or a few rows a tick: a keystroke never waits for more than ~2 ms
        while self._to_warm:
            query = self._to_warm.pop()
            if query not in self._hits:
                self._ranked(query)
                return
        # rows wait for the list to have its width (it is laid out again on a resize)
        if self._to_lay_out and self.list.isVisible():
            self.delegate.lay_out_ahead(
                self._to_lay_out,
                self.list.font(),
                self.list.viewport().width(),
                self.list.devicePixelRatioF(),
                ROWS_PER_TICK,
            )
            return
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
        if not text.strip():
            if self.recent:
                recent = [self._by_id[c] for c in self.recent if c in self._by_id]
                hits = recent + [c for c in hits if c.id not in set(self.recent)]
            # nothing typed: the categories that can be picked come first, the excluded
            # ones (greyed, with their reason) after them; a typed query keeps its ranking
            excluded = self.model.excluded
            hits = [c for c in hits if _stored_id(c) not in excluded] + [
                c for c in hits if _stored_id(c) in excluded
            ]
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
        reason = self.model.excluded.get(_stored_id(category))
        if reason:
            self.message.setText(f"{category.display_name!r} cannot be picked here: {reason}")
            return
        self.message.clear()
        self.note_used(_stored_id(category))
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
        if kind in (QEvent.Type.Resize, QEvent.Type.Show) and watched is self.list.viewport():
            self._lay_out_rows()  # for its width (rows laid out already are kept)
            return False
        # the picker's keys win over a window's shortcuts on the same keys (Enter
        # submits in a stage view, arrows move in a grid)
        if watched is not self.query or not isinstance(event, QKeyEvent):
            return False
        override = kind == QEvent.Type.ShortcutOverride
        if override and event.key() in PICKER_KEYS and not event.modifiers():
            event.accept()
            return True
        if kind == QEvent.Type.KeyPress:
            key = event.key()
            rows = self.model.rowCount()
            row = self.list.currentIndex().row()
            steps: dict[int, int] = {
                Qt.Key.Key_Down: 1,
                Qt.Key.Key_Up: -1,
                Qt.Key.Key_PageDown: 8,
                Qt.Key.Key_PageUp: -8,
            }
            step = steps.get(key)
            if step is not None and rows:
                self._select(max(0, min(rows - 1, row + step)))
                return True
            if key == Qt.Key.Key_Escape:
                self.cancelled.emit()
                return True
        return False

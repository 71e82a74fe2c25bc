"""Stage 4, segment verification: a page of crops, each a mask outline over its context.

The page holds as many crops as the window fits (3 x 4 at a usual size), claimed at
once with one batch claim. Arrows move between crops, ``A`` accepts, ``R`` rejects with
a reason (sloppy boundary, wrong object, several objects, wrong category, other with
free text), ``Shift+A`` accepts every crop not decided yet, ``Enter`` submits the page
once every crop is decided. Each verdict's effort is the time and clicks since the
previous decision on the page.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QMenu,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from pipeline.events import Effort
from pipeline.masks.geometry import Mask
from pipeline.stages import VERIFICATION, StageItem, VerificationItem, VerifyAnswer

from ..canvas.items import category_color, mask_path
from ..style import COLORS
from .base import IMAGES, StageView, image_path, submit_keys

if TYPE_CHECKING:
    from ..session import Session

TILE_MIN = QSize(220, 190)  # a crop smaller than this is too small to judge a boundary
DEFAULT_GRID = (3, 4)  # rows, columns
MAX_PAGE = 24
CONTEXT = 0.35  # the crop shows this much of the mask's size around it, each side

REJECT_REASONS = (
    "sloppy boundary",
    "wrong object",
    "several objects",
    "wrong category",
)
OTHER = "other"


@dataclass
class Tile:
    """One crop of the page and the decision taken on it."""

    item: VerificationItem
    pixmap: QPixmap  # the crop with its outline, rendered once per page
    accept: bool | None = None
    reason: str | None = None
    seconds: float = 0.0
    clicks: int = 0

    @property
    def decided(self) -> bool:
        return self.accept is not None


def crop_window(item: VerificationItem) -> tuple[int, int, int, int]:
    """The part of the image a crop shows: the mask's box with context, at least 64 px."""
    x, y, w, h = item.segment.mask.bbox
    if w <= 0 or h <= 0:
        x, y, w, h = item.instance.box or (0, 0, item.image.width, item.image.height)
    side = max(w, h, 64.0 / (1 + 2 * CONTEXT))
    pad = side * CONTEXT
    x0 = max(0, math.floor(x - pad - (side - w) / 2))
    y0 = max(0, math.floor(y - pad - (side - h) / 2))
    x1 = min(item.image.width, math.ceil(x + w + pad + (side - w) / 2))
    y1 = min(item.image.height, math.ceil(y + h + pad + (side - h) / 2))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def render_crop(
    path: str, item: VerificationItem, size: QSize, others: Sequence[tuple[Mask, int]] = ()
) -> QPixmap:
    """The crop of ``item``'s image scaled into ``size``, its mask outlined and tinted;
    ``others`` (mask, category id): the image's other masks, drawn faintly under it."""
    x0, y0, w, h = crop_window(item)
    image = IMAGES.qimage(path)
    scale = min(size.width() / w, size.height() / h)
    target = QSize(max(1, round(w * scale)), max(1, round(h * scale)))
    pixmap = QPixmap(target)
    pixmap.fill(QColor("#000000"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.drawImage(QRectF(0, 0, target.width(), target.height()), image, QRectF(x0, y0, w, h))
    painter.scale(scale, scale)
    painter.translate(-x0, -y0)
    window = QRectF(x0, y0, w, h)
    for mask, category_id in others:
        bx, by, bw, bh = mask.bbox
        if not window.intersects(QRectF(bx, by, bw, bh)):
            continue
        faint = category_color(category_id)
        other = mask_path(mask)
        faint.setAlpha(45)
        painter.fillPath(other, QBrush(faint))
        faint.setAlpha(120)
        painter.setPen(QPen(faint, 1.0 / scale))
        painter.drawPath(other)
    outline = mask_path(item.segment.mask)
    color = category_color(item.category.id)  # as on every canvas, not all yellow
    fill = QColor(color)
    fill.setAlpha(70)
    painter.fillPath(outline, QBrush(fill))
    halo = QPen(QColor(255, 255, 255, 200), 4.0 / scale)  # dark colours show on dark photos
    painter.setPen(halo)
    painter.drawPath(outline)
    pen = QPen(color, 2.0 / scale)
    pen.setCosmetic(False)
    painter.setPen(pen)
    painter.drawPath(outline)
    painter.end()
    return pixmap


class CropGrid(QWidget):
    """Paints the page's tiles; a click selects one. Keys are the view's actions."""

    tileClicked = Signal(int)
    resized = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tiles: list[Tile] = []
        self.selected = 0
        self.rows, self.columns = DEFAULT_GRID
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(TILE_MIN.width() * 2, TILE_MIN.height())

    def capacity(self) -> tuple[int, int]:
        """Rows and columns the current size fits (DEFAULT_GRID until shown)."""
        if not self.isVisible() or self.width() < TILE_MIN.width():
            return DEFAULT_GRID
        columns = max(1, self.width() // TILE_MIN.width())
        rows = max(1, self.height() // TILE_MIN.height())
        while rows * columns > MAX_PAGE:
            rows -= 1 if rows >= columns else 0
            columns -= 1 if columns > rows else 0
        return rows, columns

    def layout_for(self, count: int) -> tuple[int, int]:
        """Rows and columns for a page of ``count`` crops: within the capacity, the
        layout whose tiles hold the widest 4:3 crop, as most photos are (a short last
        page of a wide window gets 3 x 4 tiles, not 2 rows of tall, narrow ones)."""
        rows, columns = self.capacity()
        count = max(1, count)
        width, height = max(1, self.width()), max(1, self.height())
        best = (rows, columns, -1.0)
        for c in range(1, columns + 1):
            r = math.ceil(count / c)
            if r > rows:
                continue
            room = min(width / c - 8, (height / r - 30) * 4 / 3)  # image_size, as 4:3
            if room > best[2] + 0.5:  # ties: fewer columns, the earlier layout
                best = (r, c, room)
        return best[0], best[1]

    def tile_rect(self, index: int) -> QRect:
        w = self.width() // self.columns
        h = self.height() // max(1, self.rows)
        row, column = divmod(index, self.columns)
        return QRect(column * w, row * h, w, h).adjusted(4, 4, -4, -4)

    def image_size(self) -> QSize:
        rect = self.tile_rect(0)
        return QSize(max(40, rect.width() - 8), max(40, rect.height() - 30))

    def tile_at(self, pos: QPoint) -> int | None:
        for index in range(len(self.tiles)):
            if self.tile_rect(index).contains(pos):
                return index
        return None

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.resized.emit()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        index = self.tile_at(event.position().toPoint())
        if index is not None:
            self.tileClicked.emit(index)
        super().mousePressEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(COLORS["window"]))
        bold = QFont(self.font())
        bold.setBold(True)
        for index, tile in enumerate(self.tiles):
            rect = self.tile_rect(index)
            painter.fillRect(rect, QColor("#202327"))
            image_rect = rect.adjusted(4, 26, -4, -4)
            pix = tile.pixmap
            left = image_rect.left() + (image_rect.width() - pix.width()) // 2
            top = image_rect.top() + (image_rect.height() - pix.height()) // 2
            painter.drawPixmap(left, top, pix)
            # the header: category name, and the decision once taken
            header = QRect(rect.left() + 6, rect.top() + 2, rect.width() - 12, 22)
            painter.setFont(bold)
            painter.setPen(QColor("#ffffff"))
            name = tile.item.category.display_name
            painter.drawText(
                header, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name
            )
            if tile.decided:
                color = QColor(COLORS["ok"] if tile.accept else COLORS["error"])
                text = "accepted" if tile.accept else f"rejected: {tile.reason}"
                painter.setFont(self.font())
                badge = QRect(rect.left() + 4, rect.bottom() - 24, rect.width() - 8, 22)
                painter.fillRect(badge, color)
                painter.setPen(QColor("#ffffff"))
                elided = painter.fontMetrics().elidedText(
                    text, Qt.TextElideMode.ElideRight, badge.width() - 8
                )
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, elided)
                painter.setPen(QPen(color, 3))
                painter.drawRect(rect.adjusted(1, 1, -1, -1))
            if index == self.selected:
                painter.setPen(QPen(QColor(COLORS["accent"]), 4))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(rect.adjusted(-2, -2, 2, 2))
        painter.end()


class VerificationView(StageView[VerificationItem]):
    """Stage 4 (see the module docstring)."""

    stage: ClassVar[int] = VERIFICATION
    item_type = VerificationItem
    title: ClassVar[str] = "Verification"
    page_size: ClassVar[int] = DEFAULT_GRID[0] * DEFAULT_GRID[1]

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.tiles: list[Tile] = []
        self.context_visible = True  # the image's other masks, faintly (Shift+C)
        self._context: dict[int, list[tuple[Mask, int, int]]] = {}
        self._last_mark = time.monotonic()
        self._last_clicks = 0
        area = self.work_area()
        layout = QVBoxLayout(area)
        self.heading = QLabel(area)
        self.heading.setProperty("role", "subtitle")
        self.heading.setWordWrap(True)
        layout.addWidget(self.heading)
        self.grid = CropGrid(area)
        self.toast.anchor = self.grid  # toasts over the crops, not the buttons
        self.grid.tileClicked.connect(self.select)
        # the crops follow the window's size (drawn again once the resizing pauses)
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(120)
        self._resize_timer.timeout.connect(self._redraw_crops)
        self.grid.resized.connect(self._resize_timer.start)
        layout.addWidget(self.grid, 1)
        self.accept_action = self.add_action("Accept", "A", self.accept_selected, "the mask fits")
        self.reject_action = self.add_action(
            "Reject...", "R", self.reject_selected, "the mask is wrong: say why"
        )
        self.accept_rest_action = self.add_action(
            "Accept the rest", "Shift+A", self.accept_rest, "accept every crop not decided yet"
        )
        self.submit_action = self.add_action(
            "Submit page", "Return", self.submit_page, "answer every crop of the page"
        )
        self.submit_action.setShortcuts(submit_keys())
        moves = {
            "Left": (0, -1),
            "Right": (0, 1),
            "Up": (-1, 0),
            "Down": (1, 0),
        }
        for key, (dr, dc) in moves.items():
            self.add_action(
                f"Move {key.lower()}",
                key,
                partial(self.move_selection, dr, dc),
                f"select the crop to the {key.lower()}",
                decision=False,
            )
        layout.addLayout(
            self.button_rows(
                [self.accept_action, self.reject_action, self.accept_rest_action],
                [self.submit_action, self.skip_action, self.take_back_action],
                primary=self.submit_action,
            )
        )

    # ------------------------------------------------------------ claiming a page

    def _claim(self) -> list[StageItem]:
        rows, columns = self.grid.capacity()
        self.grid.rows, self.grid.columns = rows, columns
        return self.session.next_items(self.stage, rows * columns)

    def show_items(self, items: list[VerificationItem]) -> None:
        self.grid.rows, self.grid.columns = self.grid.layout_for(len(items))
        size = self.grid.image_size()
        self._context = self._read_context(items)
        self.tiles = [
            Tile(item, render_crop(image_path(self.session, item), item, size, self._others(item)))
            for item in items
        ]
        self.grid.tiles = self.tiles
        self.grid.selected = 0
        self._last_mark = time.monotonic()
        self._last_clicks = 0
        bar = items[0].quality_bar
        self.heading.setText(
            f"{len(items)} masks to verify. Accept a mask that covers its object as well as "
            f"IoU {bar:g} would; reject a sloppy or wrong one. A accepts, R rejects, "
            "arrows move, Enter submits the page."
        )
        self.grid.update()
        self.grid.setFocus(Qt.FocusReason.OtherFocusReason)

    def _redraw_crops(self) -> None:
        if not self.tiles:
            return
        size = self.grid.image_size()
        for tile in self.tiles:
            path = image_path(self.session, tile.item)
            tile.pixmap = render_crop(path, tile.item, size, self._others(tile.item))
        self.grid.update()

    def _read_context(
        self, items: list[VerificationItem]
    ) -> dict[int, list[tuple[Mask, int, int]]]:
        """The accepted and pending masks of the page's images (one read an image)."""
        found: dict[int, list[tuple[Mask, int, int]]] = {}
        for image_id in dict.fromkeys(item.image.id for item in items):
            summary = self.session.image_summary(image_id)
            found[image_id] = [
                (a.segment.mask, a.instance.category_id, a.instance.id)
                for a, _ in (summary.context_masks() if summary is not None else ())
                if a.segment is not None  # context masks have one
            ]
        return found

    def _others(self, item: VerificationItem) -> list[tuple[Mask, int]]:
        if not self.context_visible:
            return []
        return [
            (mask, category_id)
            for mask, category_id, instance_id in self._context.get(item.image.id, ())
            if instance_id != item.instance.id
        ]

    def set_context_visible(self, visible: bool) -> None:
        """The image panel's context key (Shift+C): the crops show the image's other
        masks faintly, or not."""
        if bool(visible) != self.context_visible:
            self.context_visible = bool(visible)
            self._redraw_crops()

    def clear_item(self) -> None:
        self.tiles = []
        self.grid.tiles = []
        self.grid.update()

    def describe(self, item: StageItem) -> str:
        return f"Stage 4: a page of {len(self.items)} masks to verify"

    # ------------------------------------------------------------ deciding

    def select(self, index: int) -> None:
        if 0 <= index < len(self.tiles):
            moved = index != self.grid.selected
            self.grid.selected = index
            self.grid.update()
            if moved:  # the image panel follows the selected mask's image
                self.show_image_context(self.tiles[index].item.image.id)

    def move_selection(self, rows: int, columns: int) -> None:
        if not self.tiles:
            return
        index = self.grid.selected + rows * self.grid.columns + columns
        self.select(max(0, min(len(self.tiles) - 1, index)))

    def accept_selected(self) -> None:
        self._decide(self.grid.selected, True, None)

    def reject_selected(self) -> None:
        if not self.tiles:
            return
        reason = self.ask_reason()
        if reason:
            self._decide(self.grid.selected, False, reason)

    def ask_reason(self) -> str | None:
        """The reject reason, from a menu at the crop (1-5 or a click); None if dismissed."""
        menu = QMenu(self)
        for number, reason in enumerate((*REJECT_REASONS, OTHER), start=1):
            action = menu.addAction(f"&{number}  {reason}")
            action.setData(reason)
        rect = self.grid.tile_rect(self.grid.selected)
        chosen = menu.exec(self.grid.mapToGlobal(rect.center()))
        if chosen is None:
            return None
        reason = chosen.data()
        if reason == OTHER:
            text, ok = QInputDialog.getText(self, "Reject: other reason", "What is wrong?")
            # the page has the keys again at once: the next key is not lost on the way
            # back from the dialog (issue 18)
            self.window().activateWindow()
            self.grid.setFocus(Qt.FocusReason.OtherFocusReason)
            return f"other: {text.strip()}" if ok and text.strip() else None
        return reason

    def accept_rest(self) -> None:
        for index, tile in enumerate(self.tiles):
            if not tile.decided:
                self._decide(index, True, None, advance=False)

    def _decide(
        self, index: int, accept: bool, reason: str | None, *, advance: bool = True
    ) -> None:
        if not 0 <= index < len(self.tiles):
            return
        tile = self.tiles[index]
        now, clicks = time.monotonic(), self.meter.clicks
        # the time and clicks since the previous decision of the page are this one's
        tile.seconds += now - self._last_mark
        tile.clicks += clicks - self._last_clicks
        self._last_mark, self._last_clicks = now, clicks
        tile.accept, tile.reason = accept, reason
        if advance:
            following = [i for i in range(index + 1, len(self.tiles)) if not self.tiles[i].decided]
            if following:
                self.grid.selected = following[0]
        self.grid.update()

    def submit_page(self) -> None:
        if not self.tiles:
            return
        undecided = [i for i, t in enumerate(self.tiles) if not t.decided]
        if undecided:
            self.select(undecided[0])
            self.toast.show_message(
                f"{len(undecided)} crops are not decided yet: A accepts, R rejects, "
                "Shift+A accepts the rest"
            )
            return
        saved = rejected = 0
        for tile in list(self.tiles):
            answer = VerifyAnswer(bool(tile.accept), tile.reason)
            effort = Effort(round(tile.seconds, 3), tile.clicks)
            if self.submit(tile.item, answer, next_item=False, effort=effort) is not None:
                saved += 1
                rejected += 0 if tile.accept else 1
        self.tiles = []
        self.load_next()
        self.toast.show_message(
            f"{saved} verdicts saved ({rejected} rejected: back to segmentation)"
            if rejected
            else f"{saved} verdicts saved"
        )

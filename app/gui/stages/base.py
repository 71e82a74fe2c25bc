"""What every stage view shares: claiming and holding items, skip, "Take back last
answer", the effort of each answer measured from real events, and the toast.

A stage view takes a :class:`pipeline.stages.StageItem` from the session, shows it,
and builds its answer; the session does the rest (docs/stages-gui.md, docs/architecture.md).
A subclass implements :meth:`StageView.show_item` (and :meth:`StageView.show_items`
for views that work a page of items at once) and calls :meth:`StageView.submit`.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QImage, QKeyEvent, QKeySequence, QMouseEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from pipeline.constants import STAGE_TITLES
from pipeline.errors import ConflictError, LongtailError
from pipeline.events import Effort
from pipeline.images import load_image
from pipeline.stages import StageItem

from ..widgets.toast import Toast

if TYPE_CHECKING:
    from ..session import Session

TAKE_BACK_KEY = "Ctrl+Backspace"


def submit_keys() -> list[QKeySequence]:
    """The keys of a view's submit action: Return, and the keypad's Enter."""
    return [QKeySequence("Return"), QKeySequence("Enter")]


ItemT = TypeVar("ItemT", bound=StageItem)
"""The item class of a view's stage (``SpottingItem`` for the spotting view, ...)."""


# ---------------------------------------------------------------- effort


class EffortMeter(QObject):
    """The effort of one answer, measured from the real events.

    ``duration_s``: seconds from :meth:`start` (the item was shown) to :meth:`effort`.
    ``clicks``: mouse presses inside the view (its popups included), shortcuts of the
    view's decision actions, and presses of ``decision_keys`` (Enter in a list, a digit
    in a menu) in a widget of the view. Counted by an application event filter that is
    installed only while the view is active, so idle views cost nothing.
    """

    def __init__(
        self,
        view: QWidget,
        *,
        decision_keys: Iterable[int] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(view)
        self._view = view
        self._clock = clock
        self._decision_keys = set(decision_keys)
        self._actions: set[QAction] = set()
        self._started: float | None = None
        self._clicks = 0
        self._last_press: tuple[int, Any, int] | None = None
        self._installed = False

    def watch(self, actions: Iterable[QAction]) -> None:
        """Count a triggering shortcut of these actions as one click each."""
        self._actions.update(actions)

    def install(self) -> None:
        app = QApplication.instance()
        if not self._installed and app is not None:
            app.installEventFilter(self)
            self._installed = True

    def uninstall(self) -> None:
        app = QApplication.instance()
        if self._installed and app is not None:
            app.removeEventFilter(self)
            self._installed = False

    def start(self) -> None:
        """The item was shown: time runs from now, clicks from zero."""
        self._started = self._clock()
        self._clicks = 0

    @property
    def clicks(self) -> int:
        return self._clicks

    def effort(self) -> Effort:
        """What the answer cost so far (the meter keeps running until :meth:`start`)."""
        if self._started is None:
            return Effort(None, self._clicks)
        return Effort(round(self._clock() - self._started, 3), self._clicks)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            # PySide6 hands these over as QMouseEvents (and key presses as QKeyEvents)
            if (
                isinstance(event, QMouseEvent)
                and isinstance(watched, QWidget)
                and self._inside(watched)
            ):
                # an ignored press travels up to the parents: count it once
                press = (int(event.timestamp()), event.button(), int(kind.value))
                if press != self._last_press:
                    self._last_press = press
                    self._clicks += 1
        elif kind == QEvent.Type.Shortcut:
            if watched in self._actions:
                self._clicks += 1
        elif (
            kind == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in self._decision_keys
        ):
            # the first receiver of a key is the focus widget (or the open popup)
            first = QApplication.activePopupWidget() or QApplication.focusWidget()
            if watched is first and isinstance(watched, QWidget) and self._inside(watched):
                self._clicks += 1
        return False

    def _inside(self, widget: QWidget | None) -> bool:
        # parentWidget() crosses window borders too, so a popup menu of the view counts
        while widget is not None:
            if widget is self._view:
                return True
            widget = widget.parentWidget()
        return False


# ---------------------------------------------------------------- images


class ImageCache:
    """The last few images, decoded once (RGB arrays and their QImages): the next item on
    the same image, or the previous one after "Take back last answer", shows at once."""

    def __init__(self, capacity: int = 24) -> None:
        self.capacity = capacity
        self._arrays: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qimages: OrderedDict[str, QImage] = OrderedDict()

    def array(self, path: str) -> np.ndarray:
        found = self._arrays.get(path)
        if found is None:
            found = load_image(path)
            self._arrays[path] = found
            while len(self._arrays) > self.capacity:
                self._arrays.popitem(last=False)
        else:
            self._arrays.move_to_end(path)
        return found

    def qimage(self, path: str) -> QImage:
        found = self._qimages.get(path)
        if found is None:
            rgb = np.ascontiguousarray(self.array(path))
            h, w = rgb.shape[:2]
            found = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            self._qimages[path] = found
            while len(self._qimages) > self.capacity:
                self._qimages.popitem(last=False)
        else:
            self._qimages.move_to_end(path)
        return found

    def __contains__(self, path: str) -> bool:
        return path in self._arrays


IMAGES = ImageCache()
"""One cache for every stage view of the process (they show the same images)."""


def image_path(session: Session, item: StageItem) -> str:
    """Where the item's image file is: resolved against the project folder and checked
    against its image roots (an OutsideRootError, shown as a toast, is never opened)."""
    return str(session.image_files.path(item.image.path))


# ---------------------------------------------------------------- the view


class StageView(QWidget, Generic[ItemT]):
    """One stage's work view (docs/stages-gui.md). Subclasses set ``stage``, ``title``
    and ``item_type`` (the stage's item class), build their widgets into
    :meth:`work_area`, and implement :meth:`show_item`."""

    stage: ClassVar[int]
    title: ClassVar[str]
    item_type: type[ItemT]  # what the session hands out for ``stage``
    # how many items the view claims at once (a verification page holds many)
    page_size: ClassVar[int] = 1
    # True: the claimed items are a queue shown one at a time (``items[0]`` is shown);
    # False with page_size > 1: they are shown together as one page
    sequential: ClassVar[bool] = False
    statusMessage = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.items: list[ItemT] = []
        self.active = False
        self._submitting = False
        self.meter = EffortMeter(self, decision_keys=self.decision_keys())
        self._actions: list[QAction] = []

        self._pages = QStackedLayout()
        self._work = QWidget(self)
        self._pages.addWidget(self._work)
        self._empty = self._build_empty_page()
        self._pages.addWidget(self._empty)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self._pages)
        self.toast = Toast(self)

        self.skip_action = self.add_action("Skip", "S", self.skip, "give the item back for later")
        self.take_back_action = self.add_action(
            "Take back last answer", TAKE_BACK_KEY, self.take_back, "answer your last item anew"
        )
        session.toast.connect(self._on_toast)
        session.leaseLost.connect(self._on_lease_lost)
        session.progressChanged.connect(self._on_progress)

    # ------------------------------------------------------------ for subclasses

    def work_area(self) -> QWidget:
        """The widget a subclass lays its item view out in."""
        return self._work

    def decision_keys(self) -> tuple[int, ...]:
        """Keys that make a decision outside the view's actions (counted as clicks)."""
        return (Qt.Key.Key_Return, Qt.Key.Key_Enter)

    def add_action(
        self,
        text: str,
        shortcut: str | QKeySequence | None,
        slot: Callable[[], Any],
        tip: str = "",
        *,
        decision: bool = True,
    ) -> QAction:
        """A stage action with its key (listed in Help -> Keyboard shortcuts); a decision
        action's key counts as a click of the answer's effort."""
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        # Active while this view is shown (the stack hides the other views).
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{text} ({QKeySequence(shortcut).toString()})" if shortcut else text)
        action.triggered.connect(lambda _checked=False: self._guarded(slot))
        self.addAction(action)
        self._actions.append(action)
        if decision:
            self.meter.watch([action])
        return action

    def button(self, action: QAction, *, primary: bool = False) -> QPushButton:
        """A button that triggers ``action`` and names its key; it never takes the focus,
        so the keys keep working on the item."""
        key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        text = action.text().rstrip(".")
        button = QPushButton(f"{text} ({key})" if key else text, self)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.setToolTip(action.statusTip())
        button.clicked.connect(action.trigger)
        if primary:
            button.setProperty("primary", True)
        return button

    def button_column(self, *groups: list[QAction], primary: QAction | None = None) -> QVBoxLayout:
        """One full-width button per action, a little space between the groups: for a
        side panel, where a row of buttons would be cut off."""
        layout = QVBoxLayout()
        layout.setSpacing(4)
        for number, actions in enumerate(groups):
            if number:
                layout.addSpacing(6)
            for action in actions:
                button = self.button(action, primary=action is primary)
                button.setStyleSheet("text-align: left; padding: 5px 10px;")
                layout.addWidget(button)
        return layout

    def button_rows(self, *rows: list[QAction], primary: QAction | None = None) -> QVBoxLayout:
        """Rows of buttons, left-aligned (short rows keep the view narrow)."""
        layout = QVBoxLayout()
        layout.setSpacing(4)
        for actions in rows:
            row = QHBoxLayout()
            for action in actions:
                row.addWidget(self.button(action, primary=action is primary))
            row.addStretch(1)
            layout.addLayout(row)
        return layout

    def actions(self) -> list[QAction]:
        """The view's commands, and its canvas's view keys (F, 1, +, -) where it has
        one: menus and Help -> Keyboard shortcuts list them per stage."""
        canvas = getattr(self, "canvas", None)
        view_keys = (
            canvas.view_actions() if canvas is not None and hasattr(canvas, "view_actions") else []
        )
        return [*self._actions, *view_keys]

    def show_item(self, item: ItemT) -> None:
        """Show one claimed item (views with ``page_size`` 1)."""
        raise NotImplementedError

    def show_items(self, items: list[ItemT]) -> None:
        """Show a page of claimed items; the default shows the first."""
        self.show_item(items[0])

    def clear_item(self) -> None:
        """Forget the shown item(s) (the view goes to its empty state)."""

    # ------------------------------------------------------------ the contract

    def activate(self) -> None:
        """The view became current: resume held items, else claim the next."""
        self.active = True
        self.meter.install()
        if not self.items:
            self.load_next()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def deactivate(self) -> None:
        """Release what the view holds; the items keep their place in the queue."""
        self.active = False
        self.meter.uninstall()
        for item in list(self.items):
            self.session.release(item)
        self.items = []
        self.clear_item()

    # ------------------------------------------------------------ claiming

    def load_next(self) -> bool:
        """Show the next item(s): the session hands out those still held in this stage
        (after a restart or a take-back) before claiming new ones; the empty state when
        the stage has nothing for this annotator."""
        items = self._claim()
        if not items:
            self.items = []
            self.clear_item()
            self.show_image_context(None)
            self._pages.setCurrentWidget(self._empty)
            self._empty_label.setText(self.empty_text())
            self._update_empty_buttons()
            return False
        self._take(items)
        return True

    def empty_text(self) -> str:
        """Why the stage is empty for this annotator and what would open it (the session
        says, ``pipeline.stages.empty``); the page's buttons lead to the work there is."""
        lines = [f"Nothing open in stage {self.stage} ({self.title.lower()}) for you right now."]
        why = getattr(self.session, "why_empty", None)
        self._empty_why = why(self.stage) if callable(why) else None
        if self._empty_why is not None:
            lines.append(self._empty_why.text)
        lines.append("This view looks again as answers open items here.")
        return "\n\n".join(lines)

    def _update_empty_buttons(self, progress: dict | None = None) -> None:
        """The buttons of the empty page: "Go to stage N (k open)", the first other
        stage with work this annotator may do; "Project settings…" where a setting keeps
        this stage empty."""
        progress = progress if progress is not None else getattr(self.session, "last_progress", {})
        window = self.window()
        allowed = getattr(window, "allowed_stages", set(STAGE_TITLES))
        target = next(
            (
                p
                for stage, p in sorted(progress.items())
                if stage != self.stage and stage in allowed and p.open > 0
            ),
            None,
        )
        self._go_stage: int | None = target.stage if target is not None else None
        self._go_button.setVisible(target is not None and hasattr(window, "set_stage"))
        if target is not None:
            self._go_button.setText(
                f"Go to stage {target.stage}: {STAGE_TITLES[target.stage]} ({target.open} open)"
            )
        why = getattr(self, "_empty_why", None)
        self._settings_button.setVisible(
            why is not None and why.setting is not None and hasattr(window, "show_settings")
        )

    def _go_to_work(self) -> None:
        go = getattr(self.window(), "set_stage", None)
        if self._go_stage is not None and callable(go):
            go(self._go_stage)

    def _open_settings(self) -> None:
        show = getattr(self.window(), "show_settings", None)
        if callable(show):
            show()

    def _claim(self) -> list[StageItem]:
        if self.page_size == 1:
            item = self.session.next_item(self.stage)
            return [item] if item is not None else []
        return self.session.next_items(self.stage, self.page_size)

    def _take(self, items: list[StageItem]) -> None:
        self.items = self.order([self._own(item) for item in items])
        self._pages.setCurrentWidget(self._work)
        self._show_current()

    def _own(self, item: StageItem) -> ItemT:
        """A claimed item as the view's kind: the session hands out the items of the
        view's stage, whose class is ``item_type``."""
        assert isinstance(item, self.item_type), f"stage {self.stage} item {item.id}"
        return item

    def order(self, items: list[ItemT]) -> list[ItemT]:
        """The order a claimed batch is worked in (a view may group it, e.g. by image)."""
        return items

    def _show_current(self) -> None:
        try:
            if self.page_size == 1 or self.sequential:
                self.show_item(self.items[0])
            else:
                self.show_items(self.items)
        except LongtailError as exc:  # e.g. the image file went missing: say so, S skips
            self.toast.show_message(f"Cannot show item {self.items[0].id}: {exc} (S skips it)")
        self.meter.start()
        self.statusMessage.emit(self.describe(self.items[0]))
        self.show_image_context(self.items[0].image.id)

    # ------------------------------------------------------------ the image's context

    def context_layer(self) -> Any:
        """The view's :class:`app.gui.canvas.context.ContextLayer` (None: no canvas)."""
        return None

    def context_exclude(self) -> frozenset[int]:
        """Instances the view draws itself (left out of the faint context masks)."""
        return frozenset()

    def set_context_visible(self, visible: bool) -> None:
        """The context key (Shift+C), for a view that draws the context itself; a
        context layer is shown and hidden by the image panel."""

    def show_image_context(self, image_id: int | None) -> None:
        """Read the shown image's summary once: its accepted and pending masks go faintly
        under the view's own annotations, and the main window's image panel lists it
        (the item on the canvas, never one claimed ahead; None: nothing shown)."""
        summary = self.session.image_summary(image_id) if image_id is not None else None
        layer = self.context_layer()
        if layer is not None:
            layer.show(summary, self.context_exclude())
        panel = getattr(self.window(), "show_image_summary", None)
        if callable(panel):
            panel(summary, layer)

    def advance(self) -> None:
        """After an answer: the next queued item, else the next claim."""
        if self.items and (self.page_size == 1 or self.sequential):
            self._show_current()
        elif not self.items:
            self.load_next()

    def current_items(self) -> list[ItemT]:
        """What a skip gives back: the shown item, or the whole page."""
        if self.sequential:
            return self.items[:1]
        return list(self.items)

    def describe(self, item: ItemT) -> str:
        return f"Stage {self.stage}: item {item.id} on {item.image.file_name}"

    # ------------------------------------------------------------ answering

    def submit(
        self, item: StageItem, answer: Any, *, next_item: bool = True, effort: Effort | None = None
    ) -> Any:
        """Answer ``item`` with its measured effort (the meter's, unless a page measured
        each item's own); the next item follows unless ``next_item`` is false (a page
        answers item by item). Returns the AnswerResult, or None when the pipeline refused
        the answer (the toast says why)."""
        self._submitting = True
        try:
            result = self.session.answer(item, answer, effort or self.meter.effort())
        except ConflictError as exc:
            # the item is gone (lease lost, decided meanwhile): say so and move on
            self._forget(item)
            self.toast.show_message(f"Not saved: {exc}")
            if next_item:
                self.advance()
            return None
        except LongtailError as exc:
            self.toast.show_message(str(exc))
            return None
        finally:
            self._submitting = False
        self._forget(item)
        if next_item:
            self.advance()
        return result

    def skip(self) -> None:
        """Give the shown item(s) back, behind the rest of the queue."""
        skipped = self.current_items()
        if not skipped:
            return
        effort = self.meter.effort()
        for item in skipped:
            self._forget(item)
            with contextlib.suppress(ConflictError):  # lost meanwhile: nothing to give back
                self.session.skip(item, effort)
        if not self.items:
            self.clear_item()
        self.toast.show_message("Skipped: the item waits behind the others")
        self.advance()

    def take_back(self) -> None:
        """Take back this annotator's last answer (the pipeline decides whether it may)."""
        problem = self.session.can_undo()
        if problem:
            self.toast.show_message(f"Cannot take back: {problem}")
            return
        for held in list(self.items):  # make room: the taken-back item comes first
            self.session.release(held)
        self.items = []
        self.clear_item()
        item = self.session.undo_last()  # leased to us again: the session hands it out next
        if item.stage != self.stage:
            # the main window goes to that stage (Session.takenBack), whose view shows it
            self.toast.show_message(
                f"Answer taken back: it waits for you in stage {item.stage} (Ctrl+{item.stage})"
            )
        self.load_next()

    def _forget(self, item: StageItem) -> None:
        self.session.untrack(item)
        self.items = [i for i in self.items if i.id != item.id]

    def _guarded(self, slot: Callable[[], Any]) -> None:
        # a refused action says why instead of raising out of a Qt slot
        try:
            slot()
        except LongtailError as exc:
            self.toast.show_message(str(exc))

    # ------------------------------------------------------------ session signals

    def _on_toast(self, text: str) -> None:
        if self.active:
            self.toast.show_message(text)

    def _on_lease_lost(self, item: StageItem) -> None:
        if self._submitting:
            return  # submit() says why and moves on
        if any(i.id == item.id for i in self.items):
            shown = self.items[0].id == item.id
            self._forget(item)
            self.toast.show_message(f"Item {item.id} is no longer yours (its lease ran out)")
            if not self.items:
                self.clear_item()
                if self.active:
                    self.load_next()
            elif shown and self.sequential:
                self._show_current()

    def _on_progress(self, progress: dict) -> None:
        # the empty view wakes up when other annotators' answers open items here
        if not self.active or self.items:
            return
        self._update_empty_buttons(progress)
        mine = progress.get(self.stage)
        if mine is not None and mine.open > 0:
            QTimer.singleShot(0, self._retry_empty)

    def _retry_empty(self) -> None:
        if self.active and not self.items:
            self.load_next()

    # ------------------------------------------------------------ empty page

    def _build_empty_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        self._empty_label = QLabel(page)
        self._empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty_label.setWordWrap(True)
        self._empty_label.setStyleSheet("font-size: 15px; color: palette(text);")
        layout.addWidget(self._empty_label)
        row = QHBoxLayout()
        row.addStretch(1)
        again = QPushButton("Look again", page)
        again.clicked.connect(self.load_next)
        row.addWidget(again)
        self._go_button = QPushButton(page)
        self._go_button.setProperty("primary", True)
        self._go_button.clicked.connect(self._go_to_work)
        self._go_button.hide()
        row.addWidget(self._go_button)
        self._settings_button = QPushButton("Project settings\u2026", page)
        self._settings_button.clicked.connect(self._open_settings)
        self._settings_button.hide()
        row.addWidget(self._settings_button)
        self._go_stage = None
        self._empty_why = None
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)
        return page

    def showing_empty(self) -> bool:
        return self._pages.currentWidget() is self._empty

"""The main window: wiring only. Menus of actions, the stage switcher, the stage views'
stack, the image dock and the status bar; no stage logic (that is in ``stages/``).

While no project is open it shows the welcome page. Opening a project starts a
:class:`~app.gui.session.Session` and goes to the first stage with open items; scans,
imports, exports and seeding run as jobs (``workers/jobs.py``) with progress and Cancel
in the status bar, and their reports show in a dialog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from pipeline.errors import LongtailError

from . import panels
from . import project_flows as flows
from .project_flows import STAGES
from .welcome import WelcomePage
from .widgets.dialogs import (
    Report,
    ReportDialog,
    ShortcutsDialog,
    ask_annotator_name,
    project_display,
    remember_project,
    store_annotator,
)
from .widgets.image_dock import ImageDock
from .widgets.job_status import JobStatus
from .widgets.stage_placeholder import StagePlaceholder
from .widgets.stage_switcher import TITLES, StageSwitcher
from .workers.jobs import Job, JobOutcome

if TYPE_CHECKING:
    from .session import Session
    from .widgets.dialogs import OpenProjectDialog
    from .widgets.wizard import NewProjectWizard

log = logging.getLogger(__name__)

TAKE_BACK_KEY = "Ctrl+Backspace"
WIDE_PX = 1600  # from this window width the stage switcher is a column, not a row


def load_stage_views() -> dict[int, type]:
    """STAGE_VIEWS from ``app.gui.stages`` (imported when a project opens)."""
    from .stages import STAGE_VIEWS

    return dict(STAGE_VIEWS)


class MainWindow(QMainWindow):
    """See the module docstring."""

    opened = Signal()  # a project is open and its first stage shown
    openFailed = Signal(str)  # a project could not be opened (the report says why)
    jobFinished = Signal(object)  # JobOutcome

    def __init__(
        self, annotator: str, *, remember_annotator: bool = True, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.annotator_name = annotator
        self.remember_annotator = remember_annotator
        self.session: Session | None = None
        self.project_target: str | None = None
        # what opening a project (project_flows) sets: the target it logged in to, the
        # team login and how the status bar names it, and the dialogs it keeps open
        self.project_login_target = ""
        self.login_name: str | None = None
        self.login_label: str | None = None
        self.wizard: NewProjectWizard | None = None
        self.open_dialog: OpenProjectDialog | None = None
        self.views: dict[int, QWidget] = {}
        self.current_stage: int | None = None
        self.job: Job | None = None
        self.last_report: ReportDialog | None = None
        self.panels: dict[str, QWidget] = {}
        self._pending_jobs: list[tuple[Job, Callable[[JobOutcome], None] | None]] = []
        self.setWindowTitle("longtail")
        self.resize(1280, 800)
        geometry = QSettings().value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

        self.undo_group = QUndoGroup(self)
        self.pages = QStackedWidget(self)
        self.welcome = WelcomePage(self)
        self.pages.addWidget(self.welcome)
        self.workspace = QWidget(self)
        work_layout = QHBoxLayout(self.workspace)
        work_layout.setContentsMargins(0, 0, 0, 0)
        work_layout.setSpacing(0)
        self.switcher = StageSwitcher(self.workspace)
        work_layout.addWidget(self.switcher)
        self._work_layout = work_layout
        self.stack = QStackedWidget(self.workspace)
        work_layout.addWidget(self.stack, 1)
        self.pages.addWidget(self.workspace)
        self.setCentralWidget(self.pages)

        self.dock = ImageDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()  # shown once a project is open, at the width it was left
        self.dock.contextToggled.connect(self._context_toggled)

        self.identity_label = QLabel()
        self.identity_label.setObjectName("identity")
        self.job_status = JobStatus(self)
        self.job_status.cancel.clicked.connect(self.cancel_job)
        bar = self.statusBar()
        bar.addPermanentWidget(self.job_status)
        bar.addPermanentWidget(self.identity_label)

        self._build_actions()
        self._build_menus()
        self._update_labels()
        self._update_enabled()

        self.welcome.newProject.connect(self.new_project)
        self.welcome.openProject.connect(self.ask_open_project)
        self.welcome.openDemo.connect(self.open_demo)
        self.welcome.openRecent.connect(self.open_project)
        self.switcher.stageChosen.connect(self.set_stage)

    # ------------------------------------------------------------ layout

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_layout()

    def _fit_layout(self) -> None:
        """Below WIDE_PX the stage switcher is a row above the stage, so that the image
        gets the width (at 1280x800 a column beside it took a sixth of it)."""
        narrow = self.width() < WIDE_PX
        self.switcher.set_horizontal(narrow)
        self._work_layout.setDirection(
            QBoxLayout.Direction.TopToBottom if narrow else QBoxLayout.Direction.LeftToRight
        )

    # ------------------------------------------------------------ actions and menus

    def _action(
        self,
        text: str,
        keys: str | QKeySequence.StandardKey | list[str],
        slot: Callable[[], Any],
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if isinstance(keys, list):
            action.setShortcuts([QKeySequence(k) for k in keys])
        else:
            action.setShortcut(QKeySequence(keys))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: self._guarded(slot))
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.new_action = a("&New project\u2026", "Ctrl+N", self.new_project)
        self.open_action = a("&Open project\u2026", "Ctrl+O", self.ask_open_project)
        self.demo_action = a("Open the &demo project", "Ctrl+Shift+D", self.open_demo)
        self.import_action = a("&Import annotations\u2026", "Ctrl+I", self.ask_import)
        self.export_action = a("&Export\u2026", "Ctrl+E", self.ask_export)
        self.switch_annotator_action = a(
            "Switch &annotator\u2026", "Ctrl+Shift+A", self.switch_annotator
        )
        self.close_project_action = a("&Close project", "Ctrl+W", self.close_project)
        self.settings_action = a("&Settings\u2026", "Ctrl+,", self.show_settings)
        self.settings_action.setStatusTip("The project's rules: self-verification, quotas, ...")
        self.team_action = a("&Team\u2026", "Ctrl+Shift+M", self.show_team)
        self.team_action.setStatusTip("The people of the project and their roles")
        self.quit_action = a("&Quit", "Ctrl+Q", self.close)

        self.undo_action = self.undo_group.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = self.undo_group.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (self.undo_action, self.redo_action):
            self.addAction(action)
        self.history_action = a("&History", "Ctrl+H", self.show_history)
        # Used while the current stage has no view of its own; a view brings its own.
        self.take_back_fallback = a(
            "Take back last answer", TAKE_BACK_KEY, self.take_back_last_answer
        )

        self.stage_actions: dict[int, QAction] = {}
        for stage in STAGES:
            self.stage_actions[stage] = a(
                f"Stage {stage}: {TITLES[stage]}",
                f"Ctrl+{stage}",
                partial(self.set_stage, stage),
            )
        self.refresh_action = a("&Refresh counts", "F5", self.refresh_progress)

        # Not the dock's toggleViewAction(): its text follows the dock's title (the image).
        self.dock_action = a("Image &panel", "Ctrl+Shift+I", self._toggle_dock)
        self.dock_action.setCheckable(True)
        self.dock.visibilityChanged.connect(self.dock_action.setChecked)
        self.statistics_action = a("&Statistics", "Ctrl+Shift+S", self.show_statistics)
        self.explorer_action = a("&Explorer", "Ctrl+Shift+E", self.show_explorer)
        self.train_action = a("&Train\u2026", "Ctrl+Shift+T", self.show_training)
        self.shortcuts_action = a("&Keyboard shortcuts", ["F1", "Ctrl+/"], self.show_shortcuts)
        self.about_action = a("&About longtail", "Ctrl+Shift+F1", self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        for action in (self.new_action, self.open_action, self.demo_action):
            self.file_menu.addAction(action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.import_action)
        self.file_menu.addAction(self.export_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.switch_annotator_action)
        self.file_menu.addAction(self.close_project_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)

        self.edit_menu = bar.addMenu("&Edit")
        self.project_menu = bar.addMenu("&Project")
        self.project_menu.addAction(self.settings_action)
        self.project_menu.addAction(self.team_action)
        self.stage_menu = bar.addMenu("&Stage")
        self.view_menu = bar.addMenu("&View")
        for action in (self.dock_action, self.statistics_action, self.explorer_action):
            self.view_menu.addAction(action)
        self.model_menu = bar.addMenu("&Model")
        self.model_menu.addAction(self.train_action)
        self.help_menu = bar.addMenu("&Help")
        self.help_menu.addAction(self.shortcuts_action)
        self.help_menu.addAction(self.about_action)
        self._fill_edit_menu()
        self._fill_stage_menu()

    def _take_back_action(self) -> QAction:
        view_action = getattr(self.current_view(), "take_back_action", None)
        return view_action if isinstance(view_action, QAction) else self.take_back_fallback

    def _fill_edit_menu(self) -> None:
        """Edit's last entry is the current view's "Take back last answer" (or the
        window's while the stage has no view): only one of them may own the key."""
        wanted = self._take_back_action()
        current = getattr(self, "_edit_take_back", None)
        if current is wanted:
            return
        if current is None:
            for action in (self.undo_action, self.redo_action, self.history_action):
                self.edit_menu.addAction(action)
            self.edit_menu.addSeparator()
        else:
            self.edit_menu.removeAction(current)
        self.edit_menu.addAction(wanted)
        self._edit_take_back = wanted
        # the window's own key is live only while no view brings the command
        self.take_back_fallback.setShortcut(
            QKeySequence(TAKE_BACK_KEY) if wanted is self.take_back_fallback else QKeySequence()
        )

    def _fill_stage_menu(self) -> None:
        """Stage: go to 1-6, refresh, then the current view's own commands."""
        if not getattr(self, "_stage_menu_built", False):
            for action in self.stage_actions.values():
                self.stage_menu.addAction(action)
            self.stage_menu.addAction(self.refresh_action)
            self._stage_separator = self.stage_menu.addSeparator()
            self._stage_menu_built = True
            self._stage_view_actions: list[QAction] = []
        for action in self._stage_view_actions:
            self.stage_menu.removeAction(action)
        take_back = self._take_back_action()
        self._stage_view_actions = [
            x for x in self.view_actions(self.current_view()) if x is not take_back
        ]
        self._stage_separator.setVisible(bool(self._stage_view_actions))
        for action in self._stage_view_actions:
            self.stage_menu.addAction(action)

    def window_action_groups(self) -> list[tuple[str, list[QAction]]]:
        """The window's own commands, by menu (for Help -> Keyboard shortcuts)."""
        menus: list[tuple[str, list[QAction]]] = [
            ("File", self.file_menu.actions()),
            ("Edit", [self.undo_action, self.redo_action, self.history_action]),
            ("Project", self.project_menu.actions()),
            ("Stage", [*self.stage_actions.values(), self.refresh_action]),
            ("View", self.view_menu.actions()),
            ("Model", self.model_menu.actions()),
            ("Help", self.help_menu.actions()),
        ]
        return [(name, [a for a in actions if not a.isSeparator()]) for name, actions in menus]

    @staticmethod
    def view_actions(view: QWidget | None) -> list[QAction]:
        if view is None:
            return []
        actions = view.actions()
        return list(actions) if actions else []

    def action_groups(self) -> list[tuple[str, list[QAction]]]:
        """Every command: the window's, then each stage view's (its take-back included)."""
        groups = self.window_action_groups()
        if not any(self.view_actions(v) for v in self.views.values()):
            groups.append(("Edit", [self.take_back_fallback]))
        for stage, view in sorted(self.views.items()):
            actions = self.view_actions(view)
            if actions:
                title = getattr(view, "title", TITLES[stage])
                groups.append((f"Stage {stage}: {title}", actions))
        return groups

    def _guarded(self, slot: Callable[[], Any]) -> None:
        # A refused command says why in the status bar instead of raising out of a slot.
        try:
            slot()
        except LongtailError as exc:
            self.show_message(str(exc))

    def _update_enabled(self) -> None:
        has_project = self.session is not None
        for action in (
            self.import_action,
            self.export_action,
            self.close_project_action,
            self.refresh_action,
            self.statistics_action,
            self.explorer_action,
            self.train_action,
            self.take_back_fallback,
            self.settings_action,
            self.team_action,
        ):
            action.setEnabled(has_project)
        allowed = getattr(self, "allowed_stages", set(STAGES))
        for stage, action in self.stage_actions.items():
            action.setEnabled(has_project and stage in allowed)

    def _update_labels(self) -> None:
        target = self.project_target
        parts = []
        if target is not None:
            short = project_display(target) if "://" in target else Path(target).name
            parts.append(f"Project: {short}")
            self.identity_label.setToolTip(project_display(target))
        login = self.login_label if target is not None else None
        parts.append(login or f"Annotator: {self.annotator_name}")
        self.identity_label.setText("   \u2502   ".join(parts))
        # QStatusBar lays its permanent widgets out when they are added, not when their
        # text grows: add the label again so that it gets its new width.
        bar = self.statusBar()
        bar.removeWidget(self.identity_label)
        bar.addPermanentWidget(self.identity_label)
        self.identity_label.show()
        title = "longtail"
        if target:
            name = Path(target).name if "://" not in target else project_display(target)
            title = f"{name} \u2014 longtail"
        self.setWindowTitle(title)

    def show_message(self, text: str, ms: int = 6000) -> None:
        self.statusBar().showMessage(text, ms)

    def project_name(self) -> str:
        """The open project as window titles name it (its folder, or its URL)."""
        target = self.project_target or ""
        return project_display(target) if "://" in target else Path(target).name

    # ------------------------------------------------------------ projects

    def new_project(self) -> None:
        flows.new_project(self)

    def create_project(self, plan: Any) -> None:
        """Run a wizard's plan: create and scan, then import (if asked), then open."""
        flows.create_project(self, plan)

    def ask_open_project(self) -> None:
        flows.ask_open_project(self)

    def open_demo(self) -> None:
        flows.open_demo(self)

    def open_project(self, target: str, *, ask: bool = True) -> bool:
        """Open ``target`` (a folder or a database URL) for this annotator (the open
        project is closed first; ``ask``: ask before stopping a running training)."""
        target = str(target)
        if self.session is not None and not self.close_project(ask=ask):
            return False
        session = flows.start_session(self, target)
        if session is None:
            return False
        target = self.project_login_target  # a team project: the URL naming the login
        self.session = session
        self.project_target = target
        remember_project(target)
        session.progressChanged.connect(self.switcher.set_progress)
        session.itemClaimed.connect(self._on_item_claimed)
        session.takenBack.connect(self._on_taken_back)
        session.toast.connect(self.show_message)
        self._build_views()
        self._apply_roles()
        self.pages.setCurrentWidget(self.workspace)
        self.dock.show()
        width = QSettings().value("window/image_panel_width")
        if width is not None:  # once the dock is laid out (a resize before is undone)
            QTimer.singleShot(
                0, lambda: self.resizeDocks([self.dock], [int(width)], Qt.Orientation.Horizontal)
            )
        self._update_labels()
        self._update_enabled()
        flows.start_work(self, session)
        return True

    def _apply_roles(self) -> None:
        """Grey out the stages this annotator's role may not work."""
        assert self.session is not None
        self.allowed_stages = flows.allowed_stages(self.session)
        for stage in STAGES:
            allowed = stage in self.allowed_stages
            self.switcher.buttons[stage].setEnabled(allowed)
            self.stage_actions[stage].setEnabled(allowed)
            if not allowed:
                self.switcher.buttons[stage].setToolTip(
                    f"Stage {stage}: {TITLES[stage]} needs a higher role than yours"
                )

    def ask_password(self, url: str) -> str | None:
        return flows.ask_password(self, url)

    def _enter_first_stage(self) -> None:
        if self.session is None:
            return
        allowed = getattr(self, "allowed_stages", set(STAGES))
        first, resumed = flows.first_stage(self.session, allowed)
        self.set_stage(first)
        why = "your work in progress" if resumed else "the first with open items"
        self.show_message(
            f"Opened {project_display(self.project_target or '')}: stage {first} "
            f"({TITLES[first]}), {why}"
        )
        self.opened.emit()

    def close_project(self, *, ask: bool = True) -> bool:
        """Release what the views hold, close the project's panels (Statistics, Explorer,
        Train) and workers, and go back to the welcome page. False: a training run is
        going and the user chose to keep it (``ask``: ask first)."""
        if self.session is None:
            return True
        if ask and not panels.stop_training_to_quit(self, "close the project"):
            return False
        if self.job is not None:  # it may be working on this project
            self._pending_jobs.clear()
            self.job.cancel()
            self.job.wait(30000)
        self._deactivate_current()
        panels.close_project_panels(self)
        self._detach_view_actions()
        for view in self.views.values():
            self.stack.removeWidget(view)
            view.deleteLater()
        self.views = {}
        self.current_stage = None
        session, self.session = self.session, None
        session.close()
        session.project.close()
        session.deleteLater()
        self.project_target = None
        self.dock.clear()
        self.dock.hide()
        self.switcher.set_progress({})
        self.allowed_stages = set(STAGES)
        for button in self.switcher.buttons.values():
            button.setEnabled(True)
        self.welcome.refresh()
        self.pages.setCurrentWidget(self.welcome)
        self._update_labels()
        self._update_enabled()
        return True

    def _detach_view_actions(self) -> None:
        """The views are about to be freed: their commands leave the Edit and Stage
        menus first (the window's own "Take back last answer" comes back)."""
        current = getattr(self, "_edit_take_back", None)
        if current is not None and current is not self.take_back_fallback:
            self.edit_menu.removeAction(current)
            self.edit_menu.addAction(self.take_back_fallback)
            self._edit_take_back = self.take_back_fallback
            self.take_back_fallback.setShortcut(QKeySequence(TAKE_BACK_KEY))
        for action in getattr(self, "_stage_view_actions", []):
            self.stage_menu.removeAction(action)
        self._stage_view_actions = []
        self._stage_separator.setVisible(False)

    def switch_annotator(self) -> None:
        if self.login_name and self.session is not None:
            # a team project: who you are is your database login (decision 0021)
            self.show_message(
                "On a team project you work as your database login: close the project "
                "and open it again to log in as someone else"
            )
            return
        name = ask_annotator_name(self, self.annotator_name)
        if not name or name == self.annotator_name:
            return
        self.set_annotator(name)

    def set_annotator(self, name: str) -> None:
        """Work as ``name`` from now on (the open project is reopened for them). Nothing
        changes when a training run is going and the user keeps it."""
        target = self.project_target
        if target is not None and not panels.stop_training_to_quit(self, "switch annotator"):
            return
        store_annotator(name)
        self.annotator_name = name
        if target is not None:
            self.open_project(target, ask=False)  # asked above
        self._update_labels()

    # ------------------------------------------------------------ stages

    def _build_views(self) -> None:
        assert self.session is not None
        classes = load_stage_views()
        for stage in STAGES:
            view: QWidget
            cls = classes.get(stage)
            if cls is None:
                view = StagePlaceholder(stage)
            else:
                try:
                    view = cls(self.session, self.stack)
                except Exception as exc:  # one broken view must not close the window
                    log.exception("stage %s view failed", stage)
                    view = StagePlaceholder(stage, f"This stage's view failed to start: {exc}")
            message = getattr(view, "statusMessage", None)
            if message is not None:
                message.connect(self.show_message)
            changed = getattr(view, "undoStackChanged", None)
            if changed is not None:
                changed.connect(self._bind_undo_stack)
            self.views[stage] = view
            self.stack.addWidget(view)

    def current_view(self) -> QWidget | None:
        return self.views.get(self.current_stage) if self.current_stage else None

    def _deactivate_current(self) -> None:
        view = self.current_view()
        if view is not None and hasattr(view, "deactivate"):
            try:
                view.deactivate()
            except LongtailError as exc:
                self.show_message(str(exc))

    def set_stage(self, stage: int, *, restart: bool = False) -> None:
        """Show stage ``stage``'s view and activate it (``restart``: even when it is the
        current one, so that it picks up an item taken back)."""
        if self.session is None or stage not in self.views:
            return
        if stage not in getattr(self, "allowed_stages", set(STAGES)):
            self.show_message(f"Stage {stage} ({TITLES[stage]}) needs a higher role than yours")
            return
        if stage != self.current_stage or restart:
            self._deactivate_current()
            self.statusBar().clearMessage()  # the last stage's line is not this one's
            self.current_stage = stage
            view = self.views[stage]
            self.stack.setCurrentWidget(view)
            self.switcher.set_current(stage)
            self.dock.clear()
            if hasattr(view, "activate"):
                try:
                    view.activate()
                except LongtailError as exc:
                    self.show_message(str(exc))
            self.session.refresh_progress()  # the view's claim changed the counts
            self._bind_undo_stack(self._view_undo_stack(view))
            self._fill_edit_menu()
            self._fill_stage_menu()
        self.switcher.set_current(stage)

    @staticmethod
    def _view_undo_stack(view: QWidget) -> Any:
        getter = getattr(view, "undo_stack", None)
        return getter() if callable(getter) else None

    def _bind_undo_stack(self, stack: Any) -> None:
        """Edit -> Undo / Redo / History act on the current view's current undo stack."""
        if stack is None:
            # Qt takes a null stack (none active); the stub asks for a QUndoStack
            self.undo_group.setActiveStack(None)  # type: ignore[arg-type]
            return
        if stack not in self.undo_group.stacks():
            self.undo_group.addStack(stack)
        self.undo_group.setActiveStack(stack)

    def _toggle_dock(self) -> None:
        self.dock.setVisible(not self.dock.isVisible())

    def refresh_progress(self) -> None:
        if self.session is not None:
            self.session.refresh_progress()

    def take_back_last_answer(self) -> None:
        """Take back the annotator's last answer and show its item in its stage."""
        if self.session is None:
            return
        problem = self.session.can_undo()
        if problem:
            self.show_message(f"Cannot take back: {problem}")
            return
        self.session.undo_last()  # takenBack shows the item in its stage

    def _on_taken_back(self, item: Any) -> None:
        """An answer was taken back (from the menu or a view): go to its stage, where
        the view's next claim hands the item out again. Queued, so that a view that took
        it back finishes its own step first."""
        if item.stage != self.current_stage:
            QTimer.singleShot(0, lambda: self.set_stage(item.stage))

    def _on_item_claimed(self, item: Any) -> None:
        """A claim is not what the canvas shows (a view claims ahead): the image panel
        follows the views' ``show_image_summary`` instead."""

    def show_image_annotations(self, image_id: int) -> None:
        """Fill the side dock with the image's categories and instances."""
        if self.session is not None:
            self.dock.show_image(self.session, image_id)

    def _context_toggled(self, visible: bool) -> None:
        """Shift+C for views that draw the context themselves (stage 4's crops)."""
        for view in getattr(self, "views", {}).values():
            setter = getattr(view, "set_context_visible", None)
            if callable(setter):
                setter(visible)

    def show_image_summary(self, summary: Any, layer: Any = None) -> None:
        """The shown item's image (``pipeline.explorer.ImageSummary``, None: nothing
        shown) and the view's context masks, for the image panel (views call it)."""
        self.dock.show_summary(summary, layer, self.session)

    # ------------------------------------------------------------ jobs

    def run_job(
        self,
        job: Job,
        then: Callable[[JobOutcome], None] | None = None,
        *,
        report: bool = True,
    ) -> Job:
        """Run ``job`` on a worker thread (one at a time: later ones wait their turn),
        with progress and Cancel in the status bar; ``then`` gets the outcome."""

        def finished(outcome: JobOutcome) -> None:
            self.job = None
            self.job_status.hide()
            if outcome.cancelled:
                self.show_message(outcome.report.summary)
            elif report:
                self.show_report(outcome.report)
            if self.session is not None:
                self.session.refresh_progress()
            if then is not None and not outcome.cancelled:
                then(outcome)
            self.jobFinished.emit(outcome)
            if self._pending_jobs and self.job is None:
                self.run_job(*self._pending_jobs.pop(0))

        if self.job is not None:
            self._pending_jobs.append((job, then))
            return job
        job.setParent(self)
        self.job = job
        job.progress.connect(self.job_status.update_progress)
        job.finished.connect(finished)
        self.job_status.start(job.title)
        job.start()
        return job

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job_status.cancel.setEnabled(False)
            self.job_status.label.setText(f"{self.job.title}: cancelling\u2026")

    def show_report(self, report: Report) -> ReportDialog:
        """A job's report in a dialog (window-modal, so the event loop keeps running)."""
        dialog = ReportDialog(report, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_report = dialog
        dialog.open()
        return dialog

    def ask_import(self) -> None:
        flows.ask_import(self)

    def import_annotations(
        self, file: str, fmt: str, *, images_root: str | None = None, lenient: bool = False
    ) -> Job:
        """Import into the open project on a worker; a refusal changes nothing."""
        return flows.import_annotations(self, file, fmt, images_root=images_root, lenient=lenient)

    def ask_export(self) -> None:
        flows.ask_export(self)

    # ------------------------------------------------------------ panels

    def show_history(self) -> None:
        panels.show_history(self)

    def _open_panel(self, key: str, module: str, cls: str, *args: Any) -> QWidget | None:
        return panels.open_panel(self, key, module, cls, *args)

    def show_statistics(self) -> None:
        if self.session is not None:
            self._open_panel(
                "statistics",
                "app.gui.widgets.statistics_view",
                "StatisticsView",
                self.session.project,
            )

    def show_explorer(self) -> None:
        if self.session is not None:
            self._open_panel("explorer", "app.gui.widgets.explorer", "ExplorerView", self.session)

    def show_training(self) -> None:
        if self.session is not None:
            new = "training" not in self.panels
            panel = self._open_panel(
                "training", "app.gui.widgets.training_panel", "TrainingPanel", self.session.project
            )
            if new and panel is not None and hasattr(panel, "modelInUseChanged"):
                panel.modelInUseChanged.connect(self._on_model_in_use_changed)

    def _on_model_in_use_changed(self, _model_id: int) -> None:
        """ "Use this model": the next prompt builds the predictor of the new model."""
        if self.session is not None:
            self.session.drop_model_worker()

    def show_team(self) -> None:
        """Project -> Team…: list the people, add one, change a role (the database, or on
        SQLite the roles' rules, refuse it to a non-admin)."""
        if self.session is None:
            return
        from .widgets.team_dialog import TeamDialog

        dialog = TeamDialog(self.session.project, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.team_dialog = dialog
        dialog.open()

    def show_settings(self) -> None:
        """Project -> Settings…: change the project's rules (admins, or anyone while the
        project has no admin); the stages follow at once."""
        if self.session is None:
            return
        from .widgets.settings_dialog import SettingsDialog

        editable, why_not = flows.settings_permission(self.session)
        dialog = SettingsDialog(self.session, self, editable=editable, why_not=why_not)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.settings_dialog = dialog
        dialog.accepted.connect(lambda: self._settings_saved(dialog.saved))
        dialog.open()

    def _settings_saved(self, saved: Any) -> None:
        if saved is None or self.session is None:
            return
        self._apply_roles()  # the verification role may open or close stages
        self.session.refresh_progress()
        from .stages.base import StageView  # loaded with the project's views

        view = self.current_view()
        if isinstance(view, StageView) and view.showing_empty():
            view.load_next()  # e.g. own masks may be verified now
        self.show_message("Project settings saved")

    def show_shortcuts(self) -> None:
        view = self.current_view()
        current = (
            f"Stage {self.current_stage}: {getattr(view, 'title', TITLES[self.current_stage])}"
            if self.current_stage
            else None
        )
        dialog = ShortcutsDialog(self.action_groups(), self, current=current)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.shortcuts_dialog = dialog
        dialog.open()

    def show_about(self) -> None:
        from pipeline import __version__

        QMessageBox.about(
            self,
            "About longtail",
            f"longtail {__version__}\n\nA studio for large-vocabulary instance-segmentation "
            "datasets, labelled the way LVIS was.",
        )

    # ------------------------------------------------------------ closing

    def training_running(self) -> bool:
        return panels.training_running(self)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not panels.stop_training_to_quit(self):
            event.ignore()
            return
        self._pending_jobs.clear()
        if self.job is not None:
            job = self.job
            job.cancel()
            job.wait(30000)
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        if self.dock.isVisible():  # the panel's width while a project was open
            settings.setValue("window/image_panel_width", self.dock.width())
        settings.sync()
        self.close_project(ask=False)  # a training run was stopped above
        super().closeEvent(event)


def menu_actions(menu: QMenu) -> list[QAction]:
    """Every action of a menu and its submenus (tests check the shortcuts list)."""
    found = []
    for action in menu.actions():
        submenu = action.menu()
        if submenu is not None:
            assert isinstance(submenu, QMenu)  # the stub's QObject: a menu's submenu
            found.extend(menu_actions(submenu))
        elif not action.isSeparator():
            found.append(action)
    return found

"""The app's shell: platform check, start-up, welcome page, stage switcher, shortcuts,
jobs, "Take back last answer" and closing (offscreen, real widgets, real keys)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gui_support import open_and_wait
from skips import needs

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, demo_project, window

REPO = Path(__file__).resolve().parents[1]


LDD_WITHOUT_TWO = """\
\tlinux-vdso.so.1 (0x00007ffc)
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f1)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f2)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f3)
"""


# ---------------------------------------------------------------- platform check


def test_missing_xcb_libraries_are_named_with_the_exact_apt_get_line():
    from app.gui.platform_check import install_message, missing_from_ldd, missing_xcb_libraries

    assert missing_from_ldd(LDD_WITHOUT_TWO) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    missing = missing_xcb_libraries(
        ldd=lambda _path: LDD_WITHOUT_TWO, loadable=lambda _name: True, plugin=Path("libqxcb.so")
    )
    message = install_message(missing)
    assert "\n" not in message
    assert message.endswith("sudo apt-get install libxcb-icccm4 libxcb-keysyms1")
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1 are missing" in message


def test_without_ldd_the_runtime_libraries_are_probed_by_loading_them():
    from app.gui.platform_check import install_message, missing_xcb_libraries

    missing = missing_xcb_libraries(
        ldd=lambda _path: None,
        loadable=lambda name: name != "libxcb-cursor.so.0",
        plugin=Path("libqxcb.so"),
    )
    assert missing == ["libxcb-cursor.so.0"]
    assert install_message(missing).endswith("sudo apt-get install libxcb-cursor0")


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libxcb-xinput.so.0", "libxcb-xinput0"),  # not in the table: the naming rule
        ("libfoo2.so.1", "libfoo2-1"),
    ],
)
def test_debian_package_names_follow_the_soname(soname, package):
    from app.gui.platform_check import debian_package

    assert debian_package(soname) == package


def test_no_display_is_said_clearly_with_offscreen_and_xvfb_as_ways_out():
    from app.gui.platform_check import platform_problem

    problem = platform_problem(env={}, platform="linux", missing=lambda: [])
    assert "DISPLAY" in problem and "WAYLAND_DISPLAY" in problem
    assert "QT_QPA_PLATFORM=offscreen" in problem and "xvfb-run" in problem
    # offscreen, wayland and other systems need neither a display nor the xcb libraries
    lacking = ["libxcb-icccm.so.4"]
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", lambda: lacking) is None
    assert platform_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux", lambda: lacking) is None
    assert platform_problem({}, "darwin", lambda: lacking) is None
    assert "apt-get install libxcb-icccm4" in platform_problem(
        {"DISPLAY": ":0"}, "linux", lambda: lacking
    )


def test_gui_command_prints_one_install_line_instead_of_qts_abort(tmp_path: Path):
    # A fake ldd on PATH reports the two libraries this Debian image lacked at first.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ldd"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{LDD_WITHOUT_TWO}EOF\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", DISPLAY=":97")
    env["QT_QPA_PLATFORM"] = "xcb"
    done = subprocess.run(
        [sys.executable, "-m", "app", "gui", "--annotator", "x"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("longtail: error: Qt's xcb platform plugin cannot load")
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in lines[0]


def free_display() -> str:
    """A display number no X server listens on (no socket, no lock file)."""
    for number in range(160, 260):
        if (
            not Path(f"/tmp/.X11-unix/X{number}").exists()
            and not Path(f"/tmp/.X{number}-lock").exists()
        ):
            return f":{number}"
    needs("a free X display number", "stop an X server holding :90-:99")


def test_a_display_nothing_answers_on_is_found_unreachable_before_qt_starts():
    from app.gui.platform_check import display_reachable, platform_problem

    display = free_display()
    reached = display_reachable(display)
    if reached is None:
        needs("libxcb.so.1", "apt-get install libxcb1; .ci/run installs it")
    assert reached is False
    problem = platform_problem({"DISPLAY": display}, "linux", lambda: [])
    assert f"{display!r}" in problem and "cannot be reached" in problem
    assert "xvfb-run" in problem and "QT_QPA_PLATFORM=offscreen" in problem
    # without libxcb nothing can be said about the display: no problem claimed
    assert platform_problem({"DISPLAY": display}, "linux", lambda: [], lambda _d: None) is None
    # missing libraries are named first (they stop Qt whatever the display)
    lacking = ["libxcb-cursor.so.0"]
    assert "apt-get install libxcb-cursor0" in platform_problem(
        {"DISPLAY": display}, "linux", lambda: lacking
    )


def test_gui_command_says_in_one_line_that_the_display_cannot_be_reached(tmp_path: Path):
    from app.gui.platform_check import display_reachable, missing_xcb_libraries

    display = free_display()
    if display_reachable(display) is None or missing_xcb_libraries():
        needs("Qt's xcb libraries", ".ci/run installs them; see its GUI_PACKAGES")
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    done = subprocess.run(
        [sys.executable, "-m", "app", "gui", "--annotator", "x"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"the X display '{display}' (DISPLAY) cannot be reached" in lines[0]
    assert "xcb-cursor" not in done.stderr


def test_gui_db_name_is_the_stores():
    from app.gui.widgets.dialogs import DB_NAME
    from pipeline.store.database import DB_NAME as STORE_DB_NAME

    assert DB_NAME == STORE_DB_NAME


# ---------------------------------------------------------------- start-up


def test_start_up_shows_the_window_on_a_project_without_importing_torch(demo_project, tmp_path):
    script = (
        "import json, os, sys\n"
        "from app.cli import main\n"
        f"code = main(['gui', {str(demo_project)!r}, '--annotator', 'starter'])\n"
        "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules,\n"
        "                  'torchvision': 'torchvision' in sys.modules}))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LONGTAIL_EXIT_AFTER_SHOWN="1")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "torch": False, "torchvision": False}
    assert "longtail: window shown in" in done.stderr


# ---------------------------------------------------------------- welcome, projects


def test_welcome_lists_recent_projects_and_opens_one_with_a_double_click(
    qtbot, window, demo_project, tmp_path
):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.gui.widgets.dialogs import remember_project
    from pipeline.store.database import Project

    other = tmp_path / "other"
    Project.create(other).close()
    gone = tmp_path / "gone"
    for target in (gone, other, demo_project):
        remember_project(str(target))
    window.welcome.refresh()
    assert window.pages.currentWidget() is window.welcome
    assert window.welcome.targets() == [str(demo_project), str(other), str(gone)]
    texts = [window.welcome.recent.item(i).text() for i in range(3)]
    assert texts[2].endswith("(missing)") and not texts[0].endswith("(missing)")

    view = window.welcome.recent
    rect = view.visualItemRect(view.item(0))
    with qtbot.waitSignal(window.opened, timeout=30000):
        # a real double click: press, release, then the double click on the same item
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.pages.currentWidget() is window.workspace
    assert window.project_target == str(demo_project)
    assert window.session is not None and window.session.annotator.name == "tester"


def test_opening_a_bad_folder_shows_why_and_stays_on_the_welcome_page(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.openFailed):
        assert not window.open_project(str(tmp_path / "nothing-here"))
    assert window.session is None
    assert "does not exist" in window.last_report.summary.text()


def test_opening_an_unseeded_project_seeds_it_on_a_worker_and_shows_the_first_open_stage(
    qtbot, window, demo_project
):
    open_and_wait(qtbot, window, demo_project)
    progress = window.session.pipeline.progress()
    assert progress[1].open + progress[1].leased == 5  # the five demo images wait for spotting
    assert window.current_stage == 1
    assert window.switcher.current() == 1


def test_stage_switcher_counts_equal_the_pipelines_progress(qtbot, window, demo_project):
    from pipeline.stages import Pipeline
    from pipeline.store.database import Project

    open_and_wait(qtbot, window, demo_project)
    # another annotator claims an item; the switcher follows on the next refresh
    with Project.open(demo_project) as other:
        assert Pipeline(other).next_item(1, "someone-else") is not None
        window.session.refresh_progress()
        expected = {st: p.open for st, p in Pipeline(other).progress().items()}
    assert window.switcher.open_counts() == expected
    assert "in work" in window.switcher.buttons[1].text()


def test_ctrl_digits_switch_stages(qtbot, window, demo_project):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    open_and_wait(qtbot, window, demo_project)
    for stage in (3, 6, 2, 1):
        QTest.keyClick(window, Qt.Key(Qt.Key.Key_0 + stage), Qt.KeyboardModifier.ControlModifier)
        assert window.current_stage == stage
        assert window.stack.currentWidget() is window.views[stage]
        assert window.switcher.current() == stage


def test_keyboard_shortcuts_help_lists_every_action_with_its_keys(qtbot, window, demo_project):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.gui.main_window import menu_actions

    open_and_wait(qtbot, window, demo_project)
    QTest.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: getattr(window, "shortcuts_dialog", None) is not None)
    rows = window.shortcuts_dialog.rows
    listed = {(command, keys) for _group, command, keys in rows}
    commands = {command for command, _ in listed}
    menu_bar_actions = [
        a
        for menu in window.menuBar().findChildren(type(window.file_menu))
        for a in menu_actions(menu)
    ]
    assert len(menu_bar_actions) > 20
    for action in menu_bar_actions:
        text = action.text().replace("&", "").rstrip("\u2026.")
        assert text in commands, f"{text} missing from the shortcuts help"
        assert not action.shortcut().isEmpty(), f"{text} has no shortcut"
    for view in window.views.values():
        for action in view.actions():
            assert action.text().replace("&", "").rstrip("\u2026.") in commands
    assert ("Keyboard shortcuts", "F1, Ctrl+/") in listed
    assert any(c == "Take back last answer" for c in commands)
    assert not any(c.lower() == "undo last answer" for c in commands)
    window.shortcuts_dialog.close()


def test_take_back_last_answer_returns_the_item_in_its_stage(qtbot, window, demo_project):
    from pipeline.stages import SpotAnswer

    open_and_wait(qtbot, window, demo_project)
    session = window.session
    view = window.views[1]
    held = [i for i in session.pipeline.held(session.annotator, 1)]
    item = held[0] if held else session.next_item(1)
    session.answer(item, SpotAnswer(nothing_new=True))
    if hasattr(view, "items"):  # a real view keeps working on its own item
        view.deactivate()
    window.set_stage(4)
    take_back = window._take_back_action()
    assert take_back.text() == "Take back last answer"
    take_back.trigger()
    qtbot.waitUntil(lambda: window.current_stage == 1)
    assert item.id in {i.id for i in session.pipeline.held(session.annotator, 1)}


def test_closing_the_window_releases_the_items_it_holds(qtbot, window, demo_project):
    from pipeline.stages import Pipeline
    from pipeline.store.database import Project

    open_and_wait(qtbot, window, demo_project)
    window.session.next_item(1)
    assert window.session.held_items()
    window.close()
    with Project.open(demo_project) as project:
        assert Pipeline(project).held("tester") == []


def test_heartbeat_renews_held_leases_and_reports_a_lost_one(qtbot, window, demo_project):
    from pipeline.stages import Pipeline
    from pipeline.store.database import Project

    open_and_wait(qtbot, window, demo_project)
    session = window.session
    item = session.next_item(2) or session.next_item(1)
    before = session.pipeline.item(item.id, session.annotator).lease_expires
    time.sleep(0.02)
    session.renew_held()
    assert session.pipeline.item(item.id, session.annotator).lease_expires > before
    with Project.open(demo_project) as other:
        Pipeline(other).release(item)  # the lease is no longer ours
    with qtbot.waitSignal(session.leaseLost) as lost:
        session.renew_held()
    assert lost.args[0].id == item.id
    assert item.id not in session.held_items()


def test_annotator_name_is_asked_once_and_kept_in_settings(qtbot, settings_sandbox):
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    from app.gui.widgets.dialogs import AnnotatorDialog, ask_annotator_name, stored_annotator

    assert stored_annotator() is None

    def answer(tries: int = 100) -> None:
        dialogs = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, AnnotatorDialog) and w.isVisible()
        ]
        if not dialogs:  # not shown yet: look again (never leave exec() waiting)
            if tries:
                QTimer.singleShot(50, lambda: answer(tries - 1))
            return
        ok = dialogs[0].buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert not ok.isEnabled()  # no name, no OK
        QTest.keyClicks(dialogs[0].name, "alice")
        QTest.keyClick(dialogs[0].name, Qt.Key.Key_Return)
        if dialogs[0].isVisible():
            dialogs[0].reject()

    QTimer.singleShot(50, answer)
    assert ask_annotator_name(None) == "alice"
    assert stored_annotator() == "alice"


# ---------------------------------------------------------------- jobs


def test_a_job_reports_progress_on_the_gui_thread_and_stops_on_cancel(qtbot, window):
    from app.gui.widgets.dialogs import Report
    from app.gui.workers.jobs import Job

    started = threading.Event()
    threads = set()

    def work(progress):
        for done in range(10_000):
            started.set()
            progress(done, 10_000)
            time.sleep(0.001)
        return Report("never", "finished")

    job = Job("Counting", work)
    job.progress.connect(lambda *_: threads.add(threading.get_ident()))
    window.run_job(job)
    assert window.job_status.isVisible()
    assert started.wait(10)
    qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    with qtbot.waitSignal(window.jobFinished, timeout=10000) as finished:
        window.job_status.cancel.click()
    outcome = finished.args[0]
    assert outcome.cancelled and not outcome.ok
    assert threads == {threading.get_ident()}
    assert not window.job_status.isVisible()
    assert window.job is None


# ---------------------------------------------------------------- undo, panels


@pytest.fixture
def held_segmentation(tmp_path: Path) -> Path:
    """A project whose one segmentation item is held by 'tester' (no point, no box: no
    model proposal is asked)."""
    from conftest import make_image

    from pipeline.annotations import add_instance
    from pipeline.images import add_image_folder, list_images
    from pipeline.stages import SEGMENTATION, Pipeline
    from pipeline.store.database import Project
    from pipeline.vocabulary import add_categories, project_categories, shipped_vocabulary

    make_image(tmp_path / "images" / "yard.png", 200, 150, color=(90, 140, 60))
    folder = tmp_path / "segmenting"
    with Project.create(folder) as project:
        add_categories(project, shipped_vocabulary("coco"))
        add_image_folder(project, tmp_path / "images")
        dog = next(c for c in project_categories(project) if c.name == "dog")
        add_instance(project, list_images(project)[0].id, dog.id)
        pipeline = Pipeline(project)
        pipeline.seed()
        assert pipeline.next_item(SEGMENTATION, "tester") is not None
    return folder


def test_edit_undo_redo_and_history_act_on_the_current_views_stack(
    qtbot, window, held_segmentation
):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest

    open_and_wait(qtbot, window, held_segmentation)
    assert window.current_stage == 3  # the held item's stage comes first
    view = window.views[3]
    if not hasattr(view, "editor"):
        pytest.skip("the segmentation view has no mask editor in this build")
    qtbot.waitUntil(lambda: bool(view.items))
    editor = view.editor
    for x, y in [(20, 20), (140, 20), (140, 110), (20, 110)]:
        at = editor.view.image_to_view(QPointF(x, y)).toPoint()
        QTest.mouseClick(editor.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    QTest.keyClick(editor.view, Qt.Key.Key_Return)
    drawn = editor.current_mask().to_bytes()
    stack = window.undo_group.activeStack()
    assert stack is not None and stack is view.undo_stack() and stack.count() > 0
    steps = stack.index()
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    for _ in range(steps):
        QTest.keyClick(editor.view, Qt.Key.Key_Z, ctrl)
    assert editor.current_mask() is None or editor.current_mask().area == 0
    for _ in range(steps):
        QTest.keyClick(editor.view, Qt.Key.Key_Z, ctrl | shift)
    assert editor.current_mask().to_bytes() == drawn
    window.history_action.trigger()
    history = window.panels["history"]
    assert history.isVisible() and history.group() is window.undo_group
    assert history.stack() is stack


def test_view_and_model_menus_open_the_panels_lazily(qtbot, window, demo_project):
    open_and_wait(qtbot, window, demo_project)
    window.statistics_action.trigger()
    window.explorer_action.trigger()
    for key in ("statistics", "explorer"):
        if key in window.panels:
            assert window.panels[key].isVisible() and window.panels[key].isWindow()
        else:  # a build without that panel says so instead
            assert "not available" in window.statusBar().currentMessage()


def test_closing_asks_before_stopping_a_running_training(qtbot, window, demo_project):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

    class Training(QWidget):  # stands in for the training panel's running state
        stopped = False

        def is_running(self) -> bool:
            return not self.stopped

        def stop(self) -> None:
            self.stopped = True

    open_and_wait(qtbot, window, demo_project)
    panel = Training()
    qtbot.addWidget(panel)
    window.panels["training"] = panel

    def answer(button: QMessageBox.StandardButton) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box.button(button).click()
        else:
            QTimer.singleShot(50, lambda: answer(button))

    QTimer.singleShot(50, lambda: answer(QMessageBox.StandardButton.No))
    window.close()
    assert window.isVisible() and not panel.stopped and window.session is not None
    QTimer.singleShot(50, lambda: answer(QMessageBox.StandardButton.Yes))
    window.close()
    assert panel.stopped and not window.isVisible() and window.session is None


def test_another_sessions_answer_reaches_the_switcher_without_waiting_for_the_timer(
    qtbot, window, demo_project
):
    from pipeline.stages import Pipeline, SpotAnswer
    from pipeline.store.database import Project

    open_and_wait(qtbot, window, demo_project)
    window.session._progress_timer.stop()  # only the live update may refresh now
    with Project.open(demo_project) as other:
        pipeline = Pipeline(other)
        item = pipeline.next_item(1, "bob")
        pipeline.answer(item, SpotAnswer(nothing_new=True))
        expected = {st: p.open for st, p in pipeline.progress().items()}
    with qtbot.waitSignal(window.session.projectChanged, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: window.switcher.open_counts() == expected, timeout=5000)


def test_a_database_url_is_shown_and_remembered_without_its_password(settings_sandbox):
    from app.gui.widgets.dialogs import project_display, recent_projects, remember_project

    url = "postgresql://team:s3cret@db.example/lab"
    assert project_display(url) == "postgresql://team@db.example/lab"
    remember_project(url)
    assert recent_projects() == ["postgresql://team@db.example/lab"]


def test_stages_above_the_annotators_role_are_greyed_out(qtbot, window, demo_project):
    from pipeline.store.database import Project
    from pipeline.team import roles

    with Project.open(demo_project) as project:
        roles.add_member(project, "boss", roles.ADMIN, by="boss")
        roles.add_member(project, "tester", roles.ANNOTATOR, by="boss")
        settings = project.settings()
        expected = {
            st: roles.may(roles.ANNOTATOR, roles.stage_role(st, settings)) for st in range(1, 7)
        }
    assert not all(expected.values())  # some stage needs more than an annotator
    open_and_wait(qtbot, window, demo_project)
    for stage, allowed in expected.items():
        assert window.switcher.buttons[stage].isEnabled() == allowed
        assert window.stage_actions[stage].isEnabled() == allowed
    refused = next(st for st, ok in expected.items() if not ok)
    window.set_stage(refused)
    assert window.current_stage != refused


def test_the_image_panel_lists_the_shown_images_categories_and_instances(
    qtbot, window, held_segmentation
):
    open_and_wait(qtbot, window, held_segmentation)
    qtbot.waitUntil(lambda: window.dock.image_id is not None)
    assert window.dock.windowTitle() == "Image: yard.png"
    assert window.dock.category_names() == ["dog (1)"]
    instance = window.dock.tree.topLevelItem(0).child(0)
    # an object: its category and id ("dog #1"), its state
    assert instance.text(0).startswith("dog #") and instance.text(1) == "marked"


def test_cancelling_an_import_leaves_the_project_unchanged(qtbot, window, tiny_coco, tmp_path):
    from app.gui.workers.jobs import Job, create_project_work, import_work
    from pipeline.store.database import Project

    folder = tmp_path / "cancelled"
    create_project_work(str(folder), str(tiny_coco / "val2017"), "coco")(lambda *_: None)
    open_and_wait(qtbot, window, folder)
    before = window.session.project.counts()
    job = Job(
        "Importing annotations",
        import_work(
            window.session.project,
            str(tiny_coco / "annotations" / "instances_val2017.json"),
            "coco",
            images_root=str(tiny_coco / "val2017"),
        ),
    )
    job.progress.connect(lambda *_: window.job_status.cancel.click())  # at the first step
    with qtbot.waitSignal(window.jobFinished, timeout=120_000) as finished:
        window.run_job(job)
    assert finished.args[0].cancelled
    assert "nothing was changed" in window.statusBar().currentMessage()
    with Project.open(folder) as project:
        assert project.counts() == before


def test_ctrl_c_in_the_terminal_closes_the_window_and_gives_back_held_items(demo_project, tmp_path):
    import signal

    from pipeline.stages import Pipeline
    from pipeline.store.database import Project

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LONGTAIL_REPORT_SHOWN="1")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    app = subprocess.Popen(
        [sys.executable, "-m", "app", "gui", str(demo_project), "--annotator", "carol"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "project open" not in line and time.monotonic() < deadline:
            line = app.stderr.readline()
            if not line and app.poll() is not None:
                break
        assert "project open" in line
        with Project.open(demo_project) as project:
            assert Pipeline(project).held("carol")  # the spotting view holds its image
        app.send_signal(signal.SIGINT)
        assert app.wait(30) == 0
    finally:
        if app.poll() is None:
            app.kill()
    with Project.open(demo_project) as project:
        assert Pipeline(project).held("carol") == []


def test_periodic_counts_are_read_off_the_gui_thread(qtbot, window, demo_project):
    open_and_wait(qtbot, window, demo_project)
    session = window.session
    readers = set()
    real = session.pipeline.progress

    def progress():
        readers.add(threading.get_ident())
        return real()

    session.pipeline.progress = progress
    with qtbot.waitSignal(session.progressChanged, timeout=10_000):
        session._progress_timer.timeout.emit()  # the timer's tick
    assert readers and threading.get_ident() not in readers

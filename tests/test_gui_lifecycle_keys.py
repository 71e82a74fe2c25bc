"""Keys that always work (issue 18): the tools and the view keys are the window's, in
every stage, without a click on the canvas first; the click that only brings the app to
the front draws nothing; F fits in the image stages and a bigger window refits; the key
after stage 4's "other reason" dialog is not lost; F1 lists the keys per stage.
Real main window, real keys (QTest) sent to whatever widget has the focus."""

from __future__ import annotations

import pytest
from gui_support import open_and_wait
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_gui_lifecycle import segmentation_project

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, demo_project, window


def key(target_window, k, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """A key as a person presses it: to the focus widget (or the window)."""
    QTest.keyClick(QApplication.focusWidget() or target_window, k, modifiers)


def unfocus() -> None:
    """The focus leaves the canvas (as after a click on a button that takes it)."""
    focused = QApplication.focusWidget()
    if focused is not None:
        focused.clearFocus()
    assert QApplication.focusWidget() is None


def current_tool(window) -> str:
    editor = window.views[3].editor
    return next(name for name, act in editor._tool_actions.items() if act.isChecked())


@pytest.fixture
def segmenting(qtbot, window, tmp_path):
    project = segmentation_project(tmp_path, "keys", images=1)
    open_and_wait(qtbot, window, project)
    return project


def test_tool_keys_work_after_ctrl_3_a_switcher_click_and_a_button_click(qtbot, window, segmenting):
    key(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    key(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(window.views[3].items))
    key(window, Qt.Key.Key_B)
    assert current_tool(window) == "brush"

    # a click on the stage switcher (its button may take the focus)
    QTest.mouseClick(window.switcher.buttons[3], Qt.MouseButton.LeftButton)
    key(window, Qt.Key.Key_E)
    assert current_tool(window) == "eraser"

    # a click on one of the view's buttons, then a click on the image panel
    view = window.views[3]
    skip = next(b for b in view.findChildren(type(window.switcher.buttons[3])) if "Ask" in b.text())
    QTest.mouseClick(skip, Qt.MouseButton.LeftButton)
    unfocus()
    key(window, Qt.Key.Key_H)
    assert current_tool(window) == "hole"
    key(window, Qt.Key.Key_P)
    assert current_tool(window) == "polygon"


def test_tool_keys_work_after_reopening_the_project(qtbot, window, segmenting):
    window.set_stage(3)
    open_and_wait(qtbot, window, segmenting)  # the same project again: new views
    window.set_stage(3)
    qtbot.waitUntil(lambda: bool(window.views[3].items))
    unfocus()
    key(window, Qt.Key.Key_V)
    assert current_tool(window) == "vertex"


def test_f_fits_in_stage_one_and_a_bigger_window_refits(qtbot, window, demo_project):
    open_and_wait(qtbot, window, demo_project)
    window.set_stage(1)
    canvas = window.views[1].canvas
    qtbot.waitUntil(lambda: canvas.scale_factor > 0 and not canvas._fit_pending)
    canvas.fit()
    fitted = canvas.scale_factor
    unfocus()  # not the canvas
    key(window, Qt.Key.Key_Plus)
    key(window, Qt.Key.Key_Plus)
    assert canvas.scale_factor > fitted * 1.2
    key(window, Qt.Key.Key_F)
    assert canvas.scale_factor == pytest.approx(fitted)

    window.resize(window.width() + 400, window.height() + 250)  # as maximising does
    qtbot.waitUntil(lambda: canvas.scale_factor > fitted * 1.05, timeout=5000)
    bigger = canvas.scale_factor
    key(window, Qt.Key.Key_Plus)  # a zoom the user chose is kept on a resize
    zoomed = canvas.scale_factor
    window.resize(window.width() - 200, window.height() - 100)
    qtbot.wait(50)
    assert canvas.scale_factor == pytest.approx(zoomed) and zoomed > bigger


@pytest.mark.parametrize("stage", [2, 5, 6])
def test_the_view_keys_are_the_windows_in_every_image_stage(qtbot, window, demo_project, stage):
    open_and_wait(qtbot, window, demo_project)
    view = window.views[stage]
    fit = next(a for a in view.actions() if a.text() == "Fit image")
    assert fit.shortcut().toString() == "F"
    assert fit.shortcutContext() == Qt.ShortcutContext.WindowShortcut


def test_the_click_that_brings_the_app_back_places_no_spot(qtbot, window, demo_project):
    open_and_wait(qtbot, window, demo_project)
    window.set_stage(1)
    view = window.views[1]
    qtbot.waitUntil(lambda: bool(view.items))
    canvas = view.canvas
    at = canvas.image_to_view(QPointF(30, 30)).toPoint()
    unfocus()
    # another application is in front for a while; the person clicks the image, which
    # brings the app back (the platform says so as the click arrives)
    state = QApplication.instance().applicationStateChanged
    state.emit(Qt.ApplicationState.ApplicationInactive)
    qtbot.wait(400)
    state.emit(Qt.ApplicationState.ApplicationActive)
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert view.clicked_at is None and canvas.hasFocus()
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert view.clicked_at is not None  # inside the active app every click acts


def test_a_window_that_just_opened_takes_its_first_click(qtbot, window, demo_project):
    """Not a return to the app: the canvas was shown while the app was away."""
    open_and_wait(qtbot, window, demo_project)
    window.set_stage(6)
    state = QApplication.instance().applicationStateChanged
    state.emit(Qt.ApplicationState.ApplicationInactive)
    qtbot.wait(400)
    window.set_stage(1)  # its canvas is shown now
    view = window.views[1]
    qtbot.waitUntil(lambda: bool(view.items))
    state.emit(Qt.ApplicationState.ApplicationActive)
    at = view.canvas.image_to_view(QPointF(30, 30)).toPoint()
    QTest.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert view.clicked_at is not None


def test_a_click_inside_the_working_app_acts_even_without_the_canvas_focus(
    qtbot, window, demo_project
):
    open_and_wait(qtbot, window, demo_project)
    window.set_stage(1)
    view = window.views[1]
    qtbot.waitUntil(lambda: bool(view.items))
    unfocus()
    at = view.canvas.image_to_view(QPointF(30, 30)).toPoint()
    QTest.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert view.clicked_at is not None


def test_f1_lists_the_tool_and_view_keys_per_stage(qtbot, window, demo_project):
    open_and_wait(qtbot, window, demo_project)
    key(window, Qt.Key.Key_F1)
    dialog = window.shortcuts_dialog
    rows = dialog.rows
    stage3 = {(cmd, keys) for where, cmd, keys in rows if where.startswith("Stage 3")}
    stage1 = {(cmd, keys) for where, cmd, keys in rows if where.startswith("Stage 1")}
    assert ("Fit image", "F") in stage1 and ("Fit image", "F") in stage3
    assert any(cmd.startswith("Brush") and keys == "B" for cmd, keys in stage3)
    dialog.close()


def test_the_key_after_the_other_reason_dialog_reaches_the_page(qtbot, tiny_coco, tmp_path):
    from gui_stage_support import rows, verification_view
    from PySide6.QtCore import QTimer

    from pipeline.store import schema as s

    with verification_view(qtbot, tiny_coco, tmp_path) as (work, view):
        assert len(view.tiles) >= 2

        def type_reason():
            dialog = QApplication.activeModalWidget()
            QTest.keyClicks(dialog.focusWidget(), "cut off")
            QTest.keyClick(dialog.focusWidget(), Qt.Key.Key_Return)

        def choose_other():
            QTimer.singleShot(50, type_reason)
            QTest.keyClick(QApplication.activePopupWidget(), Qt.Key.Key_5)

        QTimer.singleShot(50, choose_other)
        QTest.keyClick(view.grid, Qt.Key.Key_R)
        assert view.tiles[0].reason == "other: cut off"
        # no activateWindow() here: the page took the keys back itself
        qtbot.waitUntil(lambda: QApplication.focusWidget() is view.grid, timeout=2000)
        key(view, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)  # accept the rest
        key(view, Qt.Key.Key_Return)
        verdicts = rows(work.project, s.verdicts)
        assert [v.reason for v in verdicts if not v.accept] == ["other: cut off"]
        assert sum(v.accept for v in verdicts) == len(verdicts) - 1


def test_f1_opens_on_the_current_stages_keys(qtbot, window, demo_project):
    open_and_wait(qtbot, window, demo_project)
    window.set_stage(1)
    key(window, Qt.Key.Key_F1)
    dialog = window.shortcuts_dialog
    table = dialog.tabs.currentWidget()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Stage 1"
    commands = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert commands["Fit image"] == "F" and commands["Nothing new"] == "N"
    dialog.close()

"""The window's layout (issue 18): at 1280x800 the image gets most of the width; the
window comes back at the size it was left; Statistics and Explorer open as windows of a
sensible size, their headers unclipped. Real main window, offscreen."""

from __future__ import annotations

from gui_support import open_and_wait
from test_gui_lifecycle import segmentation_project

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, demo_project, window


def test_at_1280_by_800_the_image_gets_most_of_the_width(qtbot, window, tmp_path):
    project = segmentation_project(tmp_path, "wide", images=1)
    window.resize(1280, 800)
    open_and_wait(qtbot, window, project)
    for stage, canvas in ((1, lambda v: v.canvas), (3, lambda v: v.editor.view)):
        window.set_stage(stage)
        qtbot.wait(50)
        width = canvas(window.views[stage]).width()
        assert width > 0.5 * window.width(), f"stage {stage}: the canvas is {width} px wide"
    assert window.switcher.horizontal  # a row above the stage, not a column beside it


def test_a_wide_window_shows_the_stages_as_a_column(qtbot, window, demo_project):
    window.resize(1920, 1080)
    open_and_wait(qtbot, window, demo_project)
    assert not window.switcher.horizontal
    assert window.switcher.width() <= 200  # a column: the image keeps the rest


def test_the_window_comes_back_at_the_size_it_was_left(qtbot, settings_sandbox):
    from app.gui.main_window import MainWindow

    first = MainWindow(annotator="tester")
    qtbot.addWidget(first)
    first.show()
    first.resize(760, 590)  # inside the offscreen screen (800x800): nothing clamps it
    qtbot.wait(20)
    first.close()
    again = MainWindow(annotator="tester")
    qtbot.addWidget(again)
    again.show()
    assert (again.width(), again.height()) == (760, 590)
    again.close()


def test_statistics_and_explorer_open_as_windows_of_a_useful_size(qtbot, window, demo_project):
    open_and_wait(qtbot, window, demo_project)
    window.show_statistics()
    window.show_explorer()
    stats, explorer = window.panels["statistics"], window.panels["explorer"]
    screen = window.screen().availableGeometry()
    for panel in (stats, explorer):
        assert panel.isWindow() and panel.isVisible()
        assert panel.width() >= min(900, 0.85 * screen.width())
        assert panel.height() >= min(600, 0.85 * screen.height())
    qtbot.waitUntil(lambda: stats.stats is not None, timeout=30000)
    # the summary has a row of its own and wraps: never cut off beside the buttons
    assert stats.summary.wordWrap()
    assert stats.summary.width() >= stats.summary.sizeHint().width() or stats.summary.height() > 20


def test_the_image_panel_comes_back_at_the_width_it_was_left(
    qtbot, settings_sandbox, demo_project
):
    from PySide6.QtCore import Qt

    from app.gui.main_window import MainWindow

    first = MainWindow(annotator="tester")
    qtbot.addWidget(first)
    first.show()
    open_and_wait(qtbot, first, demo_project)
    first.resizeDocks([first.dock], [330], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: abs(first.dock.width() - 330) <= 4, timeout=3000)
    first.close()
    again = MainWindow(annotator="tester")
    qtbot.addWidget(again)
    again.show()
    again.resize(first.size())  # the offscreen screen (800x800) clamped the restored size
    assert not again.dock.isVisible()  # no project yet
    open_and_wait(qtbot, again, demo_project)
    qtbot.waitUntil(lambda: abs(again.dock.width() - 330) <= 4, timeout=3000)
    again.close()

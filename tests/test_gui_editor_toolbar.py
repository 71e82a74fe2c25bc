"""The segmentation editor's tools all fit at the window's default size (1280x800, the
app's style): none hides in the tool bar's "»" overflow menu, and each says its key."""

from __future__ import annotations

from gui_stage_support import coco_project, use_grabcut_worker
from gui_support import open_and_wait
from PySide6.QtWidgets import QApplication, QToolButton

from pipeline.stages import SEGMENTATION

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window, app_style


def test_every_editor_tool_is_visible_in_stage_3_at_the_default_window_size(
    qtbot, app_style, window, tiny_coco, tmp_path
):
    work = coco_project(tiny_coco, tmp_path, images=2, min_area=1500, spot_done_after=1)
    default_size = window.size()
    assert (default_size.width(), default_size.height()) == (1280, 800)
    open_and_wait(qtbot, window, work.project.folder)
    worker = use_grabcut_worker(window.session)
    try:
        for stage in (1, 2):
            window.set_stage(stage)
            work.work(stage)
        window.set_stage(1)  # hands stage 2's item back
        window.set_stage(SEGMENTATION)
        view = window.views[SEGMENTATION]
        qtbot.waitUntil(lambda: not view.showing_empty() and bool(view.items), timeout=20000)
        QApplication.processEvents()
        editor = view.editor
        assert window.size() == default_size
        hidden = []
        for name, action in editor._tool_actions.items():
            button = editor.toolbar.widgetForAction(action)
            if button is None or not button.isVisible():
                hidden.append(name)
            else:  # whole inside the tool bar, not cut by its edge
                right = button.geometry().right()
                assert right <= editor.toolbar.width(), f"{name} is cut at the tool bar's edge"
            assert action.shortcut().toString() in action.toolTip()  # the key stays findable
        assert hidden == []
        for bar in (editor.toolbar, editor.edit_bar):  # no "»" overflow button shown
            extension = bar.findChild(QToolButton, "qt_toolbar_ext_button")
            assert extension is None or not extension.isVisible(), bar.windowTitle()
        for action in (editor.undo_action, editor.redo_action):
            button = editor.edit_bar.widgetForAction(action)
            assert button is not None and button.isVisible()
    finally:
        # leave stage 3 first: its top-up timer (the next item's proposal, 60 ms after an
        # item is shown) must not fire at a worker closed under it
        window.set_stage(1)
        worker.close()

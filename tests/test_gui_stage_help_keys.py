"""F1 and the Stage menu name a key for every stage-3 command that has one: inside the
main window Ctrl+Z / Ctrl+Shift+Z belong to Edit -> Undo / Redo (the window's QUndoGroup),
so the mask editor's own, keyless Undo and Redo are not listed again under stage 3 (they
showed there with an empty key column, found in the issue-18 screenshots)."""

from __future__ import annotations

from gui_stage_support import coco_project
from gui_support import open_and_wait

from app.gui.widgets.dialogs import shortcut_rows
from pipeline.stages import SEGMENTATION

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window


def test_stage_3_lists_undo_only_where_its_keys_are(qtbot, window, tiny_coco, tmp_path):
    work = coco_project(tiny_coco, tmp_path, images=1)
    work.work_until(SEGMENTATION)
    open_and_wait(qtbot, window, work.project.folder)
    window.set_stage(SEGMENTATION)
    view = window.views[SEGMENTATION]
    qtbot.waitUntil(lambda: bool(view.items), timeout=10000)

    rows = shortcut_rows(window.action_groups())
    stage = [(command, keys) for group, command, keys in rows if group.startswith("Stage 3")]
    assert ("Polygon", "P") in stage  # the editor's tools are listed with their keys
    assert not [command for command, _ in stage if command in ("Undo", "Redo")], stage
    edit = {command: keys for group, command, keys in rows if group == "Edit"}
    assert edit["Undo"] == "Ctrl+Z" and edit["Redo"].startswith("Ctrl+Shift+Z")
    # the Stage menu holds the view's commands once, none of them a keyless Undo
    texts = [a.text().replace("&", "") for a in window.stage_menu.actions()]
    assert "Undo" not in texts and "Redo" not in texts, texts

    # and Ctrl+Z still reaches the mask editor's edits (Edit -> Undo acts on its stack)
    assert window.undo_group.activeStack() is view.editor.undo_stack()

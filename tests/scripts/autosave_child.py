"""A drawing session that the autosave test kills with SIGKILL (see test_gui_autosave).

``draw PROJECT ITEM IMAGE_ID IMAGE_PATH``: open a MaskEditor on the image, draw a square
and cut a hole through real clicks, print ``SAVED <bytes hex digest>`` once the draft is
in the database, then wait to be killed. ``restore PROJECT ITEM IMAGE_ID IMAGE_PATH``:
open the editor again the way a stage view does and print ``RESTORED <digest>``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def digest(mask) -> str:
    kind, data = mask.to_bytes()
    return hashlib.sha256(kind.encode() + data).hexdigest()[:16]


def main() -> None:
    mode, folder, item, image_id, path = sys.argv[1:6]
    app = QApplication([])
    from app.gui.autosave import AutoSaver
    from app.gui.editor import MaskEditor
    from pipeline.store.database import Project

    project = Project.open(folder)
    saver = AutoSaver(project, project.annotator("ann"))
    editor = MaskEditor()
    editor.resize(700, 500)
    editor.show()
    draft = saver.restore(int(item))
    editor.load(path, draft=draft, draft_tool=saver.restored_tool(int(item)))
    editor.view.set_zoom(2.0, QPointF(60, 45))
    saver.watch(editor, int(item), int(image_id))
    if mode == "restore":
        mask = editor.current_mask()
        print(
            "RESTORED", digest(mask) if mask is not None else "none", editor.tool_used(), flush=True
        )
        return

    def click(x: float, y: float, mods=Qt.KeyboardModifier.NoModifier) -> None:
        at = editor.view.image_to_view(QPointF(x, y)).toPoint()
        QTest.mouseClick(editor.view.viewport(), Qt.MouseButton.LeftButton, mods, at)

    for x, y in [(10, 10), (80, 10), (80, 70), (10, 70)]:
        click(x, y)
    QTest.keyClick(editor.view, Qt.Key.Key_Return)
    for x, y in [(30, 30), (50, 30), (50, 50)]:
        click(x, y, Qt.KeyboardModifier.AltModifier)
    QTest.keyClick(editor.view, Qt.Key.Key_Return, Qt.KeyboardModifier.AltModifier)
    edited_at = time.perf_counter()
    saved = []
    saver.saved.connect(lambda _item: saved.append(time.perf_counter()))
    while not saved:
        app.processEvents()
        time.sleep(0.005)
    print("SAVED", digest(editor.current_mask()), f"{saved[0] - edited_at:.3f}", flush=True)
    while True:  # the test kills us here, with nothing flushed or closed
        app.processEvents()
        time.sleep(0.05)


if __name__ == "__main__":
    main()

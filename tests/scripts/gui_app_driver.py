"""The whole app, started as ``longtail gui`` starts it, driven for the autosave test.

``draw PROJECT ANNOTATOR``: start the app (``app.gui.app.run_gui``) on PROJECT; once the
segmentation view shows the held item, draw a polygon with real clicks and Return on its
canvas, print ``SAVED <digest> <area>`` once the draft is in the database, then keep
running until the test kills the process with SIGKILL.

``restore PROJECT ANNOTATOR``: start the app again; once stage 3 shows its item, print
``RESTORED <digest> <area> <stage>`` for the mask the editor holds and close the window.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def digest(mask) -> str:
    if mask is None:
        return "none"
    kind, data = mask.to_bytes()
    return hashlib.sha256(kind.encode() + data).hexdigest()[:16]


def main() -> int:
    mode, project, annotator = sys.argv[1:4]
    from PySide6.QtCore import QPointF, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.gui.app import create_application, run_gui
    from app.gui.main_window import MainWindow

    app = create_application()
    state = {"drawn": False}

    def segmentation_view():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if not windows or windows[0].session is None or windows[0].current_stage != 3:
            return None, None
        view = windows[0].views.get(3)
        if view is None or not getattr(view, "items", None):
            return windows[0], None
        return windows[0], view

    def draw(view) -> None:
        editor = view.editor
        points = [(20, 20), (140, 20), (140, 110), (20, 110)]
        for x, y in points:
            at = editor.view.image_to_view(QPointF(x, y)).toPoint()
            QTest.mouseClick(editor.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
        QTest.keyClick(editor.view, Qt.Key.Key_Return)
        mask = editor.current_mask()
        edited = time.perf_counter()

        def saved(_item: int) -> None:
            print(
                "SAVED",
                digest(editor.current_mask()),
                mask.area if mask is not None else 0,
                f"{time.perf_counter() - edited:.3f}",
                flush=True,
            )

        view.autosaver.saved.connect(saved)

    def poll() -> None:
        window, view = segmentation_view()
        if view is None:
            QTimer.singleShot(50, poll)
            return
        if mode == "draw":
            if not state["drawn"]:
                state["drawn"] = True
                QTimer.singleShot(200, lambda: draw(view))
            return  # keep running: the test kills us
        mask = view.editor.current_mask()
        print(
            "RESTORED",
            digest(mask),
            mask.area if mask is not None else 0,
            window.current_stage,
            flush=True,
        )
        window.close()

    QTimer.singleShot(0, poll)
    assert app is QApplication.instance()
    return run_gui(project, annotator=annotator)


if __name__ == "__main__":
    sys.exit(main())

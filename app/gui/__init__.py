"""The PySide6 desktop app (docs/gui.md, docs/stages-gui.md, docs/canvas.md).

``app.run_gui`` starts it (platform check, QApplication, the main window); ``session``
wraps the pipeline for one annotator; ``main_window`` is wiring only. Importing this
package imports no Qt, so the CLI can check the platform before Qt loads.
"""

"""A job's report dialog shows every located problem whole: a refused import's long
second line ran off the right edge behind a sideways scroll bar (the H17 screenshot)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from app.gui.widgets.dialogs import Report, ReportDialog

LINES = (
    "instances_broken.json: image 397133: annotation 1768: unknown category id 9999",
    "instances_broken.json: image 37777: annotation 1040: polygon has 2 points; "
    "a polygon needs at least 3",
)


def test_a_refused_imports_long_lines_wrap_inside_the_dialog(qtbot):
    report = Report(
        "Import refused",
        "coco import of instances_broken.json refused: 2 problem(s); nothing was imported",
        LINES,
        failed=True,
    )
    dialog = ReportDialog(report)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    QApplication.processEvents()
    details = dialog.details
    assert details.horizontalScrollBar().maximum() == 0  # nothing hidden to the right
    assert details.toPlainText().splitlines() == list(LINES)  # wrapped on screen only
    # the long line takes two rows on screen, each within the visible width
    block = details.document().findBlockByNumber(1)
    assert block.layout().lineCount() >= 2
    width = details.viewport().width()
    assert all(
        block.layout().lineAt(k).naturalTextWidth() <= width
        for k in range(block.layout().lineCount())
    )
    assert dialog.text().splitlines()[1:] == list(LINES)  # the saved report: one line each

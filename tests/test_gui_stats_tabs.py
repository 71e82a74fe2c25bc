"""Statistics keeps every plot's tab in view: at 1000 px wide (the window on a 1280x800
screen is about that) the last tabs were behind scroll arrows in the issue-18
screenshots; then elided titles read "Burn-d…" and "Effort by …" (the 1280x800 screenshot
of issue H17). Now each tab shows its whole short title, and its tooltip the plot's full
title, before and after the plots are drawn."""

from __future__ import annotations

from gui_support import demo_project  # noqa: F401 (the fixture)
from PySide6.QtCore import Qt

from app.gui.widgets.statistics_view import PLOTS, StatisticsView, tab_title
from pipeline.store.database import Project


def test_every_tab_is_in_view_with_its_full_title_in_the_tooltip(qtbot, demo_project):  # noqa: F811
    project = Project.open(demo_project)
    widget = StatisticsView(project)
    try:
        qtbot.addWidget(widget)
        widget.resize(900, 600)  # its own size, the smallest the screenshots show
        widget.show()
        qtbot.waitExposed(widget)

        def in_view() -> None:
            bar = widget.tabs.tabBar()
            right = max(bar.tabRect(k).right() for k in range(bar.count()))
            assert bar.count() == len(PLOTS)
            assert right <= bar.width(), (right, bar.width())
            metrics = bar.fontMetrics()
            for k, plot in enumerate(PLOTS):
                # the whole title drawn: not elided, and the tab as wide as its text
                assert bar.tabText(k) == tab_title(plot.key)
                assert bar.elideMode() == Qt.TextElideMode.ElideNone
                assert bar.tabRect(k).width() >= metrics.horizontalAdvance(bar.tabText(k))
            assert [widget.tabs.tabToolTip(k) for k in range(bar.count())] == [
                p.title for p in PLOTS
            ]

        in_view()
        qtbot.waitUntil(lambda: widget.stats is not None, timeout=30000)
        in_view()  # the drawn plots replaced the placeholders
    finally:
        widget.close()
        project.close()

"""Statistics keeps every plot's tab in view: at 1000 px wide (the window on a 1280x800
screen is about that) the last tabs were behind scroll arrows in the issue-18
screenshots. Titles are shortened where the window is narrow, and each tab's tooltip
holds its full title, before and after the plots are drawn."""

from __future__ import annotations

from gui_support import demo_project  # noqa: F401 (the fixture)

from app.gui.widgets.statistics_view import PLOTS, StatisticsView
from pipeline.store.database import Project


def test_every_tab_is_in_view_with_its_full_title_in_the_tooltip(qtbot, demo_project):  # noqa: F811
    project = Project.open(demo_project)
    widget = StatisticsView(project)
    try:
        qtbot.addWidget(widget)
        widget.resize(1000, 640)
        widget.show()
        qtbot.waitExposed(widget)

        def in_view() -> None:
            bar = widget.tabs.tabBar()
            right = max(bar.tabRect(k).right() for k in range(bar.count()))
            assert bar.count() == len(PLOTS)
            assert right <= bar.width(), (right, bar.width())
            assert [widget.tabs.tabToolTip(k) for k in range(bar.count())] == [
                p.title for p in PLOTS
            ]

        in_view()
        qtbot.waitUntil(lambda: widget.stats is not None, timeout=30000)
        in_view()  # the drawn plots replaced the placeholders
    finally:
        widget.close()
        project.close()

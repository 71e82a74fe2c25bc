"""The Train window before any run: its loss plot's axes start at 0 (the issue-18
screenshots showed matplotlib's -0.045 … 0.045 around an empty plot), and after a run's
first steps they follow the losses."""

from __future__ import annotations

from app.gui.widgets.training_panel import LossPlot, TrainingPanel
from pipeline.store.database import Project


def test_the_empty_loss_plot_starts_at_zero_and_then_follows_the_steps(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    assert plot.axes.get_xlim() == (0.0, 1.0)
    assert plot.axes.get_ylim() == (0.0, 1.0)
    plot.add({"iteration": 10, "loss": 2.0, "losses": {"loss_mask": 0.5}})
    plot.add({"iteration": 20, "loss": 1.5, "losses": {"loss_mask": 0.4}})
    assert plot.axes.get_xlim() == (9.5, 20.5)
    assert plot.axes.get_ylim()[0] == 0 and plot.axes.get_ylim()[1] >= 2.0
    plot.clear()  # a new run: empty again, from 0
    assert plot.axes.get_xlim() == (0.0, 1.0)


def test_before_a_run_the_bar_counts_the_steps_the_box_asks_for(qtbot, tmp_path):
    """It read "0 / 1 steps" while Steps said 2000 (the H17 screenshots)."""
    project = Project.create(tmp_path / "project")
    try:
        panel = TrainingPanel(project)
        qtbot.addWidget(panel)
        panel.show()
        bar = panel.progress_bar
        assert bar.text() == f"0 / {panel.iterations.value()} steps"
        panel.iterations.selectAll()
        qtbot.keyClicks(panel.iterations, "350")
        assert bar.text() == "0 / 350 steps"
    finally:
        project.close()

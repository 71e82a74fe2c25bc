"""The Statistics view: the plots of ``pipeline.stats.plots`` embedded with
FigureCanvasQTAgg, one tab each, refreshed on a worker thread, each exportable as PNG.

The numbers and the figures are made off the GUI thread (``compute_stats`` reads the
store; a matplotlib ``Figure`` without pyplot is a plain object); only the canvases
that show them are created on the GUI thread, and a tab draws when it is shown.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pipeline.stats import ProjectStats, compute_stats
from pipeline.stats.plots import PLOTS, png_bytes

from ..workers.lifetime import DaemonWorker

TAB_TITLES = {
    "long_tail": "Per category",
    "categories_per_image": "Per image",
    "mask_sizes": "Mask sizes",
    "coverage": "Coverage",
    "burn_down": "Burn-down",
    "effort_by_stage": "Effort/stage",
    "effort_by_tool": "Effort/tool",
    "effort_by_annotator": "Effort/annotator",
    "agreement": "Agreement",
}
"""Short tab titles, so that the nine fit whole in a window on a 1280x800 screen; the
plot's own title (in the tab's tooltip and on the figure) says the rest."""


def tab_title(key: str) -> str:
    return TAB_TITLES.get(key, key)


class _Signals(QObject):
    done = Signal(int, object, object)  # request, ProjectStats, {key: Figure}
    failed = Signal(int, str)
    progress = Signal(int, int, int)  # request, done, total


def _refresh(request: int, project: Any, signals: _Signals) -> None:
    """One statistics run, on the view's worker thread. ``signals`` is never parented
    to the view: a run that outlives a closed view emits into nothing."""
    try:
        stats = compute_stats(
            project,
            progress=lambda done, total: signals.progress.emit(request, done, total),
        )
        figures = {plot.key: plot.draw(stats) for plot in PLOTS}
    except Exception as exc:  # noqa: BLE001 - shown in the view, never lost
        signals.failed.emit(request, str(exc))
        return
    signals.done.emit(request, stats, figures)


class StatisticsView(QWidget):
    """Every statistics plot of ``project`` (see the module docstring)."""

    refreshed = Signal(object)  # ProjectStats
    statusMessage = Signal(str)

    def __init__(self, project: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.stats: ProjectStats | None = None
        self.figures: dict[str, Figure] = {}
        self.canvases: dict[str, FigureCanvasQTAgg] = {}
        self._requests = itertools.count(1)
        self._latest = 0
        # A daemon thread: closing the view never waits for a long run (lifetime.py).
        self.pool = DaemonWorker("statistics")
        self._signals = _Signals()
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._signals.progress.connect(self._on_progress)
        self.setWindowTitle("Statistics")

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Compute the statistics again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        QShortcut(QKeySequence("F5"), self, self.refresh).setContext(
            Qt.ShortcutContext.WidgetWithChildrenShortcut  # not the main window's keys
        )
        self.export_button = QPushButton("Save plot as PNG…")
        self.export_button.setToolTip("Save the plot shown as a PNG file (Ctrl+S)")
        self.export_button.clicked.connect(self._export_current)
        QShortcut(QKeySequence("Ctrl+S"), self, self._export_current).setContext(
            Qt.ShortcutContext.WidgetWithChildrenShortcut  # not the main window's keys
        )
        self.export_all_button = QPushButton("Save all plots…")
        self.export_all_button.clicked.connect(self._export_all)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setVisible(False)
        self.summary = QLabel("")
        # its own row, wrapped: beside the buttons a long summary was cut off
        self.summary.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.export_button)
        bar.addWidget(self.export_all_button)
        bar.addWidget(self.progress)
        bar.addStretch(1)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        # every tab in view with its whole short title (TAB_TITLES; the full title in its
        # tooltip): elided titles read "Burn-d…" at 1280x800. Scroll arrows only where
        # the window is narrower than the nine short titles.
        self.tabs.setUsesScrollButtons(True)
        self.tabs.setElideMode(Qt.TextElideMode.ElideNone)
        for k, plot in enumerate(PLOTS):
            placeholder = QLabel("computing…")
            placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.tabs.addTab(placeholder, tab_title(plot.key))
            self.tabs.setTabToolTip(k, plot.title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        self.resize(900, 600)
        self.refresh()

    # ------------------------------------------------------------ refreshing

    @property
    def busy(self) -> bool:
        return self._latest != 0

    def refresh(self) -> None:
        """Compute the statistics again on the worker; the plots swap in when done."""
        self._latest = next(self._requests)
        self.refresh_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.summary.setText("computing the statistics…")
        request, project, signals = self._latest, self.project, self._signals
        self.pool.submit(lambda: _refresh(request, project, signals))

    def _on_progress(self, request: int, done: int, total: int) -> None:
        if request == self._latest:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _on_done(self, request: int, stats: ProjectStats, figures: dict[str, Figure]) -> None:
        if request != self._latest:
            return  # an older refresh finished after a newer one began
        self._latest = 0
        self.stats, self.figures = stats, figures
        current = self.tabs.currentIndex()
        for k, plot in enumerate(PLOTS):
            canvas = FigureCanvasQTAgg(figures[plot.key])
            canvas.setMinimumSize(480, 300)
            old = self.tabs.widget(k)
            self.tabs.removeTab(k)
            self.tabs.insertTab(k, canvas, tab_title(plot.key))
            self.tabs.setTabToolTip(k, plot.title)
            if old is not None:
                old.deleteLater()
            self.canvases[plot.key] = canvas
        self.tabs.setCurrentIndex(max(0, current))
        shape, agree = stats.shape, stats.agreement
        groups = shape.group_counts()
        reject = "-" if agree.reject_rate is None else f"{100 * agree.reject_rate:.1f}%"
        self.summary.setText(
            f"{stats.counts['images']} images, {shape.instances} accepted instances in "
            f"{sum(groups.values())} categories (r {groups['r']} / c {groups['c']} / "
            f"f {groups['f']}), {len(stats.coverage.under_quota)} under the negatives quota, "
            f"reject rate {reject} — computed in {stats.seconds:.1f} s"
        )
        self.progress.setVisible(False)
        self.refresh_button.setEnabled(True)
        self.refreshed.emit(stats)

    def _on_failed(self, request: int, message: str) -> None:
        if request != self._latest:
            return
        self._latest = 0
        self.progress.setVisible(False)
        self.refresh_button.setEnabled(True)
        self.summary.setText(f"the statistics could not be computed: {message}")
        self.statusMessage.emit(message)

    # ------------------------------------------------------------ exporting

    def current_key(self) -> str:
        return PLOTS[self.tabs.currentIndex()].key

    def export_png(self, key: str, path: str | Path) -> Path:
        """Write plot ``key`` as a PNG file (the figure as shown, at 100 dpi)."""
        figure = self.figures.get(key)
        if figure is None:
            raise LookupError(f"the plot {key!r} has not been computed yet")
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        path.write_bytes(png_bytes(figure))
        self.statusMessage.emit(f"saved {path}")
        return path

    def _export_current(self) -> None:
        if not self.figures:
            return
        key = self.current_key()
        name, _ = QFileDialog.getSaveFileName(
            self, "Save plot as PNG", f"{key}.png", "PNG images (*.png)"
        )
        if name:
            self.export_png(key, name)

    def _export_all(self) -> None:
        if not self.figures:
            return
        folder = QFileDialog.getExistingDirectory(self, "Save every plot into a folder")
        if folder:
            for plot in PLOTS:
                self.export_png(plot.key, Path(folder) / f"{plot.key}.png")

    def closeEvent(self, event) -> None:  # noqa: N802
        self._latest = -1  # results still on their way are dropped
        self.pool.clear()
        super().closeEvent(event)

    def shut_down(self) -> None:
        """For good (a project switch): drop the results on their way and end the
        thread after the run in progress, without waiting for it."""
        self._latest = -1
        self.pool.close()


__all__ = ["StatisticsView"]

"""Model -> Train: start and stop a training run, watch its losses, choose the model in use.

Three parts, top to bottom:

- the settings of a run (architecture, steps, batch, accumulation, image size, LSJ,
  device, resume) with Start and Stop;
- its progress (step, loss, images/s, ETA) and live loss curves (matplotlib in Qt),
  fed by :class:`~app.gui.workers.training.TrainingProcess`, the subprocess that trains;
- the registry: every model of the project with its held-out metrics side by side
  (COCO mask / box AP, LVIS mask AP, AP_r / AP_c / AP_f), and "Use this model", which
  makes the selected model the one that proposes masks.

The registry is read with one small query (``model.training.registry`` imports no
torch); the panel itself never imports torch.
"""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from model.training.config import ARCHITECTURES, TrainConfig
from model.training.registry import ModelRecord, list_models, use_model
from pipeline.errors import LongtailError

from ..workers.training import TrainingProcess

METRIC_COLUMNS = ("mask AP", "box AP", "LVIS AP", "AP_r", "AP_c", "AP_f")
COLUMNS = ("in use", "id", "name", "model", "status", "steps", *METRIC_COLUMNS)
LOSS_PARTS = (
    ("loss", "total"),
    ("loss_classifier", "class (federated)"),
    ("loss_box_reg", "box"),
    ("loss_mask", "mask"),
    ("loss_objectness", "RPN objectness"),
    ("loss_rpn_box_reg", "RPN box"),
)


def _pct(value: float | None) -> str:
    return "–" if value is None or value < 0 else f"{100 * value:.1f}"


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LossPlot(FigureCanvasQTAgg):
    """Live loss curves: the total and each part, by step."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(6, 2.6), dpi=100, layout="constrained")
        super().__init__(self.figure)
        self.axes = self.figure.add_subplot(1, 1, 1)
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {key: [] for key, _ in LOSS_PARTS}
        self.lines = {}
        for key, label in LOSS_PARTS:
            width = 2.0 if key == "loss" else 1.0
            (self.lines[key],) = self.axes.plot([], [], label=label, linewidth=width)
        self.axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        self.axes.set_xlabel("step")
        self.axes.set_ylabel("loss")
        self.axes.grid(True, alpha=0.3)
        self.axes.legend(loc="upper right", fontsize="x-small", ncols=2)
        self._redraw()

    def clear(self) -> None:
        self.steps.clear()
        for values in self.values.values():
            values.clear()
        self._redraw()

    def add(self, event: dict) -> None:
        self.steps.append(int(event["iteration"]))
        parts = {"loss": event["loss"], **event.get("losses", {})}
        for key, values in self.values.items():
            values.append(float(parts.get(key, float("nan"))))
        self._redraw()

    def _redraw(self) -> None:
        for key, line in self.lines.items():
            line.set_data(self.steps, self.values[key])
        finite = [v for values in self.values.values() for v in values if v == v]
        if self.steps:
            # set_ylim would switch y autoscaling off for good: set both ends each time
            self.axes.set_xlim(min(self.steps) - 0.5, max(self.steps) + 0.5)
            self.axes.set_ylim(0, max(finite, default=1.0) * 1.08 or 1.0)
        else:  # no run yet: axes from 0, not matplotlib's -0.05 … 0.05 around nothing
            self.axes.set_xlim(0, 1)
            self.axes.set_ylim(0, 1)
        self.draw_idle()


class TrainingPanel(QWidget):
    """The Model -> Train window of one project (see the module docstring)."""

    modelInUseChanged = Signal(int)  # the id of the model that now proposes masks
    runFinished = Signal(str)  # "finished", "cancelled" or "failed"
    statusMessage = Signal(str)

    def __init__(self, project: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setWindowTitle("Train a model")
        self.trainer = TrainingProcess(self)
        self.trainer.started.connect(self._on_started)
        self.trainer.progress.connect(self._on_progress)
        self.trainer.evaluating.connect(self._on_evaluating)
        self.trainer.finished.connect(self._on_finished)
        self.trainer.message.connect(self.statusMessage)
        self.records: list[ModelRecord] = []
        defaults = TrainConfig()

        # -------------------------------------------------- settings
        self.architecture = QComboBox()
        self.architecture.addItems(ARCHITECTURES)
        self.architecture.setCurrentText(defaults.architecture)
        self.iterations = QSpinBox()
        self.iterations.setRange(1, 1_000_000)
        self.iterations.setValue(defaults.iterations)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 256)
        self.batch_size.setValue(defaults.batch_size)
        self.accumulate = QSpinBox()
        self.accumulate.setRange(1, 64)
        self.accumulate.setValue(defaults.accumulate)
        self.accumulate.setToolTip("forwards per step: a larger batch on a small GPU")
        self.image_size = QSpinBox()
        self.image_size.setRange(32, 2048)
        self.image_size.setSingleStep(32)
        self.image_size.setValue(defaults.min_size)
        self.image_size.setSuffix(" px")
        self.image_size.setToolTip("shorter image side (the longer is at most 5/3 of it)")
        self.lsj = QCheckBox("large-scale jitter")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.resume = QCheckBox("resume the last interrupted run")
        form = QFormLayout()
        form.addRow("Model", self.architecture)
        form.addRow("Steps", self.iterations)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Accumulate", self.accumulate)
        form.addRow("Image size", self.image_size)
        form.addRow("Device", self.device)
        form.addRow("", self.lsj)
        form.addRow("", self.resume)
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        settings_box = QGroupBox("Run")
        settings_layout = QVBoxLayout(settings_box)
        settings_layout.addLayout(form)
        settings_layout.addLayout(buttons)
        settings_layout.addStretch(1)

        # -------------------------------------------------- progress
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, self.iterations.value())  # "0 / 2000", as Steps says
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%v / %m steps")
        self.iterations.valueChanged.connect(self._steps_changed)
        self.status = QLabel("No run yet.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = LossPlot()
        progress_box = QGroupBox("Progress")
        progress_layout = QVBoxLayout(progress_box)
        progress_layout.addWidget(self.progress_bar)
        progress_layout.addWidget(self.status)
        progress_layout.addWidget(self.plot, 1)

        top = QHBoxLayout()
        top.addWidget(settings_box)
        top.addWidget(progress_box, 1)

        # -------------------------------------------------- registry
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("name"), QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.use_selected())
        self.use_button = QPushButton("Use this model")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_selected)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        registry_buttons = QHBoxLayout()
        registry_buttons.addStretch(1)
        registry_buttons.addWidget(self.refresh_button)
        registry_buttons.addWidget(self.use_button)
        registry_box = QGroupBox("Models (metrics on the held-out split)")
        registry_layout = QVBoxLayout(registry_box)
        registry_layout.addWidget(self.table)
        registry_layout.addLayout(registry_buttons)

        layout = QVBoxLayout(self)
        layout.addLayout(top, 3)
        layout.addWidget(registry_box, 2)
        self.resize(980, 680)
        self.refresh()

    # ------------------------------------------------------------ running

    def is_running(self) -> bool:
        """Is a training run going (the window asks before closing)?"""
        return self.trainer.is_running()

    def options(self) -> list[str]:
        """The trainer's command-line options from the settings."""
        size = self.image_size.value()
        options = [
            "--model", self.architecture.currentText(),
            "--iterations", str(self.iterations.value()),
            "--batch-size", str(self.batch_size.value()),
            "--accumulate", str(self.accumulate.value()),
            "--min-size", str(size),
            "--max-size", str(max(size, size * 5 // 3)),
        ]  # fmt: skip
        if self.lsj.isChecked():
            options.append("--lsj")
        if self.device.currentText() != "auto":
            options += ["--device", self.device.currentText()]
        if self.resume.isChecked():
            options.append("--resume")
        return options

    def _steps_changed(self, steps: int) -> None:
        """Before a run the bar reads "0 / <Steps>" (it read "0 / 1"); a run's own
        progress, running or finished, stays shown."""
        if not self.is_running() and self.progress_bar.value() <= 0:
            self.progress_bar.setRange(0, steps)
            self.progress_bar.setValue(0)

    def start(self) -> None:
        if self.is_running():
            return
        self.plot.clear()
        self.progress_bar.setRange(0, self.iterations.value())
        self.progress_bar.setValue(0)
        self.status.setText("Starting the trainer (reading the project, building the model)…")
        self.trainer.start(self.project, self.options())
        self._set_running(True)

    def stop(self) -> None:
        """Stop the run: the trainer writes a checkpoint and exits (``--resume`` continues)."""
        if self.is_running():
            self.status.setText("Stopping: writing a checkpoint…")
            self.stop_button.setEnabled(False)
            self.trainer.stop()

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for widget in (
            self.architecture, self.iterations, self.batch_size, self.accumulate,
            self.image_size, self.lsj, self.device, self.resume,
        ):  # fmt: skip
            widget.setEnabled(not running)

    def _on_started(self, event: dict) -> None:
        snapshot = event["snapshot"]
        self.progress_bar.setRange(0, int(event["iterations"]))
        self.progress_bar.setValue(int(event["start_iteration"]))
        self.status.setText(
            f"Model {event['model_id']}: {event['architecture']} from {event['start_weights']} "
            f"on {event['device']}; {snapshot['train_images']} train / "
            f"{snapshot['heldout_images']} held-out images ({snapshot['heldout_rule']})"
        )
        self.refresh()

    def _on_progress(self, event: dict) -> None:
        self.progress_bar.setValue(int(event["iteration"]))
        speed = event.get("images_per_s")
        self.status.setText(
            f"Step {event['iteration']} / {event['iterations']}   loss {event['loss']:.3f}   "
            f"lr {event['lr']:.2g}   {speed if speed is not None else '–'} images/s   "
            f"ETA {_eta(event.get('eta_s'))}"
        )
        self.plot.add(event)

    def _on_evaluating(self, event: dict) -> None:
        self.status.setText(f"Evaluating on {event.get('images')} held-out images…")

    def _on_finished(self, outcome: str, event: dict) -> None:
        self._set_running(False)
        if outcome == "finished":
            from model.training.evaluate import format_metrics  # torch-free

            self.status.setText(
                f"Model {event.get('model_id')} trained: {format_metrics(event.get('metrics'))}"
            )
        elif outcome == "cancelled":
            self.status.setText(
                f"Stopped at step {event.get('iteration', '?')}; its checkpoint is kept "
                "(tick resume to continue)."
            )
        else:
            self.status.setText(f"Training failed: {event.get('message', 'unknown error')}")
        self.refresh()
        self.runFinished.emit(outcome)

    # ------------------------------------------------------------ registry

    def refresh(self) -> None:
        selected = self.selected_model()
        self.records = list_models(self.project)
        self.table.setRowCount(len(self.records))
        for row, record in enumerate(self.records):
            headline = record.headline()
            cells = [
                "●" if record.in_use else "",
                str(record.id),
                record.name,
                record.architecture,
                record.status,
                str(record.iterations),
                *(_pct(headline[k]) for k in METRIC_COLUMNS),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column != COLUMNS.index("name"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if record.in_use:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
            if selected is not None and record.id == selected.id:
                self.table.selectRow(row)
        self._update_buttons()

    def selected_model(self) -> ModelRecord | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.records):
            return None
        return self.records[rows[0].row()]

    def _update_buttons(self) -> None:
        record = self.selected_model()
        self.use_button.setEnabled(record is not None and record.usable and not record.in_use)

    def use_selected(self) -> None:
        record = self.selected_model()
        if record is None:
            return
        try:
            use_model(self.project, record.id)
        except LongtailError as exc:
            QMessageBox.warning(self, "Cannot use this model", str(exc))
            return
        self.refresh()
        self.statusMessage.emit(f"model {record.id} ({record.name}) now proposes masks")
        self.modelInUseChanged.emit(record.id)

"""The training subprocess: ``python -m model.training`` under a QProcess, JSON lines in.

Training runs in a process of its own (never a thread of the GUI: it holds the GIL for
long stretches and may use every core), so the window stays responsive and a crash of
the trainer cannot take the window with it. The process prints one JSON object per line
(see :mod:`model.training.__main__`); this object turns them into Qt signals. ``stop``
sends SIGTERM, which the trainer answers by writing a checkpoint and exiting with
status 130; a trainer that does not exit within ``KILL_AFTER_MS`` is killed (its last
checkpoint stays usable).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QProcess, QProcessEnvironment, QTimer, Signal

from model.training import events as ev

CANCELLED_EXIT = 130
KILL_AFTER_MS = 30000
STDERR_KEPT = 8000


def project_target(project: Any) -> str:
    """What the trainer opens: the project's folder, or its database URL."""
    folder = getattr(project, "folder", None)
    return str(folder) if folder is not None else str(project.url)


class TrainingProcess(QObject):
    """One training run in a subprocess; its progress as signals."""

    started = Signal(dict)  # the "start" event: model id, architecture, weights, snapshot
    progress = Signal(dict)  # iteration, iterations, loss, losses, lr, images_per_s, eta_s
    checkpoint = Signal(dict)
    evaluating = Signal(dict)
    evaluated = Signal(dict)  # {"event": "evaluation", "metrics": {...}}
    finished = Signal(str, dict)  # "finished" | "cancelled" | "failed", the last event
    message = Signal(str)  # a line for a status bar

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self._buffer = b""
        self._stderr = ""
        self._last: dict = {}
        self._error: str | None = None
        self._stopping = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)
        app = QCoreApplication.instance()
        if app is not None:
            # Quitting while a run goes: let the trainer write its checkpoint first
            # (a QProcess destroyed while running is killed outright).
            app.aboutToQuit.connect(self.stop_and_wait)

    # ------------------------------------------------------------ control

    def is_running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, project: Any, options: list[str], *, python: str | None = None) -> None:
        """Start ``python -m model.training PROJECT OPTIONS...``."""
        if self.is_running():
            raise RuntimeError("a training run is already going")
        self._buffer, self._stderr, self._last, self._error = b"", "", {}, None
        self._stopping = False
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(env)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self.process = process
        arguments = ["-m", "model.training", project_target(project), *options]
        process.start(python or sys.executable, arguments)
        self.message.emit("training: starting")

    def stop(self) -> None:
        """Ask the trainer to stop (checkpoint, exit 130); kill it if it does not."""
        if not self.is_running():
            return
        assert self.process is not None
        self._stopping = True
        self.message.emit("training: stopping (writing a checkpoint)")
        self.process.terminate()  # SIGTERM on POSIX: the trainer's stop handler
        self._kill_timer.start(KILL_AFTER_MS)

    def stop_and_wait(self) -> None:
        """Stop and block until the trainer has written its checkpoint and exited."""
        if self.is_running():
            self.stop()
            assert self.process is not None
            if not self.process.waitForFinished(KILL_AFTER_MS):
                self._kill()

    def wait(self, msecs: int = 60000) -> bool:
        return self.process is None or self.process.waitForFinished(msecs)

    # ------------------------------------------------------------ reading

    def _kill(self) -> None:
        if self.is_running():
            assert self.process is not None
            self.process.kill()

    def _read_stdout(self) -> None:
        assert self.process is not None
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._dispatch(line)

    def _read_stderr(self) -> None:
        assert self.process is not None
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        self._stderr = (self._stderr + text)[-STDERR_KEPT:]

    def _dispatch(self, line: bytes) -> None:
        line = line.strip()
        if not line.startswith(b"{"):
            return
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            return
        event = ev.event_from_dict(data)  # the trainer's events, one torch-free module
        if event is None:
            return
        self._last = data
        if isinstance(event, ev.Started):
            self.started.emit(data)
            self.message.emit(f"training model {event.model_id} ({event.architecture})")
        elif isinstance(event, ev.Progress):
            self.progress.emit(data)
        elif isinstance(event, ev.CheckpointSaved):
            self.checkpoint.emit(data)
        elif isinstance(event, ev.Evaluating):
            self.evaluating.emit(data)
            self.message.emit(f"training: evaluating on {event.images} held-out images")
        elif isinstance(event, ev.Evaluated):
            self.evaluated.emit(data)
        elif isinstance(event, ev.Failed):
            self._error = event.message

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._error = "the training process could not start (is Python with torch installed?)"
            self._kill_timer.stop()
            self.process = None
            self.finished.emit("failed", {"event": "error", "message": self._error})

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        if self._buffer:
            self._dispatch(self._buffer)
            self._buffer = b""
        last = dict(self._last)
        if code == 0 and status == QProcess.ExitStatus.NormalExit:
            outcome = "finished"
        elif code == CANCELLED_EXIT or last.get("event") == "cancelled" or self._stopping:
            outcome = "cancelled"
        else:
            outcome = "failed"
            tail = self._stderr.strip().splitlines()[-1:] if self._stderr.strip() else []
            message = self._error or (tail[0] if tail else f"the trainer exited with {code}")
            last = {"event": "error", "message": message, "stderr": self._stderr}
        self.process = None
        self.message.emit(f"training {outcome}")
        self.finished.emit(outcome, last)

"""The shell's dialogs: the annotator's name, a job's report, Open Project, the shortcuts.

The annotator's name and the recent projects live in QSettings (the user's, or a
test's temporary one), never in the project.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QFont, QKeySequence, QTextOption
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# pipeline.store.database.DB_NAME (a test keeps them equal): the shell's first pages draw
# without loading the store and SQLAlchemy.
DB_NAME = "longtail.db"
ANNOTATOR_KEY = "annotator/name"
RECENT_KEY = "projects/recent"
RECENT_LIMIT = 10


# ---------------------------------------------------------------- settings


def stored_annotator() -> str | None:
    value = QSettings().value(ANNOTATOR_KEY, "")
    return str(value).strip() or None


def store_annotator(name: str) -> None:
    QSettings().setValue(ANNOTATOR_KEY, name.strip())


def recent_projects() -> list[str]:
    """The projects opened last, newest first."""
    value = QSettings().value(RECENT_KEY, [])
    if isinstance(value, str):  # QSettings returns a lone entry as a string
        value = [value]
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if str(v).strip()]


def remember_project(target: str) -> None:
    from pipeline.store.credentials import shown  # (loaded by then: a project was opened)

    target = shown(target)  # a database URL is remembered without its password
    entries = [target, *(p for p in recent_projects() if p != target)]
    QSettings().setValue(RECENT_KEY, entries[:RECENT_LIMIT])


def forget_project(target: str) -> None:
    QSettings().setValue(RECENT_KEY, [p for p in recent_projects() if p != target])


def project_display(target: str) -> str:
    """How a project may be shown: a folder as it is, a URL without its password
    (pipeline.store.credentials.shown; loaded only for URLs, so pages draw before SQLAlchemy)."""
    if "://" not in target:
        return target
    from pipeline.store.credentials import shown

    return shown(target)


# ---------------------------------------------------------------- annotator


class AnnotatorDialog(QDialog):
    """Asks who is annotating: the name every answer is stored under."""

    def __init__(self, parent: QWidget | None = None, current: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Who is annotating?")
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Your name is stored with every answer you give, so that the team's "
            "throughput and agreement can be measured. You can switch it later from "
            "File \u2192 Switch annotator."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.name = QLineEdit(current)
        self.name.setPlaceholderText("your name, e.g. alice")
        self.name.setMinimumWidth(320)
        layout.addWidget(self.name)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.name.text().strip()))

    def value(self) -> str:
        return self.name.text().strip()


def ask_annotator_name(parent: QWidget | None, current: str = "") -> str | None:
    """Ask for the name (modal) and store it in QSettings; None when cancelled."""
    dialog = AnnotatorDialog(parent, current)
    if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.value():
        return None
    store_annotator(dialog.value())
    return dialog.value()


# ---------------------------------------------------------------- reports


@dataclass(frozen=True)
class Report:
    """What a job tells the user: a title, a one-line summary and detail lines."""

    title: str
    summary: str
    lines: Sequence[str] = ()
    failed: bool = False


class ReportDialog(QDialog):
    """A job's report: the summary on top, every located problem below, savable."""

    def __init__(self, report: Report, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = report
        self.setWindowTitle(report.title)
        self.resize(720, 420 if report.lines else 160)
        layout = QVBoxLayout(self)
        self.summary = QLabel(report.summary)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if report.failed:
            self.summary.setProperty("role", "error")
        layout.addWidget(self.summary)
        self.details = QPlainTextEdit("\n".join(report.lines))
        self.details.setReadOnly(True)
        # wrapped: a long located problem ("polygon has 2 points; a polygon needs at
        # least 3") was cut off at the right edge behind a sideways scroll bar
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.details.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.details.setFont(mono)
        self.details.setVisible(bool(report.lines))
        layout.addWidget(self.details, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        if report.lines:
            save = buttons.addButton("Save report\u2026", QDialogButtonBox.ButtonRole.ActionRole)
            save.clicked.connect(self._save)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)

    def text(self) -> str:
        return "\n".join([self.report.summary, *self.report.lines])

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save report", "report.txt", "Text (*.txt)")
        if path:
            Path(path).write_text(self.text() + "\n", encoding="utf-8")


# ---------------------------------------------------------------- open project


class OpenProjectDialog(QDialog):
    """A project folder or a ``postgresql://`` URL."""

    def __init__(self, parent: QWidget | None = None, initial: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Open project")
        layout = QVBoxLayout(self)
        label = QLabel("Project folder, or a PostgreSQL URL (postgresql://user:pass@host/db):")
        label.setWordWrap(True)
        layout.addWidget(label)
        row = QHBoxLayout()
        self.target = QLineEdit(initial)
        self.target.setMinimumWidth(420)
        self.target.setPlaceholderText("/path/to/project  or  postgresql://\u2026")
        row.addWidget(self.target, 1)
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        layout.addLayout(row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.target.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        ok.setEnabled(bool(self.value()))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project folder", self.value())
        if folder:
            self.target.setText(folder)

    def value(self) -> str:
        return self.target.text().strip()


# ---------------------------------------------------------------- shortcuts


def shortcut_rows(groups: Iterable[tuple[str, Iterable[QAction]]]) -> list[tuple[str, str, str]]:
    """(group, command, keys) for every action with text; keys '' when it has none."""
    rows: list[tuple[str, str, str]] = []
    for group, actions in groups:
        for action in actions:
            if action.isSeparator() or not action.text():
                continue
            keys = ", ".join(
                seq.toString(QKeySequence.SequenceFormat.NativeText)
                for seq in action.shortcuts()
                if not seq.isEmpty()
            )
            rows.append((group, action.text().replace("&", "").rstrip("\u2026."), keys))
    return rows


class ShortcutsDialog(QDialog):
    """Help -> Keyboard shortcuts, generated from the window's and views' actions: one tab
    per stage (its commands, tools and view keys; it opens on ``current``), one for the
    window's keys that work everywhere."""

    def __init__(
        self,
        groups: Iterable[tuple[str, Iterable[QAction]]],
        parent: QWidget | None = None,
        *,
        current: str | None = None,
    ) -> None:
        from PySide6.QtWidgets import QTabWidget

        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(640, 660)
        self.rows = shortcut_rows(groups)
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        stages = [g for g in dict.fromkeys(r[0] for r in self.rows) if g.startswith("Stage ")]
        everywhere = [r for r in self.rows if r[0] not in stages]
        self.tables: dict[str, QTableWidget] = {}
        for stage in stages:
            rows = [(command, keys) for group, command, keys in self.rows if group == stage]
            self.tables[stage] = self._table(["Command", "Keys"], rows)
            self.tabs.addTab(self.tables[stage], stage.split(":")[0])
            self.tabs.setTabToolTip(self.tabs.count() - 1, stage)
        self.tables["window"] = self._table(["Menu", "Command", "Keys"], everywhere)
        self.tabs.addTab(self.tables["window"], "Everywhere")
        if current in self.tables:
            self.tabs.setCurrentWidget(self.tables[current])
        self.heading = QLabel(self)
        self.heading.setProperty("role", "muted")
        self.tabs.currentChanged.connect(self._name_tab)
        self._name_tab(self.tabs.currentIndex())
        layout.addWidget(self.heading)
        layout.addWidget(self.tabs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _name_tab(self, index: int) -> None:
        tip = self.tabs.tabToolTip(index)
        self.heading.setText(
            f"{tip}: its keys work without a click on the image first"
            if tip
            else "The window's keys: they work in every stage"
        )

    def _table(self, headers: list[str], rows: Sequence[tuple[str, ...]]) -> QTableWidget:
        table = QTableWidget(len(rows), len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.setItem(r, c, QTableWidgetItem(text))
        header = table.horizontalHeader()
        last = len(headers) - 1
        for c in range(len(headers)):
            mode = QHeaderView.ResizeMode
            header.setSectionResizeMode(c, mode.Stretch if c == last - 1 else mode.ResizeToContents)
        return table


# ---------------------------------------------------------------- import, export


class ImportDialog(QDialog):
    """File -> Import annotations: a COCO / LVIS / labelme file and where its images are."""

    FORMATS = (("coco", "COCO JSON"), ("lvis", "LVIS JSON"), ("labelme", "labelme file or folder"))

    def __init__(self, parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout

        super().__init__(parent)
        self.setWindowTitle("Import annotations")
        form = QFormLayout(self)
        self.format = QComboBox()
        for key, label in self.FORMATS:
            self.format.addItem(label, key)
        form.addRow("Format:", self.format)
        self.file = QLineEdit()
        self.file.setMinimumWidth(380)
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse_file)
        row = QHBoxLayout()
        row.addWidget(self.file, 1)
        row.addWidget(browse)
        form.addRow("File:", row)
        self.images = QLineEdit()
        self.images.setPlaceholderText("optional: next to the file, or its parent folder")
        browse_images = QPushButton("Browse\u2026")
        browse_images.clicked.connect(self._browse_images)
        row2 = QHBoxLayout()
        row2.addWidget(self.images, 1)
        row2.addWidget(browse_images)
        form.addRow("Images folder:", row2)
        self.lenient = QCheckBox("Import the good part and write a report of the rest")
        form.addRow("", self.lenient)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Annotations", self.file.text(), "JSON (*.json)"
        )
        if path:
            self.file.setText(path)

    def _browse_images(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Images folder", self.images.text())
        if folder:
            self.images.setText(folder)

    def values(self) -> tuple[str, str, str | None, bool]:
        """(format, file, images folder or None, lenient)."""
        return (
            self.format.currentData(),
            self.file.text().strip(),
            self.images.text().strip() or None,
            self.lenient.isChecked(),
        )


class ExportDialog(QDialog):
    """File -> Export: COCO or LVIS v1 JSON to a file."""

    def __init__(self, parent: QWidget | None = None, suggested: str = "") -> None:
        from PySide6.QtWidgets import QComboBox, QFormLayout

        super().__init__(parent)
        self.setWindowTitle("Export")
        form = QFormLayout(self)
        self.format = QComboBox()
        self.format.addItem("LVIS v1 JSON (with negative and not-exhaustive labels)", "lvis")
        self.format.addItem("COCO JSON", "coco")
        form.addRow("Format:", self.format)
        self.out = QLineEdit(suggested)
        self.out.setMinimumWidth(380)
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        form.addRow("File:", row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.out.text(), "JSON (*.json)")
        if path:
            self.out.setText(path)

    def values(self) -> tuple[str, str]:
        return self.format.currentData(), self.out.text().strip()

"""The New Project wizard: images folder, then vocabulary, then an optional import.

The wizard only gathers the choices (a :class:`NewProjectPlan`); the main window runs
them as jobs on a worker (scan, then import), with progress, Cancel and a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from pipeline.formats.locate import infer_split

from .dialogs import DB_NAME

VOCABULARIES = (
    ("coco", "COCO-80", "the 80 COCO categories"),
    ("lvis", "LVIS v1", "the 1203 LVIS v1 categories, with synonyms, definitions and synsets"),
    ("file", "From a file", "a COCO / LVIS JSON, or a text file: one category a line"),
)
IMPORT_FORMATS = (
    ("", "No annotations", "start from the images alone"),
    ("coco", "COCO JSON", "instances_*.json: masks, boxes, categories"),
    ("lvis", "LVIS JSON", "LVIS v1 / v0.5: also negative and not-exhaustive labels"),
    ("labelme", "labelme", "a labelme JSON file, or a folder of them"),
)


@dataclass(frozen=True)
class NewProjectPlan:
    """What the wizard asked: where, which images, which vocabulary, what to import."""

    project: str
    images: str
    vocabulary: str  # "coco", "lvis" or a file path
    import_format: str | None = None  # "coco" | "lvis" | "labelme"
    import_file: str | None = None
    import_split: str | None = None  # the split new images join; None: the file's name says

    def import_options(self) -> Any:
        """The import as ``longtail import`` would be asked it (a frozen
        ``pipeline.formats.ImportOptions``), or None without an import."""
        if not self.import_format:
            return None
        from pipeline.formats.api import ImportOptions

        root = None if self.import_format == "labelme" else self.images
        return ImportOptions(kind=self.import_format, images_root=root, split=self.import_split)


def _path_row(edit: QLineEdit, browse: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return row


def _error_label() -> QLabel:
    label = QLabel("")
    label.setProperty("role", "error")
    label.setWordWrap(True)
    return label


class ImagesPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Images")
        self.setSubTitle(
            "Pick the folder of images to label (searched recursively; jpg, png, tif, bmp, "
            "webp). Images stay where they are: the project refers to them."
        )
        grid = QGridLayout(self)
        self.images = QLineEdit()
        self.images.setObjectName("imagesEdit")
        self.images.setPlaceholderText("/path/to/images")
        browse_images = QPushButton("Browse\u2026")
        browse_images.clicked.connect(self._browse_images)
        grid.addWidget(QLabel("Images folder:"), 0, 0)
        grid.addLayout(_path_row(self.images, browse_images), 0, 1)
        self.project = QLineEdit()
        self.project.setObjectName("projectEdit")
        self.project.setPlaceholderText("/path/to/new/project")
        browse_project = QPushButton("Browse\u2026")
        browse_project.clicked.connect(self._browse_project)
        grid.addWidget(QLabel("Project folder:"), 1, 0)
        grid.addLayout(_path_row(self.project, browse_project), 1, 1)
        hint = QLabel(f"The project folder will hold one database file, {DB_NAME}.")
        hint.setProperty("role", "muted")
        grid.addWidget(hint, 2, 1)
        self.error = _error_label()
        grid.addWidget(self.error, 3, 0, 1, 2)
        grid.setRowStretch(4, 1)
        self.registerField("images*", self.images)
        self.registerField("project*", self.project)
        self.images.textChanged.connect(self._suggest_project)
        self._suggested = ""

    def _browse_images(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Images folder", self.images.text())
        if folder:
            self.images.setText(folder)

    def _browse_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project folder", self.project.text())
        if folder:
            self.project.setText(folder)

    def _suggest_project(self, text: str) -> None:
        """Propose a project folder next to the images until the user types their own."""
        if self.project.text() and self.project.text() != self._suggested:
            return
        path = Path(text.strip()).expanduser()
        self._suggested = str(path.parent / f"{path.name}-project") if path.name else ""
        self.project.setText(self._suggested)

    def validatePage(self) -> bool:
        images = Path(self.images.text().strip()).expanduser()
        project = Path(self.project.text().strip()).expanduser()
        if not images.is_dir():
            self.error.setText(f"{images} is not a folder.")
            return False
        if (project / DB_NAME).exists():
            self.error.setText(f"{project} already holds a longtail project; use Open Project.")
            return False
        if project.exists() and not project.is_dir():
            self.error.setText(f"{project} is a file, not a folder.")
            return False
        self.error.setText("")
        return True


class _ChoicePage(QWizardPage):
    """Radio buttons (one a choice, with a line of explanation) and an optional file."""

    def __init__(
        self, title: str, subtitle: str, choices: tuple[tuple[str, str, str], ...], file_key: str
    ) -> None:
        super().__init__()
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.file_key = file_key
        layout = QVBoxLayout(self)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for index, (key, label, help_text) in enumerate(choices):
            button = QRadioButton(f"{label}  \u2014  {help_text}")
            button.setObjectName(f"choice_{key or 'none'}")
            self.group.addButton(button, index)
            self.buttons[key] = button
            layout.addWidget(button)
        self.keys = [c[0] for c in choices]
        self.buttons[self.keys[0]].setChecked(True)
        self.file = QLineEdit()
        self.file.setObjectName("fileEdit")
        self.file.setPlaceholderText("/path/to/file")
        self.browse = QPushButton("Browse\u2026")
        self.browse.clicked.connect(self._browse)
        layout.addSpacing(8)
        layout.addLayout(_path_row(self.file, self.browse))
        self.error = _error_label()
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.group.idToggled.connect(lambda *_: self._update())
        self.file.textChanged.connect(lambda *_: self.completeChanged.emit())
        self._update()

    def choice(self) -> str:
        return self.keys[self.group.checkedId()]

    def needs_file(self) -> bool:
        return self.choice() == self.file_key if self.file_key else bool(self.choice())

    def _update(self) -> None:
        needed = self.needs_file()
        self.file.setEnabled(needed)
        self.browse.setEnabled(needed)
        self.error.setText("")
        self.completeChanged.emit()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "File", self.file.text())
        if path:
            self.file.setText(path)

    def isComplete(self) -> bool:
        return not self.needs_file() or bool(self.file.text().strip())

    def validatePage(self) -> bool:
        if self.needs_file() and not Path(self.file.text().strip()).expanduser().exists():
            self.error.setText(f"{self.file.text().strip()} does not exist.")
            return False
        return True


class VocabularyPage(_ChoicePage):
    def __init__(self) -> None:
        super().__init__(
            "Vocabulary",
            "The categories annotators choose from. More can come later with an import.",
            VOCABULARIES,
            file_key="file",
        )


IMPORT_NOTE = (
    "Imported masks arrive accepted: they count as verified annotations at once and are "
    "not sent to verification (Explorer \u2192 Correct mask\u2026 sends one back). "
    "Box-only annotations (a box, no mask) arrive as marked instances: stage 3 segments "
    "them from their box. A file with any problem is refused as a whole, with every "
    "problem located; the project then stays as the scan left it."
)
SPLITS = (("train", "train"), ("val", "val (held out)"))


class ImportPage(_ChoicePage):
    """The format and file, and the split the file's images join."""

    def __init__(self) -> None:
        super().__init__(
            "Import annotations (optional)",
            "Existing annotations of these images, from a COCO, LVIS or labelme file.",
            IMPORT_FORMATS,
            file_key="",
        )
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)  # _ChoicePage's column
        at = layout.count() - 2  # above the error line and the stretch
        self.split_label = QLabel("The file's images join the split:")
        layout.insertWidget(at, self.split_label)
        self.split_group = QButtonGroup(self)
        self.split_buttons: dict[str | None, QRadioButton] = {}
        row = QHBoxLayout()
        for index, (key, text) in enumerate(((None, ""), *SPLITS)):
            button = QRadioButton(text)
            button.setObjectName(f"split_{key or 'from_name'}")
            self.split_group.addButton(button, index)
            self.split_buttons[key] = button
            row.addWidget(button)
        row.addStretch(1)
        layout.insertLayout(at + 1, row)
        self.split_buttons["train"].setChecked(True)
        self.note = QLabel(IMPORT_NOTE)
        self.note.setObjectName("importNote")
        self.note.setWordWrap(True)
        self.note.setProperty("role", "muted")
        layout.insertWidget(at + 2, self.note)
        self.file.textChanged.connect(lambda *_: self._show_name_split())
        self._show_name_split()
        self._update()

    def _show_name_split(self) -> None:
        """The "from the file name" choice shows what the name says (or that it says
        nothing, when the project's default split is used)."""
        name = Path(self.file.text().strip()).name
        said = infer_split(Path(name)) if name else None
        button = self.split_buttons[None]
        if not name:
            button.setText("from the file name")
        elif said:
            button.setText(f"from the file name: {said} ({name})")
        else:
            button.setText(f"from the file name: none in {name}, the project's default")

    def split(self) -> str | None:
        """The chosen split; None: the file's name decides."""
        keys = [None, *(k for k, _ in SPLITS)]
        return keys[self.split_group.checkedId()]

    def _update(self) -> None:
        super()._update()
        buttons = getattr(self, "split_buttons", None)
        if buttons is None:  # the base class's first _update, before the split row
            return
        needed = self.needs_file()
        self.split_label.setEnabled(needed)
        self.note.setVisible(needed)
        for button in buttons.values():
            button.setEnabled(needed)


class NewProjectWizard(QWizard):
    """Images -> vocabulary -> optional import; :meth:`plan` is the result."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.images_page = ImagesPage()
        self.vocabulary_page = VocabularyPage()
        self.import_page = ImportPage()
        for page in (self.images_page, self.vocabulary_page, self.import_page):
            self.addPage(page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Create project")
        self.resize(720, 440)

    def plan(self) -> NewProjectPlan:
        vocabulary = self.vocabulary_page.choice()
        if vocabulary == "file":
            vocabulary = self.vocabulary_page.file.text().strip()
        fmt = self.import_page.choice() or None
        return NewProjectPlan(
            project=str(Path(self.images_page.project.text().strip()).expanduser()),
            images=str(Path(self.images_page.images.text().strip()).expanduser()),
            vocabulary=vocabulary,
            import_format=fmt,
            import_file=self.import_page.file.text().strip() or None if fmt else None,
            import_split=self.import_page.split() if fmt else None,
        )

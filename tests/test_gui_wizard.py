"""The New Project wizard and the import job, driven by real clicks and keys on the
real tiny COCO data: a project is created, scanned and imported on a worker; a bad
annotation file is refused with its located error and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window


def bad_copy(tiny_coco: Path, tmp_path: Path) -> tuple[Path, int]:
    """instances_val2017.json with one annotation pointing at a category that does not
    exist; returns the file and that annotation's id."""
    document = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    broken = document["annotations"][3]
    broken["category_id"] = 9999
    path = tmp_path / "instances_broken.json"
    path.write_text(json.dumps(document))
    return path, broken["id"]


def run_wizard(qtbot, window, images: Path, project: Path, fmt: str, file: Path | None) -> None:
    """Fill the wizard as a user does (Ctrl+N, typing, clicking) and finish it."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QWizard

    QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: getattr(window, "wizard", None) is not None)
    wizard = window.wizard
    qtbot.waitExposed(wizard)
    page = wizard.images_page
    QTest.keyClicks(page.images, str(images))
    assert page.project.text() == str(images.parent / f"{images.name}-project")  # suggested
    page.project.selectAll()
    QTest.keyClicks(page.project, str(project))
    click = Qt.MouseButton.LeftButton
    QTest.mouseClick(wizard.button(QWizard.WizardButton.NextButton), click)
    assert wizard.currentPage() is wizard.vocabulary_page
    assert wizard.vocabulary_page.buttons["coco"].isChecked()
    QTest.mouseClick(wizard.button(QWizard.WizardButton.NextButton), click)
    assert wizard.currentPage() is wizard.import_page
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    if fmt:
        choice = wizard.import_page.buttons[fmt]
        QTest.mouseClick(choice, click, pos=choice.rect().center())
        assert choice.isChecked()
        assert not finish.isEnabled()  # a format needs its file
        QTest.keyClicks(wizard.import_page.file, str(file))
    assert finish.isEnabled()
    with qtbot.waitSignal(window.opened, timeout=180_000):
        QTest.mouseClick(finish, click)


def test_wizard_creates_a_project_from_tiny_coco_with_its_annotations(
    qtbot, window, tiny_coco, tmp_path
):
    from pipeline.store.database import Project

    truth = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    project = tmp_path / "coco-project"
    run_wizard(
        qtbot,
        window,
        tiny_coco / "val2017",
        project,
        "coco",
        tiny_coco / "annotations" / "instances_val2017.json",
    )
    with Project.open(project) as opened:
        counts = opened.counts()
    assert counts["images"] == len(truth["images"]) == 50
    assert counts["instances"] == len(truth["annotations"])
    assert counts["segments"] == len(truth["annotations"])  # crowd regions keep their masks
    assert counts["categories"] == 80
    report = window.last_report
    assert not report.report.failed
    assert f"{len(truth['annotations']) - 5} instances and 5 crowd regions" in report.text()
    assert window.project_target == str(project)
    assert window.pages.currentWidget() is window.workspace
    assert sum(window.switcher.open_counts().values()) > 0  # imported masks await stages

    # A refused import into the open project leaves it exactly as it was.
    bad, annotation_id = bad_copy(tiny_coco, tmp_path)
    with qtbot.waitSignal(window.jobFinished, timeout=120_000) as finished:
        window.import_annotations(str(bad), "coco", images_root=str(tiny_coco / "val2017"))
    assert not finished.args[0].ok
    text = window.last_report.text()
    assert f"annotation {annotation_id}" in text and "9999" in text
    with Project.open(project) as opened:
        assert opened.counts() == counts


def test_wizard_with_a_bad_annotation_file_shows_the_located_error_and_imports_nothing(
    qtbot, window, tiny_coco, tmp_path
):
    from pipeline.store.database import Project

    bad, annotation_id = bad_copy(tiny_coco, tmp_path)
    project = tmp_path / "refused"
    run_wizard(qtbot, window, tiny_coco / "val2017", project, "coco", bad)
    report = window.last_report
    assert report.report.failed
    assert "refused" in report.summary.text() and "nothing was imported" in report.text()
    located = [line for line in report.report.lines if f"annotation {annotation_id}" in line]
    assert located and "9999" in located[0] and "instances_broken.json" in located[0]
    assert report.details.toPlainText().count("\n") + 1 == len(report.report.lines)
    with Project.open(project) as opened:
        counts = opened.counts()
    # The scan stands (the project is as the scan left it); the import changed nothing.
    assert counts["images"] == 50 and counts["categories"] == 80
    assert counts["instances"] == 0 and counts["segments"] == 0


def test_wizard_pages_refuse_what_cannot_work(qtbot, settings_sandbox, tmp_path):
    from PySide6.QtTest import QTest

    from app.gui.widgets.wizard import NewProjectWizard
    from pipeline.store.database import Project

    wizard = NewProjectWizard()
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.images_page
    QTest.keyClicks(page.images, str(tmp_path / "no-such-folder"))
    assert not page.validatePage() and "is not a folder" in page.error.text()
    (tmp_path / "imgs").mkdir()
    Project.create(tmp_path / "taken").close()
    page.images.setText(str(tmp_path / "imgs"))
    page.project.setText(str(tmp_path / "taken"))
    assert not page.validatePage() and "already holds a longtail project" in page.error.text()
    vocabulary = wizard.vocabulary_page
    vocabulary.buttons["file"].setChecked(True)
    assert not vocabulary.isComplete()
    vocabulary.file.setText(str(tmp_path / "missing.txt"))
    assert vocabulary.isComplete() and not vocabulary.validatePage()
    assert "does not exist" in vocabulary.error.text()

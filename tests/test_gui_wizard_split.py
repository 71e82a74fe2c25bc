"""The wizard asks which split an imported file's images join (train, val, or what the
file's name says, shown), and says truthfully what happens to imported annotations."""

from __future__ import annotations

import shutil

from gui_stage_support import coco_images
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWizard
from sqlalchemy import select

from app.gui.widgets.wizard import NewProjectWizard
from pipeline.store import schema as s
from pipeline.store.database import Project

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window

CLICK = Qt.MouseButton.LeftButton


def click(button) -> None:
    QTest.mouseClick(button, CLICK, pos=button.rect().center())


def small_val_file(tiny_coco, tmp_path):
    """Three tiny_coco images and their annotations, in a file named like COCO's own
    (``instances_val2017.json``: its name says val)."""
    truth = coco_images(tiny_coco, 3, tmp_path)
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    target = annotations / "instances_val2017.json"
    shutil.copy(truth, target)
    return tmp_path / "images", target


def test_the_import_page_shows_the_split_the_file_name_says_and_what_imports_do(
    qtbot, tmp_path
):
    wizard = NewProjectWizard()
    qtbot.addWidget(wizard)
    page = wizard.import_page
    wizard.show()
    assert page.note.isHidden()  # no import chosen: nothing to say
    click(page.buttons["coco"])
    QTest.keyClicks(page.file, str(tmp_path / "instances_val2017.json"))
    assert page.split_buttons[None].text() == "from the file name: val (instances_val2017.json)"
    assert page.split_buttons["train"].isChecked()  # a new project trains on what it imports
    assert not page.note.isHidden()
    note = page.note.text()
    assert "arrive accepted" in note and "not sent to verification" in note
    assert "Box-only" in note and "stage 3" in note
    page.file.clear()
    QTest.keyClicks(page.file, str(tmp_path / "photos.json"))
    assert "none in photos.json" in page.split_buttons[None].text()


def test_the_chosen_split_reaches_the_imported_images(qtbot, window, tiny_coco, tmp_path):
    images, file = small_val_file(tiny_coco, tmp_path)
    project = tmp_path / "project"
    QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: getattr(window, "wizard", None) is not None)
    wizard = window.wizard
    qtbot.waitExposed(wizard)
    QTest.keyClicks(wizard.images_page.images, str(images))
    wizard.images_page.project.selectAll()
    QTest.keyClicks(wizard.images_page.project, str(project))
    click(wizard.button(QWizard.WizardButton.NextButton))
    click(wizard.button(QWizard.WizardButton.NextButton))
    page = wizard.import_page
    click(page.buttons["coco"])
    QTest.keyClicks(page.file, str(file))
    click(page.split_buttons["train"])  # the name says val: the user says train
    plan = wizard.plan()
    assert plan.import_split == "train"
    options = plan.import_options()
    assert (options.kind, options.split) == ("coco", "train")
    with qtbot.waitSignal(window.opened, timeout=120_000):
        click(wizard.button(QWizard.WizardButton.FinishButton))
    with Project.open(project) as opened, opened.read() as conn:
        splits = set(conn.execute(select(s.images.c.split)).scalars())
        segments = set(conn.execute(select(s.segments.c.status)).scalars())
    assert splits == {"train"}
    assert segments == {s.SEGMENT_ACCEPTED}  # what the page said: accepted on arrival

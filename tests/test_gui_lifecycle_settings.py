"""A person working alone never gets stuck (issue 18): an empty stage says why and
leads to the work there is; Project -> Settings… changes the rules that kept it empty.
Real main window, real SQLite projects, real clicks."""

from __future__ import annotations

from gui_stage_support import coco_project
from gui_support import open_and_wait
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from pipeline.stages import SEGMENTATION, VERIFICATION

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, demo_project, window


def own_masks_project(tiny_coco, tmp_path):
    """A project whose stage 4 holds only masks 'tester' drew."""
    work = coco_project(tiny_coco, tmp_path, images=1)
    work.work_until(SEGMENTATION)
    assert work.work(SEGMENTATION, who="tester") > 0
    folder = work.project.folder
    work.project.close()
    return folder


def test_stage_four_says_you_may_not_verify_your_own_masks_and_settings_open_it(
    qtbot, window, tiny_coco, tmp_path
):
    project = own_masks_project(tiny_coco, tmp_path)
    open_and_wait(qtbot, window, project)
    window.set_stage(VERIFICATION)
    view = window.views[VERIFICATION]
    assert view.showing_empty() and window.switcher.buttons[4].text()
    text = view._empty_label.text()
    assert "you drew" in text and "may not verify your own masks" in text
    assert "Project \u2192 Settings" in text
    assert view._settings_button.isVisible()

    QTest.mouseClick(view._settings_button, Qt.MouseButton.LeftButton)
    dialog = window.settings_dialog
    assert dialog.isVisible() and not dialog.self_verification.isChecked()
    dialog.self_verification.setChecked(True)
    save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
    QTest.mouseClick(save, Qt.MouseButton.LeftButton)
    assert window.session.project.settings().allow_self_verification
    qtbot.waitUntil(lambda: bool(view.items), timeout=5000)  # the page of own masks
    assert not view.showing_empty()


def test_stage_six_explains_the_nothing_new_rule_and_leads_to_stage_one(
    qtbot, window, demo_project
):
    open_and_wait(qtbot, window, demo_project)
    window.set_stage(6)
    view = window.views[6]
    assert view.showing_empty()
    images = window.session.project.counts()["images"]
    done_after = window.session.project.settings().spot_done_after
    text = view._empty_label.text()
    assert f"{images} images are still in spotting" in text
    assert f"{images * done_after} more \u201cnothing new\u201d answers" in text
    assert view._go_button.isVisible() and "Go to stage 1" in view._go_button.text()
    QTest.mouseClick(view._go_button, Qt.MouseButton.LeftButton)
    assert window.current_stage == 1


def test_a_refused_setting_is_one_line_in_the_dialog_and_nothing_is_stored(
    qtbot, window, demo_project
):
    open_and_wait(qtbot, window, demo_project)
    window.session.update_settings(verifiers_per_segment=2, reject_votes_to_redo=2)
    window.show_settings()
    dialog = window.settings_dialog
    dialog.verifiers.setValue(1)  # fewer verifiers than the rejections that redo a mask
    dialog.negatives.setValue(7)
    dialog.save()
    assert dialog.isVisible() and dialog.error.isVisible()
    assert dialog.error.text().count("\n") == 0
    assert "reject_votes_to_redo" in dialog.error.text()
    stored = window.session.project.settings()
    assert stored.verifiers_per_segment == 2 and stored.negatives_per_category != 7
    dialog.reject()


def test_settings_are_read_only_for_someone_who_is_not_an_admin(qtbot, window, demo_project):
    from pipeline.store.database import Project
    from pipeline.team import roles

    with Project.open(demo_project) as project:
        roles.add_member(project, "boss", roles.ADMIN)
        roles.add_member(project, "tester", roles.ANNOTATOR, by="boss")
    open_and_wait(qtbot, window, demo_project)
    window.show_settings()
    dialog = window.settings_dialog
    assert not any(field.isEnabled() for field in dialog.fields())
    assert "boss" in dialog.note.text()
    dialog.reject()

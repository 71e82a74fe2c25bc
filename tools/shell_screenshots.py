"""Screenshots of the app's shell for docs/screenshots: the welcome page, the New
Project wizard's pages, an import report, the shortcuts help and the main window on the
demo project. Offscreen, with private settings (the user's are not touched).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/shell_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY_COCO = REPO.parent / "shared" / "data" / "tiny_coco"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))

    from PySide6.QtCore import QSettings
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWizard

    from app.cli.commands.demo import build_demo
    from app.gui.app import create_application
    from app.gui.main_window import MainWindow
    from app.gui.widgets.dialogs import Report, remember_project
    from app.gui.widgets.wizard import NewProjectWizard

    tmp = Path(tempfile.mkdtemp(prefix="longtail-shots-"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "settings"))
    app = create_application()
    assert isinstance(app, QApplication)
    app.setOrganizationName("longtail-screenshots")

    def settle(ms: int = 150) -> None:
        QTest.qWait(ms)

    demo = tmp / "demo-project"
    with build_demo(demo):
        pass
    for target in (
        "postgresql://team:secret@db.lab.example/street-scenes",
        str(Path.home() / "datasets" / "kitchen-objects-project"),
        str(demo),
    ):
        remember_project(target)

    window = MainWindow(annotator="alice")
    window.resize(1280, 800)
    window.show()
    window.welcome.refresh()
    settle()
    window.grab().save(str(out / "welcome.png"))

    wizard = NewProjectWizard(window)
    wizard.show()
    images = TINY_COCO / "val2017" if TINY_COCO.is_dir() else demo
    wizard.images_page.images.setText(str(images))
    wizard.images_page.project.setText(str(Path.home() / "projects" / "tiny-coco"))
    settle()
    wizard.grab().save(str(out / "wizard-1-images.png"))
    wizard.next()
    wizard.vocabulary_page.buttons["lvis"].setChecked(True)
    settle()
    wizard.grab().save(str(out / "wizard-2-vocabulary.png"))
    wizard.next()
    wizard.import_page.buttons["coco"].setChecked(True)
    wizard.import_page.file.setText(str(TINY_COCO / "annotations" / "instances_val2017.json"))
    settle()
    wizard.grab().save(str(out / "wizard-3-import.png"))
    wizard.button(QWizard.WizardButton.CancelButton).click()

    refused = window.show_report(
        Report(
            "Import refused",
            "coco import of instances_broken.json refused: 2 problem(s); nothing was imported",
            [
                "instances_broken.json: image 397133: annotation 1768: unknown category id 9999",
                "instances_broken.json: image 37777: annotation 1040: polygon has 2 points; "
                "a polygon needs at least 3",
            ],
            failed=True,
        )
    )
    refused.resize(760, 300)
    settle()
    refused.grab().save(str(out / "import-refused.png"))
    refused.close()

    opened = []
    window.opened.connect(lambda: opened.append(True))
    window.open_project(str(demo))
    for _ in range(600):
        if opened:
            break
        QTest.qWait(50)
    settle(400)
    window.grab().save(str(out / "main-window.png"))

    if TINY_COCO.is_dir():
        # The same window on tiny COCO with its annotations imported: the image panel
        # lists the shown image's categories and instances.
        from app.gui.workers.jobs import create_project_work, import_work

        coco = tmp / "tiny-coco"
        report = create_project_work(str(coco), str(TINY_COCO / "val2017"), "coco")(lambda *_: None)
        print(report.summary)
        report = import_work(
            str(coco),
            str(TINY_COCO / "annotations" / "instances_val2017.json"),
            "coco",
            images_root=str(TINY_COCO / "val2017"),
        )(lambda *_: None)
        print(report.summary)
        opened.clear()
        window.open_project(str(coco))
        for _ in range(600):
            if opened:
                break
            QTest.qWait(50)
        settle(600)
        window.grab().save(str(out / "main-window-tiny-coco.png"))

    window.show_shortcuts()
    settle()
    window.shortcuts_dialog.grab().save(str(out / "shortcuts.png"))
    window.shortcuts_dialog.close()
    window.close()
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main()

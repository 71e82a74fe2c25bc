"""Screenshots of every view for docs/screenshots, at 1280x800 and 1920x1080: the
welcome page, the New Project wizard's pages, the six stage views with real items of
tiny_coco, Statistics, Explorer, the Train window, Project -> Settings… and the F1 help,
as ``<view>-1280.png`` and ``<view>-1920.png``. Each size is shot in a process of its own
on an offscreen screen of that size (panels open at a share of the screen). Private
settings (the user's are not touched).

    .venv/bin/python tools/shell_screenshots.py [--out docs/screenshots] [--size 1280x800]
        [--xvfb]

``--xvfb`` shoots each size on a real X server (Xvfb with a screen of that size, Qt's
xcb plugin) instead of an offscreen one.

``--classic`` writes the older single-size pictures instead (welcome.png,
wizard-1-images.png …, import-refused.png, main-window.png, main-window-tiny-coco.png,
shortcuts.png).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY_COCO = REPO / "tests" / "data" / "tiny_coco"
SIZES = ((1280, 800), (1920, 1080))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--size", help="WIDTHxHEIGHT: this size only, in this process")
    parser.add_argument("--classic", action="store_true", help="the older single-size set")
    parser.add_argument(
        "--xvfb",
        action="store_true",
        help="each size on a real X server (Xvfb, Qt's xcb plugin) instead of offscreen",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.classic:
        classic(out)
    elif args.size:
        width, height = (int(v) for v in args.size.split("x"))
        sized(out, width, height)
    else:
        for width, height in SIZES:
            # a process per size: its screen (offscreen, or Xvfb's) is that size
            command = [sys.executable, __file__, "--out", str(out), "--size", f"{width}x{height}"]
            if args.xvfb:
                with xvfb_screen(width, height) as display:
                    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
                    env.pop("WAYLAND_DISPLAY", None)
                    subprocess.run(command, env=env, check=True)
                continue
            config = Path(tempfile.mkdtemp(prefix="longtail-screen-")) / "screen.json"
            screen = {"name": "shot", "x": 0, "y": 0, "width": width, "height": height}
            config.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "dpr": 1}]}))
            env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}")
            subprocess.run(command, env=env, check=True)


@contextlib.contextmanager
def xvfb_screen(width: int, height: int):
    """A private Xvfb server with one screen of ``width`` x ``height``; yields DISPLAY."""
    import shutil
    import time

    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise SystemExit("--xvfb: Xvfb is not installed (apt-get install xvfb)")
    number = next(
        n
        for n in range(300, 400)
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists()
    )
    server = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"--xvfb: Xvfb :{number} did not start")
            time.sleep(0.05)
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def private_app(prefix: str) -> Path:
    """Start the app's QApplication with settings of its own in a new temporary folder
    (the user's are not touched); returns the folder."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.gui.app import create_application

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "settings"))
    app = create_application()
    assert isinstance(app, QApplication)
    app.setOrganizationName("longtail-screenshots")
    return tmp


def sized(out: Path, width: int, height: int) -> None:
    """Every view at ``width`` x ``height`` (see the module docstring)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))  # gui_stage_support: a tiny_coco project

    from gui_stage_support import use_grabcut_worker
    from gui_stage_tour import tour_project, tour_stages
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QWidget

    from app.gui.main_window import MainWindow
    from app.gui.widgets.dialogs import remember_project
    from app.gui.widgets.wizard import NewProjectWizard
    from pipeline.stages import SEGMENTATION
    from pipeline.vocabulary import project_categories

    tmp = private_app("longtail-shots-")

    def settle(ms: int = 300) -> None:
        QTest.qWait(ms)

    def until(ready, timeout_s: float = 30.0) -> None:
        for _ in range(int(timeout_s * 50)):
            if ready():
                return
            QTest.qWait(20)
        raise SystemExit(f"screenshots at {width}x{height}: timed out waiting for {ready}")

    def shot(widget: QWidget, view: str) -> None:
        settle()
        path = out / f"{view}-{width}.png"
        assert widget.grab().save(str(path)), path
        print(f"{path.name}: {widget.width()}x{widget.height()}")

    # a tiny_coco project with every stage's work ahead (answered stage by stage below
    # by scripted annotators through the pipeline, as other people would)
    work = tour_project(TINY_COCO, tmp)
    folder = work.project.folder
    names = {c.id: c.name for c in project_categories(work.project)}
    for target in (
        "postgresql://team@db.lab.example/street-scenes",
        str(Path.home() / "datasets" / "kitchen-objects-project"),
        str(folder),
    ):
        remember_project(target)

    window = MainWindow(annotator="alice")
    window.resize(width, height)
    window.show()
    window.activateWindow()  # the stage keys below are window shortcuts
    until(window.isActiveWindow)
    window.welcome.refresh()
    shot(window, "welcome")

    wizard = NewProjectWizard(window)
    wizard.show()
    wizard.images_page.images.setText(str(TINY_COCO / "val2017"))
    wizard.images_page.project.setText(str(Path.home() / "projects" / "tiny-coco"))
    shot(wizard, "wizard-images")
    wizard.next()
    wizard.vocabulary_page.buttons["coco"].setChecked(True)
    shot(wizard, "wizard-vocabulary")
    wizard.next()
    wizard.import_page.buttons["coco"].setChecked(True)
    wizard.import_page.file.setText(str(TINY_COCO / "annotations" / "instances_val2017.json"))
    shot(wizard, "wizard-import")
    wizard.reject()
    window.activateWindow()  # the wizard had the keys: the stage keys go to the window
    until(window.isActiveWindow)

    opened: list[bool] = []
    window.opened.connect(lambda: opened.append(True))
    window.open_project(str(folder))
    until(lambda: bool(opened))
    worker = use_grabcut_worker(window.session)  # real masks, without building torch
    try:
        tour_stages(window, work, names, shot)  # the six stage views and the picker

        window.show_statistics()
        stats = window.panels["statistics"]
        until(lambda: getattr(stats, "stats", None) is not None)
        shot(stats, "statistics")
        window.show_explorer()
        explorer = window.panels["explorer"]
        until(lambda: bool(explorer.image_ids))
        explorer.open_image(explorer.image_ids[0])
        settle(500)
        explorer.model.wait_for_thumbnails()
        shot(explorer, "explorer")
        window.show_training()
        shot(window.panels["training"], "train")
        for key in ("statistics", "explorer", "training"):
            window.panels[key].close()

        window.show_settings()
        shot(window.settings_dialog, "settings")
        window.settings_dialog.reject()
        window.set_stage(SEGMENTATION)
        window.show_shortcuts()  # F1, opening on the current stage's keys
        shot(window.shortcuts_dialog, "help")
        window.shortcuts_dialog.close()
    finally:
        worker.close()
    window.close()
    settle()
    print(f"screenshots at {width}x{height} in {out}")


def classic(out: Path) -> None:
    """The older single-size pictures (see the module docstring)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))

    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QWizard

    from app.demo import build_demo
    from app.gui.main_window import MainWindow
    from app.gui.widgets.dialogs import Report, remember_project
    from app.gui.widgets.wizard import NewProjectWizard

    tmp = private_app("longtail-shots-")

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

"""Screenshots of the views the lifecycle work changed (issue 18), at 1280x800 and
1920x1080, for docs/screenshots: the main window in stages 1 and 3, the empty stages 4
and 6 with their explanations, Project -> Settings…, Statistics, Explorer and the
shortcuts help. Offscreen, with private settings (the user's are not touched).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/lifecycle_screenshots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = ((1280, 800), (1920, 1080))


def segmentation_project(root: Path) -> Path:
    """A project with open stage-3 items whose masks 'alice' already drew one of."""
    import numpy as np
    from PIL import Image

    from pipeline.annotations import add_instance
    from pipeline.images import add_image_folder, list_images
    from pipeline.stages import Pipeline
    from pipeline.store.database import Project
    from pipeline.vocabulary import add_categories, project_categories, shipped_vocabulary

    images = root / "yard-images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        pixels = np.zeros((600, 900, 3), dtype=np.uint8)
        pixels[:] = (90, 140, 60 + 20 * i)
        pixels[200:420, 250:600] = (200, 180, 150)
        pixels += rng.integers(0, 20, pixels.shape, dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"yard{i}.png")
    folder = root / "yard"
    with Project.create(folder) as project:
        add_categories(project, shipped_vocabulary("coco"))
        add_image_folder(project, images)
        dog = next(c for c in project_categories(project) if c.name == "dog")
        for image in list_images(project):
            add_instance(project, image.id, dog.id, box=(250.0, 200.0, 350.0, 220.0))
        Pipeline(project).seed()
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--size", help="WIDTHxHEIGHT: one size, on a screen of that size")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.size is None:
        # one process per size: the offscreen screen is the size the views are shot at
        # (panels open at a share of the screen)
        import subprocess

        for width, height in SIZES:
            config = Path(tempfile.mkdtemp()) / "screen.json"
            screen = {"name": "shot", "x": 0, "y": 0, "width": width, "height": height}
            config.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "dpr": 1}]}))
            env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}")
            command = [sys.executable, __file__, "--out", str(out), "--size", f"{width}x{height}"]
            subprocess.run(command, env=env, check=True)
        return
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    size = tuple(int(v) for v in args.size.split("x"))

    from PySide6.QtTest import QTest
    from shell_screenshots import private_app

    import app.gui.workers.model as model_worker
    from app.demo import build_demo
    from app.gui.main_window import MainWindow
    from pipeline.masks.geometry import Mask
    from pipeline.stages import SEGMENTATION, SegmentAnswer

    class BoxPredictor:
        """The prompt's box as the mask (no torch): the screenshots show a proposal."""

        trained = False

        def box_to_mask(self, pixels, box, category=None, **_):
            from types import SimpleNamespace

            import numpy as np

            bitmap = np.zeros(pixels.shape[:2], dtype=bool)
            x, y, w, h = (int(v) for v in box)
            bitmap[y + 10 : y + h - 10, x + 10 : x + w - 10] = True
            return SimpleNamespace(mask=Mask.from_bitmap(bitmap), score=0.9, source="model")

        def point_to_mask(self, pixels, point, category=None, **_):
            return self.box_to_mask(pixels, (point[0] - 50, point[1] - 50, 100, 100))

        def prefetch(self, images) -> None:
            pass

        def close(self) -> None:
            pass

    model_worker.default_predictor = lambda _project: BoxPredictor()

    tmp = private_app("longtail-lifecycle-shots-")
    demo = tmp / "demo"
    with build_demo(demo):
        pass
    yard = segmentation_project(tmp)
    # one of the yard's masks drawn by alice: her stage 4 is empty, and says why
    from pipeline.stages import Pipeline
    from pipeline.store.database import Project

    with Project.open(yard) as project:
        service = Pipeline(project)
        item = service.next_item(SEGMENTATION, "alice")
        bitmap = __import__("numpy").zeros((600, 900), dtype=bool)
        bitmap[210:410, 260:590] = True
        service.answer(item, SegmentAnswer(Mask.from_bitmap(bitmap), tool="polygon"))

    def settle(ms: int = 300) -> None:
        QTest.qWait(ms)

    def opened(window: MainWindow, target: Path) -> None:
        done = []
        window.opened.connect(lambda: done.append(1))
        window.open_project(str(target))
        for _ in range(300):
            if done:
                break
            QTest.qWait(20)
        settle()

    for width, height in (size,):
        suffix = f"{width}"
        window = MainWindow(annotator="alice")
        window.resize(width, height)
        window.show()
        settle()
        opened(window, demo)
        window.set_stage(1)
        settle(600)
        window.grab().save(str(out / f"lifecycle-stage-1-{suffix}.png"))
        window.set_stage(6)
        settle()
        window.grab().save(str(out / f"lifecycle-stage-6-empty-{suffix}.png"))
        window.show_statistics()
        stats = window.panels["statistics"]
        for _ in range(300):
            if stats.stats is not None:
                break
            QTest.qWait(20)
        settle()
        stats.grab().save(str(out / f"lifecycle-statistics-{suffix}.png"))
        window.show_explorer()
        settle(800)
        window.panels["explorer"].grab().save(str(out / f"lifecycle-explorer-{suffix}.png"))

        opened(window, yard)  # the panels of the demo close with it
        window.set_stage(3)
        settle(1200)
        window.grab().save(str(out / f"lifecycle-stage-3-{suffix}.png"))
        window.set_stage(4)
        settle()
        window.grab().save(str(out / f"lifecycle-stage-4-empty-{suffix}.png"))
        window.show_settings()
        settle()
        window.settings_dialog.grab().save(str(out / f"lifecycle-settings-{suffix}.png"))
        window.settings_dialog.reject()
        window.show_shortcuts()
        settle()
        window.shortcuts_dialog.grab().save(str(out / f"lifecycle-shortcuts-{suffix}.png"))
        window.shortcuts_dialog.close()
        window.close()
        settle()
    print(f"screenshots at {width}x{height} in {out}")


if __name__ == "__main__":
    main()

"""Issue 18's check on a real X server: one annotator alone on a fresh one-person project
works all six stages to the end in the whole app, with keys and clicks only, no CLI.

The project (3 tiny_coco images, the COCO-80 vocabulary, default settings, nothing
imported, not even seeded: the window seeds it on opening) is made here through the
pipeline API, as the wizard would make it. ``tests/scripts/solo_session_driver.py`` then
starts the app as ``longtail gui`` does, under Xvfb with ``QT_QPA_PLATFORM=xcb``, and
works it (see its docstring: self-verification is switched on by clicks in the app's
Project settings, reached from stage 4's empty page). The store must then hold exactly
what was answered, every stage must show 0 open, and the app must quit with Ctrl+Q with
exit 0 and neither "Traceback" nor "QThread" on stderr. The same walk offscreen, in one
process with pytest-qt: tests/test_gui_lifecycle_solo.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from gui_stage_support import coco_images, rows
from gui_support import clean_exit
from xcb_support import xcb_env

from pipeline.formats.lvis import export_lvis
from pipeline.masks.geometry import Mask
from pipeline.simulate.truth import load_truth
from pipeline.stages import Pipeline
from pipeline.store import schema as s
from pipeline.store.database import Project

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "scripts" / "solo_session_driver.py"


def fresh_project(tiny_coco: Path, root: Path) -> tuple[Path, Path]:
    """A new project of 3 tiny_coco images with the COCO-80 vocabulary and the default
    settings; returns its folder and the images' ground truth (for the scripted user)."""
    from pipeline.images import add_image_folder
    from pipeline.vocabulary import add_categories, shipped_vocabulary

    truth = coco_images(tiny_coco, 3, root, min_area=1500, max_instances=4)
    folder = root / "solo"
    with Project.create(folder) as project:
        add_categories(project, shipped_vocabulary("coco"))
        add_image_folder(project, root / "images")
    return folder, truth


@pytest.mark.slow
def test_one_annotator_alone_works_all_six_stages_in_the_real_window(
    x_display,
    tiny_coco,
    tmp_path,
):
    folder, truth_path = fresh_project(tiny_coco, tmp_path)
    result = tmp_path / "answered.json"
    env = xcb_env(x_display, tmp_path, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(folder), str(truth_path), str(result)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    clean_exit(done)
    told = done.stderr[-3000:]
    answered = json.loads(result.read_text())
    print(done.stderr)  # the driver's STEP lines (pytest -s shows them)
    print({k: answered[k] for k in ("answers", "rejected", "proposals_taken")})

    assert answered["platform"] == "xcb"  # drawn on the X server, not offscreen
    # every stage was worked, and shows 0 open in the switcher and in the store
    assert answered["self_verification_clicked"], told
    assert all(answered["answers"][str(stage)] for stage in range(1, 7)), answered["answers"]
    assert set(answered["switcher_open"].values()) == {0}, answered["switcher_open"]
    with Project.open(folder) as project:
        progress = Pipeline(project).progress()
        assert all(p.remaining == 0 for p in progress.values()), progress
        assert project.settings().allow_self_verification  # stored by the dialog's Save
        names = {r.id: r.name for r in rows(project, s.categories)}
        file_of = {r.id: r.file_name for r in rows(project, s.images)}
        truth = load_truth(truth_path, project)
        document = export_lvis(project)
        answers = rows(project, s.events, s.events.c.action == "answer")
        people = {r.id: r.name for r in rows(project, s.annotators)}
        assert {people[e.annotator_id] for e in answers} == {"solo"}
        assert all(e.duration_s is not None and e.clicks >= 1 for e in answers)
        drawn = {int(i): d for i, d in answered["drawn"].items()}
        instance_of = {
            r.id: r for r in rows(project, s.instances, s.instances.c.id.in_(list(drawn)))
        }

    # the federated labels are what was done: one mask per instance drawn (or taken
    # from the proposal), each as submitted ...
    image_of = {im["id"]: im for im in document["images"]}
    category_of = {c["id"]: c["name"] for c in document["categories"]}
    exported = Counter(
        (image_of[a["image_id"]]["file_name"], category_of[a["category_id"]])
        for a in document["annotations"]
    )
    assert exported == Counter(
        (file_of[instance_of[i].image_id], names[instance_of[i].category_id]) for i in drawn
    )
    # ... every object of the truth found and segmented ...
    assert exported == Counter(
        (file_of[image_id], names[t.category_id])
        for image_id, image in truth.images.items()
        for t in image.instances
    )
    for a in document["annotations"]:
        image = image_of[a["image_id"]]
        mask = Mask.from_coco(a["segmentation"], image["height"], image["width"])
        submitted = [
            Mask.from_coco(d["coco"], image["height"], image["width"])
            for i, d in drawn.items()
            if file_of[instance_of[i].image_id] == image["file_name"]
        ]
        assert any(mask.iou(m) > 0.99 for m in submitted)
    # ... and the negatives and not-exhaustive pairs exactly the N and M keys pressed
    negatives = {
        (im["file_name"], category_of[c])
        for im in document["images"]
        for c in im["neg_category_ids"]
    }
    assert negatives == {(file_of[i], names[c]) for i, c in answered["absent"]}
    assert negatives
    not_exhaustive = {
        (im["file_name"], category_of[c])
        for im in document["images"]
        for c in im["not_exhaustive_category_ids"]
    }
    assert not_exhaustive == {(file_of[i], names[c]) for i, c in answered["not_exhaustive"]}
    assert len(not_exhaustive) == 1

"""End to end in the app: a scripted user works all six stages of a 5-image tiny_coco
project in the main window with mouse clicks and keys only, until every queue is empty;
the LVIS export then holds exactly what was clicked."""

from __future__ import annotations

from collections import Counter

import pytest
from gui_scripted_user import GuiAnnotator
from gui_stage_support import coco_project, rows, use_grabcut_worker
from gui_support import open_and_wait

from pipeline.formats.lvis import export_lvis
from pipeline.masks.geometry import Mask
from pipeline.store import schema as s

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window


@pytest.mark.slow
def test_a_scripted_user_works_every_stage_and_the_lvis_export_equals_the_clicks(
    qtbot, window, tiny_coco, tmp_path
):
    work = coco_project(
        tiny_coco,
        tmp_path,
        images=5,
        min_area=1500,  # objects big enough to outline with clicks
        seed=False,  # the window seeds it on opening
        spot_done_after=1,
        allow_self_verification=True,  # one annotator does every stage
        negatives_per_category=1,
        negative_candidates_per_image=3,
    )
    project = work.project
    names = {r.id: r.name for r in rows(project, s.categories)}
    open_and_wait(qtbot, window, project.folder)
    worker = use_grabcut_worker(window.session)
    window.resize(1280, 860)
    user = GuiAnnotator(qtbot, window, work.truth, names=names)
    try:
        user.work_all()
    finally:
        worker.close()  # its thread must stop before the window goes

    # every queue is empty, nothing is held
    progress = window.session.pipeline.progress()
    assert all(p.remaining == 0 for p in progress.values()), progress
    clicked = user.clicked
    assert all(clicked.answers[stage] for stage in range(1, 7)), clicked.answers
    assert len(clicked.seen_items) == len(set(clicked.seen_items)) or clicked.rejected

    document = export_lvis(project)
    image_of = {im["id"]: im["file_name"] for im in document["images"]}
    category_of = {c["id"]: c["name"] for c in document["categories"]}
    file_of = {r.id: r.file_name for r in rows(project, s.images)}

    # positives: one exported annotation per mask the user drew last for an instance,
    # with that mask's area and box
    drawn = Counter()
    for instance_id in clicked.drawn:
        (instance,) = rows(project, s.instances, s.instances.c.id == instance_id)
        drawn[(file_of[instance.image_id], names[instance.category_id])] += 1
    exported = Counter(
        (image_of[a["image_id"]], category_of[a["category_id"]]) for a in document["annotations"]
    )
    assert exported == drawn
    truth_positive = Counter(
        (file_of[image_id], names[t.category_id])
        for image_id, image in work.truth.images.items()
        for t in image.instances
    )
    assert exported == truth_positive  # every truth instance was found and segmented
    areas = sorted(a["area"] for a in document["annotations"])
    assert areas == sorted(m.area for m in clicked.drawn.values())
    drawn_on: dict[str, list[Mask]] = {}
    for instance_id, mask in clicked.drawn.items():
        (instance,) = rows(project, s.instances, s.instances.c.id == instance_id)
        drawn_on.setdefault(file_of[instance.image_id], []).append(mask)
    for a in document["annotations"]:
        image = next(im for im in document["images"] if im["id"] == a["image_id"])
        mask = Mask.from_coco(a["segmentation"], image["height"], image["width"])
        assert any(mask.iou(m) > 0.99 for m in drawn_on[image["file_name"]])

    # negatives and not-exhaustive pairs: exactly the N and M keys pressed
    negatives = {
        (im["file_name"], category_of[c])
        for im in document["images"]
        for c in im["neg_category_ids"]
    }
    assert negatives == {(file_of[i], names[c]) for i, c in clicked.absent}
    assert clicked.absent
    not_exhaustive = {
        (im["file_name"], category_of[c])
        for im in document["images"]
        for c in im["not_exhaustive_category_ids"]
    }
    assert not_exhaustive == {(file_of[i], names[c]) for i, c in clicked.not_exhaustive}
    assert len(not_exhaustive) == 1

    # each answer's effort came from real events
    answers = rows(project, s.events, s.events.c.action == "answer")
    assert answers and all(e.duration_s is not None and e.clicks >= 1 for e in answers)

"""Scripted replays of tiny_coco through all six stages, and the simulate command."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.cli import main
from pipeline.errors import LongtailError
from pipeline.federated import project_labels, project_violations
from pipeline.images import add_image_folder
from pipeline.masks.geometry import Mask
from pipeline.simulate import (
    SLOPPY_CEILING,
    NoiseWork,
    load_truth,
    noise_profile,
    simulate,
    sloppy_mask,
)
from pipeline.simulate.noise import SIMPLIFY_ATTEMPTS
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.settings import ProjectSettings
from pipeline.vocabulary import add_categories, project_categories, shipped_vocabulary

# ---------------------------------------------------------------- helpers


def coco_subset(tiny_coco: Path, split: str, count: int | None, target: Path) -> tuple[Path, Path]:
    """The ``count`` images of a split with the most instances (all when None), copied
    with their truth into ``target``; returns (image folder, truth JSON)."""
    document = json.loads((tiny_coco / "annotations" / f"instances_{split}.json").read_text())
    per_image: dict[int, int] = {}
    for a in document["annotations"]:
        per_image[a["image_id"]] = per_image.get(a["image_id"], 0) + 1
    images = sorted(document["images"], key=lambda im: (-per_image.get(im["id"], 0), im["id"]))
    chosen = images if count is None else images[:count]
    keep = {im["id"] for im in chosen}
    folder = target / "images"
    folder.mkdir(parents=True)
    for im in chosen:
        shutil.copy(tiny_coco / split / im["file_name"], folder / im["file_name"])
    subset = {
        **document,
        "images": chosen,
        "annotations": [a for a in document["annotations"] if a["image_id"] in keep],
    }
    truth = target / "truth.json"
    truth.write_text(json.dumps(subset))
    return folder, truth


def coco_project(folder: Path, images: Path, **settings) -> Project:
    project = Project.create(folder, settings=ProjectSettings().updated(**settings))
    add_categories(project, shipped_vocabulary("coco"))
    add_image_folder(project, images)
    return project


def truth_sets(project: Project, truth_path: Path) -> tuple[dict, dict]:
    """Per project image: categories with a non-crowd instance, and any category at all."""
    truth = load_truth(truth_path, project)
    present = {i: t.present for i, t in truth.images.items()}
    anywhere = {i: t.anywhere for i, t in truth.images.items()}
    return present, anywhere


# ---------------------------------------------------------------- units


def test_noise_profiles_by_name_and_combined():
    assert noise_profile("none").sloppy_mask == 0
    combined = noise_profile("sloppy,missed")
    assert combined.sloppy_mask == 0.4 and combined.miss_instance == 0.25
    assert combined.wrong_category == 0
    with pytest.raises(LongtailError, match="unknown noise profile"):
        noise_profile("careless")


@pytest.mark.parametrize(
    "shape",
    ["disc", "thin", "tiny", "box"],
)
def test_sloppy_masks_miss_the_truth_by_a_clear_margin(shape):
    bitmap = np.zeros((120, 160), np.uint8)
    if shape == "disc":
        yy, xx = np.mgrid[:120, :160]
        bitmap[(yy - 60) ** 2 + (xx - 80) ** 2 < 40**2] = 1
    elif shape == "thin":
        bitmap[50:53, 10:150] = 1
    elif shape == "tiny":
        bitmap[10:13, 10:13] = 1
    else:
        bitmap[20:100, 30:90] = 1
    truth = Mask.from_bitmap(bitmap)
    rng = random.Random(3)
    for _ in range(6):
        sloppy = sloppy_mask(truth, rng)
        assert sloppy.area > 0 and truth.iou(sloppy) <= SLOPPY_CEILING


@pytest.mark.parametrize("seed", [0, 1, 5], ids=["dilate", "erode", "simplify"])
@pytest.mark.parametrize("coverage", ["near-full", "full"])
def test_a_sloppy_copy_of_a_near_full_image_mask_does_bounded_work(coverage, seed):
    """The mask that stalled `simulate --noise sloppy` for minutes: nearly the whole image.
    The work must not grow with the mask: a trace, three outlines, two distance
    transforms over at most the (padded) image, whatever the noise chooses."""
    height, width = 480, 640
    bitmap = np.ones((height, width), np.uint8)
    if coverage == "near-full":
        bitmap[:4] = 0
        bitmap[:, :3] = 0
        bitmap[200:210, 300:320] = 0  # a hole, as real masks have
    truth = Mask.from_bitmap(bitmap)
    work = NoiseWork()
    sloppy = sloppy_mask(truth, random.Random(seed), work=work)
    assert sloppy.area > 0 and truth.iou(sloppy) <= SLOPPY_CEILING
    assert work.traces <= 1 and work.simplifications <= SIMPLIFY_ATTEMPTS
    assert work.distance_transforms <= 2
    assert work.window_pixels <= (height + 2) * (width + 2)


def test_coco_truth_meets_an_lvis_project_by_synonym_and_synset(tmp_path, tiny_coco, capsys):
    """The 17 COCO categories whose names LVIS spells differently (car, hair drier...)."""
    images, truth_path = coco_subset(tiny_coco, "val2017", None, tmp_path / "a")
    project = Project.create(tmp_path / "p")
    add_categories(project, shipped_vocabulary("lvis"))
    add_image_folder(project, images)
    with project:
        truth = load_truth(truth_path, project)
        by_id = {c.id: c.name for c in project_categories(project)}
    document = json.loads(truth_path.read_text())
    # LVIS v1 has no hot dog (no category has its synset, frank.n.02): it alone is left out.
    assert truth.unmatched_categories == ["hot dog"]
    hot_dog = next(c["id"] for c in document["categories"] if c["name"] == "hot dog")
    left_out = [a for a in document["annotations"] if a["category_id"] == hot_dog]
    kept = sum(len(im.instances) for im in truth.images.values())
    assert truth.dropped_annotations == len(left_out)
    assert kept == len(document["annotations"]) - len(left_out)
    matched = {by_id[t.category_id] for im in truth.images.values() for t in im.instances}
    assert {"car_(automobile)", "bus_(vehicle)", "necktie"} <= matched


def test_the_truth_must_cover_every_project_image(tmp_path, tiny_coco):
    images, truth = coco_subset(tiny_coco, "val2017", 2, tmp_path / "a")
    with coco_project(tmp_path / "p", images) as project:
        other = json.loads(truth.read_text())
        other["images"] = other["images"][:1]
        with pytest.raises(LongtailError, match="1 project images are not in the truth"):
            load_truth(other, project)
        with pytest.raises(LongtailError, match="file not found"):
            load_truth(tmp_path / "nothing.json", project)


def test_lvis_truth_is_matched_by_coco_url_and_keeps_its_negatives(tmp_path, tiny_coco):
    images, truth = coco_subset(tiny_coco, "val2017", 1, tmp_path / "a")
    document = json.loads(truth.read_text())
    (image,) = document["images"]
    lvis_image = {k: v for k, v in image.items() if k != "file_name"}
    lvis_image.update(
        coco_url=f"http://images.cocodataset.org/val2017/{image['file_name']}",
        neg_category_ids=[90],
        not_exhaustive_category_ids=[],
    )
    document["images"] = [lvis_image]
    with coco_project(tmp_path / "p", images) as project:
        truth = load_truth(document, project)
        assert truth.kind == "lvis"
        (got,) = truth.images.values()
        assert len(got.instances) == len(document["annotations"])
        assert len(got.lvis_negatives) == 1


# ---------------------------------------------------------------- end to end, no noise


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, test_data):
    tiny = test_data / "tiny_coco"
    root = tmp_path_factory.mktemp("clean")
    images, truth = coco_subset(tiny, "val2017", None, root)
    project = coco_project(root / "project", images, negatives_per_category=3)
    summary = simulate(project, truth, annotators=3, noise="none", seed=0)
    yield project, truth, summary
    project.close()


def test_no_noise_finishes_every_stage(clean_run):
    project, truth, summary = clean_run
    assert summary.finished and not summary.violations
    assert all(summary.answers[stage] > 0 for stage in s.STAGES)
    assert summary.rejected_segments == 0
    m = summary.masks
    assert m["accepted"] == m["matched_truth"] == m["truth_instances"] > 300
    assert m["min_iou"] == 1.0
    assert summary.truth_check == {
        "missing_positives": 0,
        "false_positives": 0,
        "wrong_negatives": 0,
    }


def test_no_noise_federated_labels_match_the_truth(clean_run):
    project, truth_path, summary = clean_run
    present, anywhere = truth_sets(project, truth_path)
    labels = project_labels(project)
    assert set(labels) == set(present)
    negatives = 0
    for image_id, label in labels.items():
        assert label.positive_category_ids == present[image_id]  # every true category
        assert not label.negative_category_ids & anywhere[image_id]  # truly absent
        assert label.not_exhaustive_category_ids == frozenset()
        negatives += len(label.negative_category_ids)
    assert negatives == 80 * 3  # every category reached its quota
    with project.read() as conn:
        flags = set(conn.execute(select(s.image_categories.c.exhaustive)).scalars())
    assert flags == {True, None}  # positives exhaustive; negatives carry no flag
    assert not project_violations(project)


def test_no_noise_lvis_export_passes_the_invariants_and_scores_ap_1(clean_run):
    from pipeline import evaluation, formats
    project, truth_path, summary = clean_run
    exported = formats.export_lvis(project)
    annotated: dict[int, set[int]] = {}
    for a in exported["annotations"]:
        annotated.setdefault(a["image_id"], set()).add(a["category_id"])
    for image in exported["images"]:
        positives = annotated.get(image["id"], set())
        assert not set(image["neg_category_ids"]) & positives
        assert set(image["not_exhaustive_category_ids"]) <= positives
    # the truth's masks as detections (score 1) must score AP 1.0 against the export
    truth = json.loads(truth_path.read_text())
    image_of = {im["file_name"]: im["id"] for im in exported["images"]}
    category_of = {c["name"]: c["id"] for c in exported["categories"]}
    truth_names = {c["id"]: c["name"] for c in truth["categories"]}
    truth_files = {im["id"]: im["file_name"] for im in truth["images"]}
    results = [
        {
            "image_id": image_of[truth_files[a["image_id"]]],
            "category_id": category_of[truth_names[a["category_id"]]],
            "segmentation": a["segmentation"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in truth["annotations"]
        if not a["iscrowd"]
    ]
    for a in results:
        if isinstance(a["segmentation"], list):
            height = next(im["height"] for im in exported["images"] if im["id"] == a["image_id"])
            width = next(im["width"] for im in exported["images"] if im["id"] == a["image_id"])
            a["segmentation"] = Mask.from_coco(a["segmentation"], height, width).coco_rle()
    stats = evaluation.evaluate_lvis(exported, results, iou_type="segm").stats
    assert stats["AP"] == pytest.approx(1.0)


def test_status_after_a_run(clean_run, capsys):
    project, truth, summary = clean_run
    assert main(["status", str(project.folder), "--json", "--no-file-check"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert all(stage["open"] == stage["leased"] == 0 for stage in status["stages"].values())
    assert status["labels"]["positive_pairs"] == summary.labels["positive_pairs"]
    assert status["spotting"]["finished_images"] == 50


# ---------------------------------------------------------------- noise


def test_sloppy_masks_are_rejected_and_the_redo_loop_ends_accurate(tmp_path, tiny_coco):
    images, truth_path = coco_subset(tiny_coco, "train2017", 8, tmp_path)
    with coco_project(tmp_path / "p", images, negatives_per_category=1) as project:
        summary = simulate(project, truth_path, annotators=2, noise="sloppy", seed=5)
        assert summary.finished and not summary.violations
        assert summary.rejected_segments > 10 and summary.instances_redone > 5
        bar = project.settings().verify_min_iou
        truth = load_truth(truth_path, project)
        with project.read() as conn:
            rows = conn.execute(
                select(
                    s.segments.c.status,
                    s.segments.c.mask_kind,
                    s.segments.c.mask,
                    s.instances.c.image_id,
                    s.instances.c.category_id,
                    s.instances.c.x,
                    s.instances.c.y,
                ).join(s.instances, s.instances.c.id == s.segments.c.instance_id)
            ).all()
        for row in rows:
            image = truth.images[row.image_id]
            target = image.match(row.category_id, row.x, row.y)
            iou = Mask.from_bytes(row.mask_kind, row.mask, image.height, image.width).iou(
                target.mask
            )
            if row.status == s.SEGMENT_REJECTED:
                assert iou < bar
            else:
                assert row.status == s.SEGMENT_ACCEPTED and iou >= 0.9
        assert summary.masks["matched_truth"] == summary.masks["truth_instances"]
        assert summary.masks["min_iou"] >= 0.9


def test_missed_instances_come_back_through_stage_5(tmp_path, tiny_coco):
    images, truth_path = coco_subset(tiny_coco, "train2017", 6, tmp_path)
    with coco_project(tmp_path / "p", images, negatives_per_category=1) as project:
        summary = simulate(project, truth_path, annotators=2, noise="missed", seed=2)
        assert summary.finished and not summary.violations
        with project.read() as conn:
            rounds = conn.execute(select(s.exhaustive_checks.c.all_segmented)).scalars().all()
        assert False in rounds  # some pairs had missing instances, marked in stage 5
        assert summary.masks["matched_truth"] == summary.masks["truth_instances"]
        assert summary.truth_check["false_positives"] == 0
        assert summary.truth_check["wrong_negatives"] == 0


def test_imported_annotations_count_as_covered_in_stage_5(tmp_path, tiny_coco):
    """Imported instances have no mark point: stage 5 must still see them as the truth's
    instances, not mark every one of them again (a bug that duplicated all instances)."""
    from pipeline.formats import import_coco

    images, truth_path = coco_subset(tiny_coco, "val2017", 5, tmp_path)
    with Project.create(
        tmp_path / "p", settings=ProjectSettings().updated(negatives_per_category=1)
    ) as project:
        # federated: stage 5 still asks about the imported pairs (a COCO file read as
        # exhaustive answers them itself, decision 0028)
        import_coco(project, truth_path, images_root=images, federated=True)
        summary = simulate(project, truth_path, annotators=2, noise="none", seed=0)
        assert summary.finished and not summary.violations
        with project.read() as conn:
            made = conn.execute(
                select(s.instances.c.id).where(s.instances.c.source == s.SOURCE_PIPELINE)
            ).all()
            checks = conn.execute(select(s.exhaustive_checks.c.all_segmented)).scalars().all()
        assert made == [] and checks and all(checks)
        assert summary.masks["matched_truth"] == summary.masks["truth_instances"] > 0


def test_wrong_categories_are_rejected_in_marking(tmp_path, tiny_coco):
    images, truth_path = coco_subset(tiny_coco, "train2017", 6, tmp_path)
    with coco_project(tmp_path / "p", images, negatives_per_category=1) as project:
        summary = simulate(project, truth_path, annotators=2, noise="wrong-category", seed=1)
        assert summary.finished and not summary.violations
        assert summary.labels["rejected_pairs"] > 0
        assert summary.truth_check == {
            "missing_positives": 0,
            "false_positives": 0,
            "wrong_negatives": 0,
        }


# ---------------------------------------------------------------- cancel, resume, CLI


def test_a_cancelled_run_leaves_nothing_held_and_resumes(tmp_path, tiny_coco):
    images, truth_path = coco_subset(tiny_coco, "val2017", 3, tmp_path)
    with coco_project(tmp_path / "p", images, negatives_per_category=1) as project:

        def interrupt(done, total):
            if done >= 15:
                raise KeyboardInterrupt

        first = simulate(project, truth_path, progress=interrupt)
        assert first.cancelled and first.total_answers == 15
        with project.read() as conn:
            leased = conn.execute(
                select(s.work_items.c.id).where(s.work_items.c.status == s.LEASED)
            ).all()
        assert leased == []
        second = simulate(project, truth_path)
        assert second.finished and second.truth_check["missing_positives"] == 0


def test_the_simulate_command(tmp_path, tiny_coco, capsys):
    images, truth_path = coco_subset(tiny_coco, "val2017", 2, tmp_path)
    coco_project(tmp_path / "p", images, negatives_per_category=1).close()
    args = ["simulate", str(tmp_path / "p"), "--truth", str(truth_path), "--annotators", "2"]
    assert main([*args, "--json", "--noise", "sloppy", "--seed", "4"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["finished"] and summary["noise"] == "sloppy" and summary["annotators"] == 2
    assert main(args) == 0  # nothing left to do: a second run answers nothing
    text = capsys.readouterr().out
    assert "0 answers" in text and "invariants: all hold" in text
    assert main([*args[:2], "--truth", str(tmp_path / "missing.json")]) == 1
    assert "file not found" in capsys.readouterr().err
    assert main([*args, "--noise", "careless"]) == 1

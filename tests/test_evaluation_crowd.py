"""Crowd regions are ignore regions in the held-out evaluation, as in pycocotools: a
detection on a crowd region is neither a true nor a false positive."""

from __future__ import annotations

import json

import pytest
from training_support import make_shapes

from model.training.snapshot import take_snapshot
from pipeline.evaluation import evaluate_coco
from pipeline.formats import import_coco
from pipeline.store.database import Project


def test_a_detection_on_a_crowd_region_is_ignored_not_a_false_positive(tmp_path):
    doc = make_shapes(tmp_path / "val", 1, size=96, seed=4, prefix="val")
    first = doc["annotations"][0]
    # A crowd of the first annotation's category, in a corner no shape covers.
    crowd = [[2, 2, 20, 2, 20, 20, 2, 20]]
    doc["annotations"].append(
        {
            "id": 99,
            "image_id": 1,
            "category_id": first["category_id"],
            "segmentation": crowd,
            "bbox": [2, 2, 18, 18],
            "area": 324.0,
            "iscrowd": 1,
        }
    )
    for image in doc["images"]:
        image.pop("neg_category_ids"), image.pop("not_exhaustive_category_ids")
    (tmp_path / "val.json").write_text(json.dumps(doc))
    with Project.create(tmp_path / "project") as project:
        import_coco(project, tmp_path / "val.json", images_root=tmp_path / "val", split="val")
        snapshot = take_snapshot(project)
    (image,) = snapshot.heldout
    assert len(image.crowds) == 1 and all(a.mask.area != 324 for a in image.instances)
    truth = snapshot.ground_truth()
    assert [a["iscrowd"] for a in truth["annotations"]].count(1) == 1
    assert not any(a["iscrowd"] for a in snapshot.ground_truth(crowds=False)["annotations"])

    category_id = truth["annotations"][-1]["category_id"]
    exact = [a for a in truth["annotations"] if a["category_id"] == category_id]
    results = [
        {
            "image_id": image.id,
            "category_id": category_id,
            "segmentation": a["segmentation"],
            "bbox": a["bbox"],
            # the detection on the crowd region scores highest
            "score": 0.99 if a["iscrowd"] else 0.9,
        }
        for a in exact
    ]
    ap = evaluate_coco(truth, results, iou_type="segm").stats["AP"]
    dropped = evaluate_coco(snapshot.ground_truth(crowds=False), results, iou_type="segm")
    assert ap == pytest.approx(1.0)  # ignored: the true detection alone counts
    assert dropped.stats["AP"] < 1.0  # the crowd detection would be a false positive

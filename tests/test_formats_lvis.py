"""LVIS import (v0.5 and v1) and LVIS v1 export: the federated labels survive the round
trip, images are found by file_name or coco_url, frequencies follow the train split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from test_formats_util import (
    assert_same_annotations,
    placeholder_images,
    small_coco,
    snapshot,
    write_json,
)

from pipeline.annotations import insert_instance
from pipeline.formats import (
    FormatError,
    export_coco,
    export_lvis,
    import_coco,
    import_lvis,
)
from pipeline.masks.geometry import Mask
from pipeline.store import schema as s
from pipeline.store.database import Project

# The boxes of these LVIS v0.5 annotations disagree with their polygons (by up to 430
# pixels: the boxes of rotated photos); an import keeps them and names every one.
V05_BAD_BOXES = {448, 449, 450, 451, 452, 453, 579, 580, 581, 582, 583, 584, 585}


@pytest.fixture(scope="module")
def v05(test_data: Path) -> dict:
    path = test_data / "lvis_v05_val_100.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def v05_round_trip(v05: dict, test_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The v0.5 file imported (with placeholder pixels) and exported as LVIS v1."""
    folder = tmp_path_factory.mktemp("v05")
    placeholder_images(v05, folder / "images")
    with Project.create(folder / "project") as project:
        report = import_lvis(
            project,
            test_data / "lvis_v05_val_100.json",
            images_root=folder / "images",
            repair_boxes=True,
        )
        out = folder / "lvis_export.json"
        doc = export_lvis(project, out)
    return report, doc, out


def test_a_strict_import_keeps_every_box_that_disagrees_and_names_it(
    v05: dict, test_data: Path, empty_project: Project, tmp_path: Path
) -> None:
    placeholder_images(v05, tmp_path / "images")
    report = import_lvis(
        empty_project, test_data / "lvis_v05_val_100.json", images_root=tmp_path / "images"
    )
    assert report.ok and report.instances == 977
    notes = [n for n in report.notes if "disagrees with its polygon" in n.message]
    assert {n.annotation_id for n in notes} == V05_BAD_BOXES
    assert all("the file's bbox is kept" in n.message for n in notes)
    assert report.boxes_disagreeing == len(V05_BAD_BOXES)
    assert report.largest_box_gap > 400
    summary = report.summary()
    assert f"{len(V05_BAD_BOXES)} boxes disagree with their masks by up to" in summary
    assert "--repair-boxes" in summary
    # The file's box is the instance's; the mask's extent is the segment's.
    with empty_project.read() as conn:
        box = conn.execute(
            select(
                s.instances.c.box_x, s.instances.c.box_y, s.instances.c.box_w, s.instances.c.box_h
            ).where(s.instances.c.source_id == 448)
        ).one()
    assert tuple(box) == pytest.approx((448.66, 26.43, 31.52, 50.32))


def test_v05_round_trip_keeps_instances_and_federated_labels(v05: dict, v05_round_trip) -> None:
    report, doc, _ = v05_round_trip
    assert (report.instances, report.images_added, report.split) == (977, 100, "val")
    assert len(report.notes) == len(V05_BAD_BOXES) and report.report_path.is_file()
    assert_same_annotations(v05, doc)
    assert len(doc["annotations"]) == len(v05["annotations"])
    exported = {i["id"]: i for i in doc["images"]}
    for image in v05["images"]:
        out = exported[image["id"]]
        assert sorted(out["neg_category_ids"]) == sorted(image["neg_category_ids"])
        assert sorted(out["not_exhaustive_category_ids"]) == sorted(
            image["not_exhaustive_category_ids"]
        )
        assert out["coco_url"] == image["coco_url"] and out["file_name"] == image["file_name"]
    assert report.negative_pairs == sum(len(i["neg_category_ids"]) for i in v05["images"])
    assert report.not_exhaustive_pairs == 16


def test_v05_round_trip_keeps_identical_categories(v05: dict, v05_round_trip) -> None:
    _, doc, _ = v05_round_trip
    # The project has no train split, so the file's frequencies stay; counts are the export's.
    assert doc["categories"] == sorted(v05["categories"], key=lambda c: c["id"])


def test_an_lvis_export_imports_again_unchanged(v05: dict, v05_round_trip, tmp_path: Path) -> None:
    _, doc, out = v05_round_trip
    root = placeholder_images(v05, tmp_path / "images")
    with Project.create(tmp_path / "again") as project:
        report = import_lvis(project, out, images_root=root, split="val")  # boxes agree now
        assert report.ok and report.split == "val" and report.instances == 977
        again = export_lvis(project)
    assert again == doc


def test_lvis_export_has_the_v1_shape(v05_round_trip) -> None:
    _, doc, _ = v05_round_trip
    for image in doc["images"]:
        assert isinstance(image["neg_category_ids"], list)
        assert isinstance(image["not_exhaustive_category_ids"], list)
    for ann in doc["annotations"]:
        assert "iscrowd" not in ann
        assert set(ann) == {"id", "image_id", "category_id", "segmentation", "area", "bbox"}
    for category in doc["categories"]:
        assert set(category) == {
            "id", "name", "synonyms", "def", "synset", "frequency", "image_count",
            "instance_count",
        }  # fmt: skip


def test_lvis_export_scores_ap_one_against_itself(v05_round_trip) -> None:
    from pipeline import evaluation
    _, doc, out = v05_round_trip
    sizes = {i["id"]: (i["height"], i["width"]) for i in doc["images"]}
    results = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "segmentation": Mask.from_coco(a["segmentation"], *sizes[a["image_id"]]).coco_rle(),
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in doc["annotations"]
    ]
    for iou_type in ("segm", "bbox"):
        result = evaluation.evaluate_lvis(str(out), results, iou_type=iou_type)
        assert result.stats["AP"] == pytest.approx(1.0)


def test_v1_images_are_found_by_the_last_two_parts_of_coco_url(
    empty_project: Project, tmp_path: Path
) -> None:
    doc = {
        "images": [
            {
                "id": 5,
                "width": 30,
                "height": 20,
                "coco_url": "http://x.org/train2017/5.png",
                "neg_category_ids": [2],
                "not_exhaustive_category_ids": [3],
            },
            {
                "id": 6,
                "width": 30,
                "height": 20,
                "coco_url": "http://x.org/val2017/6.png",
                "neg_category_ids": [],
                "not_exhaustive_category_ids": [],
            },
        ],  # fmt: skip
        "annotations": [
            {
                "id": 1,
                "image_id": 5,
                "category_id": 1,
                "bbox": [1, 1, 9, 9],
                "segmentation": [[1, 1, 10, 1, 10, 10, 1, 10]],
                "area": 81,
            },
            {
                "id": 2,
                "image_id": 5,
                "category_id": 3,
                "bbox": [12, 1, 9, 9],
                "segmentation": [[12, 1, 21, 1, 21, 10]],
                "area": 40,
            },
        ],  # fmt: skip
        "categories": [
            {
                "id": i,
                "name": n,
                "synonyms": [n],
                "def": "",
                "synset": f"{n}.n.01",
                "frequency": "r",
            }
            for i, n in ((1, "acorn"), (2, "bagel"), (3, "cider"))
        ],  # fmt: skip
    }
    root = placeholder_images(doc, tmp_path / "coco", name="coco_url")
    report = import_lvis(
        empty_project, write_json(tmp_path / "lvis_v1_train.json", doc), images_root=root
    )
    assert report.ok and report.split == "train"
    with empty_project.read() as conn:
        images = {r.file_name: r for r in conn.execute(select(s.images))}
        pairs = {
            (r.image_id, r.category_id): (r.state, r.exhaustive)
            for r in conn.execute(select(s.image_categories))
        }
        names = dict(conn.execute(select(s.categories.c.name, s.categories.c.id)).all())
    assert set(images) == {"train2017/5.png", "val2017/6.png"}
    image = images["train2017/5.png"].id
    assert pairs == {
        (image, names["acorn"]): (s.CONFIRMED, True),  # LVIS asserts exhaustive
        (image, names["bagel"]): (s.NEGATIVE, None),
        (image, names["cider"]): (s.CONFIRMED, False),
    }
    out = export_lvis(empty_project)
    assert [i["coco_url"] for i in out["images"]] == [i["coco_url"] for i in doc["images"]]
    assert out["images"][0]["neg_category_ids"] == [2]
    assert out["images"][0]["not_exhaustive_category_ids"] == [3]
    # Both train images hold acorn and cider: rare.
    assert {c["name"]: c["frequency"] for c in out["categories"]} == {
        "acorn": "r",
        "bagel": "r",
        "cider": "r",
    }


def test_lvis_export_leaves_crowd_out_and_finds_images_by_coco_url(
    empty_project: Project, tmp_path: Path
) -> None:
    doc = small_coco(tmp_path)
    import_coco(empty_project, write_json(tmp_path / "set.json", doc))
    out = export_lvis(empty_project)
    assert {a["id"] for a in out["annotations"]} == {101, 102, 104}
    # No coco_url was imported: the file's folder and name on disk stand in for it,
    # as lvis-api and detectron2 read it (last two parts).
    urls = {i["file_name"]: i["coco_url"] for i in out["images"]}
    assert urls == {
        "a.png": f"{tmp_path.name}/a.png",
        "b.png": f"{tmp_path.name}/b.png",
        "sub/c.png": "sub/c.png",
    }
    for image in out["images"]:
        # Each url's two parts are the real folder and file: one root above that folder
        # serves every image kept in one folder (COCO's layout, or a flat folder).
        root = tmp_path if "/" in image["file_name"] else tmp_path.parent
        folder, name = image["coco_url"].split("/")[-2:]
        assert (root / folder / name).is_file()
    # COCO is exhaustive over its categories: no pair is claimed not exhaustive, and
    # each image's absent categories are its negatives (decision 0028).
    assert all(i["not_exhaustive_category_ids"] == [] for i in out["images"])
    negatives = {i["file_name"]: i["neg_category_ids"] for i in out["images"]}
    assert negatives == {"a.png": [3], "b.png": [1, 3], "sub/c.png": [1, 3, 18]}


def test_an_instance_without_an_accepted_mask_makes_its_pair_not_exhaustive(
    empty_project: Project, tmp_path: Path
) -> None:
    import_coco(empty_project, write_json(tmp_path / "set.json", small_coco(tmp_path)))
    with empty_project.write() as conn:
        image = conn.execute(select(s.images.c.id).where(s.images.c.file_name == "a.png")).scalar()
        dog = conn.execute(select(s.categories.c.id).where(s.categories.c.name == "dog")).scalar()
        insert_instance(conn, image, dog, point=(3.0, 3.0))  # marked, not yet segmented
    out = export_lvis(empty_project)
    image = next(i for i in out["images"] if i["file_name"] == "a.png")
    assert image["not_exhaustive_category_ids"] == [18]
    assert len(out["annotations"]) == 3


def test_frequency_groups_follow_the_train_split(empty_project: Project, tmp_path: Path) -> None:
    from conftest import make_image

    images, annotations = [], []
    counts = {1: 1, 2: 10, 3: 11, 4: 100, 5: 101}  # category -> train images holding it
    for n in range(101):
        images.append({"id": n + 1, "file_name": f"{n}.png", "width": 8, "height": 8,
                       "neg_category_ids": [], "not_exhaustive_category_ids": []})  # fmt: skip
        make_image(tmp_path / f"{n}.png", 8, 8, color=(n, 0, 0))
        for category, count in counts.items():
            if n < count:
                annotations.append(
                    {"id": len(annotations) + 1, "image_id": n + 1, "category_id": category,
                     "segmentation": [[0, 0, 4, 0, 4, 4]], "bbox": [0, 0, 4, 4]}
                )  # fmt: skip
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": f"c{c}", "frequency": "f"} for c in [*counts, 6]],
    }
    import_lvis(empty_project, write_json(tmp_path / "lvis.json", doc), split="train")
    out = export_lvis(empty_project)
    frequency = {c["id"]: c["frequency"] for c in out["categories"]}
    assert frequency == {1: "r", 2: "r", 3: "c", 4: "c", 5: "f", 6: "r"}
    assert {c["id"]: c["image_count"] for c in out["categories"]} == {**counts, 6: 0}


def test_reference_only_import_needs_no_pixels(v05: dict, test_data: Path, empty_project):
    report = import_lvis(
        empty_project,
        test_data / "lvis_v05_val_100.json",
        images_root=test_data,
        reference_only=True,
        repair_boxes=True,
    )
    assert (report.instances, report.images_added) == (977, 100)
    with empty_project.read() as conn:
        rows = conn.execute(select(s.images.c.sha256, s.images.c.path)).all()
    assert all(r.sha256 is None for r in rows)
    assert all(r.path.endswith(".jpg") for r in rows)
    coco = export_coco(empty_project)
    assert len(coco["annotations"]) == 977


def test_lvis_lists_that_contradict_the_annotations_are_problems(
    empty_project: Project, tmp_path: Path
) -> None:
    doc = small_coco(tmp_path)
    for image in doc["images"]:
        image["neg_category_ids"], image["not_exhaustive_category_ids"] = [], []
    doc["images"][0]["neg_category_ids"] = [18, 3]  # dog has an annotation on image 11
    doc["images"][1]["neg_category_ids"] = [3]
    doc["images"][1]["not_exhaustive_category_ids"] = [3, 99]
    before = snapshot(empty_project)
    with pytest.raises(FormatError) as caught:
        import_lvis(empty_project, write_json(tmp_path / "lvis.json", doc))
    lines = str(caught.value).splitlines()[1:]
    assert any(
        "image 11: categories [18] are in neg_category_ids but have annotations" in x for x in lines
    )
    assert any(
        "image 12: 'not_exhaustive_category_ids' names unknown categories [99]" in x for x in lines
    )
    assert any("image 12: categories [3] are both negative and not exhaustive" in x for x in lines)
    assert snapshot(empty_project) == before

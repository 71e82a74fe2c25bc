"""Ids survive: image and category ids from the file (0 included) come back out, a
split's export uses the same ids as the whole export, and exported_ids() is the one
rule a results file uses."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from test_formats_util import small_coco, write_json

from pipeline.formats import export_coco, exported_ids, import_coco
from pipeline.store import schema as s
from pipeline.store.database import Project


def _zero_based(root: Path) -> dict:
    doc = small_coco(root)
    remap_images = {11: 0, 12: 1, 13: 2}
    remap_categories = {1: 0, 18: 1, 3: 2}
    for image in doc["images"]:
        image["id"] = remap_images[image["id"]]
    for category in doc["categories"]:
        category["id"] = remap_categories[category["id"]]
    for ann in doc["annotations"]:
        ann["image_id"] = remap_images[ann["image_id"]]
        ann["category_id"] = remap_categories[ann["category_id"]]
    doc["annotations"][0]["id"] = 0
    return doc


def test_image_and_category_id_zero_come_back_out(tmp_path: Path) -> None:
    doc = _zero_based(tmp_path)
    path = write_json(tmp_path / "zero.json", doc)
    with Project.create(tmp_path / "project") as project:
        import_coco(project, path, images_root=tmp_path)
        out = export_coco(project)
        ids = exported_ids(project)
    assert sorted(i["id"] for i in out["images"]) == [0, 1, 2]
    assert sorted(c["id"] for c in out["categories"]) == [0, 1, 2]
    assert sorted(ids.images.values()) == [0, 1, 2]
    by_file = {i["file_name"]: i["id"] for i in out["images"]}
    assert by_file == {"a.png": 0, "b.png": 1, "sub/c.png": 2}
    # Annotation id 0 is renumbered (COCOeval takes a matched gt id 0 for unmatched).
    assert 0 not in {a["id"] for a in out["annotations"]}
    assert {a["id"] for a in out["annotations"]} == {102, 103, 104, 105}


def test_a_split_export_and_exported_ids_agree(tmp_path: Path) -> None:
    doc = small_coco(tmp_path)
    path = write_json(tmp_path / "a.json", doc)
    with Project.create(tmp_path / "project") as project:
        import_coco(project, path, images_root=tmp_path, split="val")
        ids = exported_ids(project)
        whole = export_coco(project)
        val = export_coco(project, split="val")
        with project.read() as conn:
            rows = conn.execute(select(s.images.c.id, s.images.c.file_name)).all()
    exported = {i["file_name"]: i["id"] for i in whole["images"]}
    assert {i["file_name"]: i["id"] for i in val["images"]} == exported
    assert {name: ids.image(pid) for pid, name in rows} == exported

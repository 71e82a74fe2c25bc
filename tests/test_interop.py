"""Interoperability: data from one vocabulary imported into a project of another.

The one matching rule (:func:`pipeline.vocabulary.match_categories`: name, then
synonym, then synset) decides which project category an input category is; what
still matches nothing is reported (in ``--json`` too); where the project's vocabulary
and the file disagree, the project's metadata is kept and every differing field is
a note (docs/formats.md, "Categories").
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import make_image
from sqlalchemy import func, select
from test_formats_util import write_json

from app.cli.main import main
from pipeline.formats import import_coco, import_labelme, import_lvis
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.vocabulary import add_categories, normalize, shipped_vocabulary

# The COCO categories that matching by name alone lost against LVIS v1 (issue 14).
LOST_BY_NAME = {
    "car": "car_(automobile)",
    "bus": "bus_(vehicle)",
    "train": "train_(railroad_vehicle)",
    "tie": "necktie",
    "skis": "ski",
    "sports ball": "ball",
    "wine glass": "wineglass",
    "orange": "orange_(fruit)",
    "potted plant": "flowerpot",
    "laptop": "laptop_computer",
    "mouse": "mouse_(computer_equipment)",
    "remote": "remote_control",
    "keyboard": "computer_keyboard",
    "cell phone": "cellular_telephone",
    "microwave": "microwave_oven",
    "hair drier": "hair_dryer",
}


@pytest.fixture
def lvis_project(tmp_path: Path):
    with Project.create(tmp_path / "lvis-project") as project:
        add_categories(project, shipped_vocabulary("lvis"))
        yield project


def _instances_by_category(project: Project) -> Counter:
    with project.read() as conn:
        rows = conn.execute(
            select(s.categories.c.name, func.count())
            .select_from(s.instances.join(s.categories))
            .group_by(s.categories.c.name)
        ).all()
    return Counter(dict(rows))


def test_coco_annotations_land_in_the_lvis_categories_they_are(lvis_project, tiny_coco):
    truth = tiny_coco / "annotations" / "instances_val2017.json"
    doc = json.loads(truth.read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    given = Counter(names[a["category_id"]] for a in doc["annotations"] if not a["iscrowd"])
    report = import_coco(lvis_project, truth, reference_only=True)
    stored = _instances_by_category(lvis_project)
    for coco_name, lvis_name in LOST_BY_NAME.items():
        assert stored[lvis_name] == given[coco_name], coco_name
        assert stored[coco_name] == 0
    # LVIS v1 has no hot dog (frank.n.02): the one COCO category that stays new.
    assert report.categories_unmatched == ["hot dog"]
    assert (report.categories_added, report.categories_matched) == (1, 79)
    assert "of which 1 not in the project's vocabulary (hot dog)" in report.summary()
    with lvis_project.read() as conn:
        assert conn.execute(select(func.count()).select_from(s.categories)).scalar() == 1204
    hair = [n.message for n in report.notes if "'hair drier'" in n.message]
    [ours] = [c for c in shipped_vocabulary("lvis").categories if c.name == "hair_dryer"]
    assert hair == [
        "the project's category 'hair_dryer' keeps its name 'hair_dryer' (the file's "
        f"'hair drier', matched by a synonym); id {ours.source_id} (the file's 89)"
    ]


def test_import_json_lists_the_categories_that_matched_nothing(tmp_path: Path, capsys):
    make_image(tmp_path / "a.png", 40, 30)
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "annotations": [
            {
                "id": 9,
                "image_id": 1,
                "category_id": 2,
                "bbox": [2, 2, 8, 6],
                "iscrowd": 0,
                "segmentation": [[2, 2, 10, 2, 10, 8, 2, 8]],
                "area": 48,
            },
        ],  # fmt: skip
        "categories": [
            {"id": 1, "name": "automobile"},
            {"id": 2, "name": "snark"},
            {"id": 3, "name": "boojum"},
        ],
    }
    path = write_json(tmp_path / "set.json", doc)
    project = str(tmp_path / "p")
    assert main(["init", project, "--images", str(tmp_path / "none"), "--vocabulary", "coco"]) != 0
    (tmp_path / "none").mkdir()
    assert main(["init", project, "--images", str(tmp_path / "none"), "--vocabulary", "coco"]) == 0
    capsys.readouterr()
    assert main(["import", project, str(path), "--format", "coco", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["categories_unmatched"] == ["snark", "boojum"]
    assert (out["categories_matched"], out["categories_added"], out["instances"]) == (1, 2, 1)
    located = [n for n in out["notes"] if n.get("category_id") == 2]
    assert located and "matches no category" in located[0]["message"]


def test_lvis_v05_metadata_that_differs_from_the_project_is_reported_field_by_field(
    lvis_project, test_data: Path
):
    path = test_data / "lvis_v05_val_100.json"
    v05 = json.loads(path.read_text())["categories"]
    v1 = {normalize(c.name): c for c in shipped_vocabulary("lvis").categories}
    report = import_lvis(lvis_project, path, reference_only=True, repair_boxes=True)
    notes = {n.category_id: n.message for n in report.notes if n.category_id is not None}
    differs = Counter()
    for c in v05:
        ours = v1.get(normalize(c["name"]))
        if ours is None:
            continue
        for field, mine, theirs in (
            ("id", ours.source_id, c["id"]),
            ("frequency", ours.frequency, c["frequency"]),
            ("definition", ours.definition, c["def"]),
        ):
            if mine != theirs:
                differs[field] += 1
                assert f"{field} {mine!r} (the file's {theirs!r})" in notes[c["id"]]
    # The counts of silently replaced metadata, now each a note.
    assert (differs["frequency"], differs["definition"]) == (169, 24)
    assert differs["id"] > 1000
    # The project's vocabulary is what it was: LVIS v1's ids and frequencies.
    with lvis_project.read() as conn:
        rows = conn.execute(
            select(s.categories.c.name, s.categories.c.source_id, s.categories.c.frequency)
        ).all()
    for row in rows:
        if normalize(row.name) in v1:
            assert (row.source_id, row.frequency) == (
                v1[normalize(row.name)].source_id,
                v1[normalize(row.name)].frequency,
            )


def test_labelme_labels_meet_the_vocabulary_by_synonym(coco_project: Project, tmp_path: Path):
    make_image(tmp_path / "street.png", 40, 30)
    shapes = [
        {"label": label, "points": points, "shape_type": "polygon", "group_id": None, "flags": {}}
        for label, points in (
            ("automobile", [[1, 1], [9, 1], [9, 9]]),
            ("cellphone", [[20, 5], [30, 5], [30, 15]]),
            ("Hair_Dryer", [[2, 20], [12, 20], [12, 28]]),
        )
    ]
    doc = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": "street.png",
           "imageData": None, "imageHeight": 30, "imageWidth": 40}  # fmt: skip
    write_json(tmp_path / "street.json", doc)
    report = import_labelme(coco_project, tmp_path / "street.json")
    assert _instances_by_category(coco_project) == Counter(
        {"car": 1, "cell phone": 1, "hair drier": 1}
    )
    assert (report.categories_added, report.categories_unmatched) == (0, [])

"""COCO import and export: round trips (tiny COCO, generated cases), pycocotools, the
stored conventions, mask forms, determinism and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from stages_support import store_accepted_segment
from test_formats_util import (
    assert_same_annotations,
    mask_iou,
    small_coco,
    snapshot,
    write_json,
)

from app.cli import main
from pipeline.annotations import insert_instance, segment_values
from pipeline.formats import FormatError, export_coco, export_project, import_coco
from pipeline.formats.masks import encode_polygons
from pipeline.masks.geometry import Mask, PolygonPart
from pipeline.store import schema as s
from pipeline.store.database import Project

# ---------------------------------------------------------------- tiny COCO round trip


@pytest.fixture(scope="module")
def tiny_round_trip(tiny_coco: Path, tmp_path_factory: pytest.TempPathFactory):
    """tiny COCO's two files imported into one project, and the project exported."""
    folder = tmp_path_factory.mktemp("tiny")
    sources = {}
    with Project.create(folder / "project") as project:
        for split in ("train", "val"):
            path = tiny_coco / "annotations" / f"instances_{split}2017.json"
            sources[split] = json.loads(path.read_text())
            report = import_coco(project, path, images_root=tiny_coco / f"{split}2017")
            assert report.ok and report.split == split
        out = folder / "export.json"
        doc, summary = export_project(project, "coco", out)
        split_docs = {split: export_coco(project, split=split) for split in ("train", "val")}
    yield sources, doc, split_docs, out, summary


def test_tiny_coco_round_trip_keeps_every_instance(tiny_round_trip) -> None:
    sources, doc, split_docs, _, summary = tiny_round_trip
    assert summary.annotations == 852 and summary.crowd == 10 and summary.images == 100
    for split, source in sources.items():
        exported = split_docs[split]
        assert_same_annotations(source, exported)
        assert len(exported["annotations"]) == len(source["annotations"])
        crowd = {a["id"] for a in source["annotations"] if a["iscrowd"]}
        assert {a["id"] for a in exported["annotations"] if a["iscrowd"]} == crowd
        # Identical categories: ids, names, supercategories.
        assert exported["categories"] == sorted(
            ({k: c[k] for k in ("id", "name", "supercategory")} for c in source["categories"]),
            key=lambda c: c["id"],
        )
        # Images keep id, file name, size, coco_url and their licence fields.
        by_id = {i["id"]: i for i in exported["images"]}
        for image in source["images"]:
            assert by_id[image["id"]] == image


def test_tiny_coco_export_boxes_and_areas_follow_the_masks(tiny_round_trip) -> None:
    _, doc, _, _, _ = tiny_round_trip
    sizes = {i["id"]: (i["height"], i["width"]) for i in doc["images"]}
    for ann in doc["annotations"][:200]:
        mask = Mask.from_coco(ann["segmentation"], *sizes[ann["image_id"]])
        assert ann["area"] == mask.area
        assert ann["bbox"] == pytest.approx(list(mask.bbox), abs=1e-5)


def test_export_loads_in_pycocotools_and_scores_ap_one_against_itself(tiny_round_trip) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    _, doc, _, out, _ = tiny_round_trip
    gt = COCO(str(out))
    assert len(gt.getAnnIds()) == 852
    results = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "segmentation": gt.annToRLE(a),
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in doc["annotations"]
        if not a["iscrowd"]
    ]
    for iou_type in ("segm", "bbox"):
        dt = gt.loadRes([dict(r) for r in results])
        evaluation = COCOeval(gt, dt, iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        assert evaluation.stats[0] == pytest.approx(1.0)


def test_export_writes_the_same_bytes_twice(tiny_coco: Path, tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as project:
        import_coco(project, tiny_coco / "annotations" / "instances_val2017.json")
        first = export_coco(project, tmp_path / "a.json")
    with Project.open(tmp_path / "p") as project:
        export_coco(project, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert json.loads((tmp_path / "a.json").read_bytes()) == first


# ---------------------------------------------------------------- conventions


def test_imported_rows_follow_the_pipeline_conventions(empty_project: Project, tmp_path) -> None:
    doc = small_coco(tmp_path)
    report = import_coco(empty_project, write_json(tmp_path / "train.json", doc), federated=True)
    assert (report.instances, report.crowd, report.images_added) == (3, 1, 3)
    assert report.split == "train"
    with empty_project.read() as conn:
        instances = {r.source_id: r for r in conn.execute(select(s.instances))}
        segments = {r.instance_id: r for r in conn.execute(select(s.segments))}
        pairs = conn.execute(select(s.image_categories)).all()
        images = {r.file_name: r for r in conn.execute(select(s.images))}
        categories = {r.name: r for r in conn.execute(select(s.categories))}
    assert set(instances) == {101, 102, 103, 104}
    for source_id, row in instances.items():
        assert (row.status, row.source) == (s.ACCEPTED, s.SOURCE_IMPORTED)
        assert row.is_crowd == (source_id == 103)
        segment = segments[row.id]
        assert (segment.status, segment.source, segment.tool, segment.version) == (
            s.SEGMENT_ACCEPTED,
            s.SOURCE_IMPORTED,
            "imported",
            1,
        )
    assert (instances[102].box_x, instances[102].box_w) == (20.5, 14.5)
    # Stored exactly as annotations.segment_values stores the mask.
    polygon = Mask.from_coco(doc["annotations"][0]["segmentation"], 30, 40)
    stored = segments[instances[101].id]
    assert stored.mask == segment_values(polygon)["mask"]
    assert stored.area == polygon.area
    # --federated: positive pairs confirmed, imported, exhaustive unknown; the crowd-only
    # pair none; no negatives (test_formats_rules has the exhaustive default).
    person, dog = categories["person"].id, categories["dog"].id
    image_a, image_b = images["a.png"].id, images["b.png"].id
    assert sorted((p.image_id, p.category_id) for p in pairs) == sorted(
        [(image_a, person), (image_a, dog), (image_b, dog)]
    )
    for pair in pairs:
        assert (pair.state, pair.source, pair.exhaustive) == (s.CONFIRMED, s.SOURCE_IMPORTED, None)
    assert images["sub/c.png"].path == str(Path("..") / "sub" / "c.png")
    assert images["a.png"].extra == {"source_id": 11, "license": 1}
    assert categories["dog"].source_id == 18


def test_small_round_trip_with_rle_and_crowd(empty_project: Project, tmp_path: Path) -> None:
    doc = small_coco(tmp_path)
    import_coco(empty_project, write_json(tmp_path / "set.json", doc))
    out = export_coco(empty_project)
    assert_same_annotations(doc, out, min_iou=1.0)
    by_id = {a["id"]: a for a in out["annotations"]}
    assert by_id[103]["iscrowd"] == 1 and isinstance(by_id[103]["segmentation"], dict)
    # The uncompressed RLE goes out compressed.
    assert isinstance(by_id[104]["segmentation"]["counts"], str)
    assert out["licenses"] == doc["licenses"]
    assert [c["id"] for c in out["categories"]] == [1, 3, 18]


def test_categories_merge_by_name_with_the_vocabulary(coco_project: Project, tmp_path) -> None:
    doc = small_coco(tmp_path)
    doc["categories"][1]["name"] = "Dog"  # same category, other spelling
    report = import_coco(coco_project, write_json(tmp_path / "set.json", doc))
    assert (report.categories_added, report.categories_matched) == (0, 3)
    out = export_coco(coco_project)
    assert len(out["categories"]) == 80
    names = {c["id"]: c["name"] for c in out["categories"]}
    assert names[18] == "dog" and names[1] == "person"


def test_new_categories_are_added_and_ids_kept_where_free(empty_project: Project, tmp_path):
    doc = small_coco(tmp_path)
    import_coco(empty_project, write_json(tmp_path / "one.json", doc))
    other = {
        "images": [{"id": 11, "file_name": "b2.png", "width": 20, "height": 20}],
        "annotations": [
            {
                "id": 101,
                "image_id": 11,
                "category_id": 1,
                "segmentation": [[1, 1, 5, 1, 5, 5]],
                "bbox": [1, 1, 4, 4],
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "zebra"}],
    }
    from conftest import make_image

    make_image(tmp_path / "more" / "b2.png", 20, 20, color=(5, 5, 5))
    report = import_coco(
        empty_project, write_json(tmp_path / "two.json", other), images_root=tmp_path / "more"
    )
    assert report.categories_added == 1
    out = export_coco(empty_project)
    # zebra's id 1 is person's: it gets the next free id; image 11 and annotation 101 too.
    assert {c["name"]: c["id"] for c in out["categories"]}["zebra"] == 19
    assert sorted(i["id"] for i in out["images"]) == [11, 12, 13, 14]
    assert sorted(a["id"] for a in out["annotations"]) == [101, 102, 103, 104, 105]


def test_images_already_in_the_project_are_reused(tiny_coco: Path, tmp_path: Path) -> None:
    from pipeline.images import add_image_folder

    with Project.create(tmp_path / "p") as project:
        add_image_folder(project, tiny_coco / "val2017")
        report = import_coco(project, tiny_coco / "annotations" / "instances_val2017.json")
        assert (report.images_added, report.images_reused) == (0, 50)
        assert project.counts()["images"] == 50
        with project.read() as conn:
            assert set(conn.execute(select(s.images.c.split)).scalars()) == {"val"}
        before = snapshot(project)
        with pytest.raises(FormatError, match="was already imported"):
            import_coco(project, tiny_coco / "annotations" / "instances_val2017.json")
        assert snapshot(project) == before


def test_split_comes_from_the_option_the_file_name_or_the_project(
    empty_project: Project, tmp_path: Path
) -> None:
    doc = small_coco(tmp_path)
    one = {**doc, "images": doc["images"][:1], "annotations": doc["annotations"][:1]}
    two = {**doc, "images": doc["images"][1:2], "annotations": doc["annotations"][3:]}
    three = {**doc, "images": doc["images"][2:], "annotations": []}
    assert (
        import_coco(empty_project, write_json(tmp_path / "instances_val2017.json", one)).split
        == "val"
    )
    assert (
        import_coco(empty_project, write_json(tmp_path / "x.json", two), split="test").split
        == "test"
    )
    assert import_coco(empty_project, write_json(tmp_path / "y.json", three)).split == "train"
    assert [i["id"] for i in export_coco(empty_project, split="val")["images"]] == [11]


# ---------------------------------------------------------------- mask forms


def holed_square() -> Mask:
    """A 18x7 square with a 6x3 square hole, on a 40x30 image."""
    return Mask.from_polygons(
        [
            PolygonPart(
                [(20, 2), (38, 2), (38, 9), (20, 9)], ([(24, 4), (30, 4), (30, 7), (24, 7)],)
            )
        ],
        30,
        40,
    )


def _holed_project(project: Project, tmp_path: Path) -> tuple[int, int]:
    """small_coco plus a square with a square hole and a brush-painted (RLE) mask, both on
    image a.png as "car"; returns (that image's id, car's id)."""
    import_coco(project, write_json(tmp_path / "set.json", small_coco(tmp_path)))
    with project.write() as conn:
        image_id = conn.execute(
            select(s.images.c.id).where(s.images.c.file_name == "a.png")
        ).scalar()
        category = conn.execute(
            select(s.categories.c.id).where(s.categories.c.name == "car")
        ).scalar()
        painted = np.zeros((30, 40), dtype=np.uint8)
        painted[12:18, 3:9] = 1
        for mask in (holed_square(), Mask.from_bitmap(painted)):
            instance = insert_instance(conn, image_id, category, status=s.ACCEPTED)
            store_accepted_segment(conn, instance, mask, tool="brush", source=s.SOURCE_PIPELINE)
    return image_id, category


def test_auto_masks_write_holes_and_brush_masks_as_rle(empty_project: Project, tmp_path) -> None:
    _holed_project(empty_project, tmp_path)
    doc, summary = export_project(empty_project, "coco")
    new = [a for a in doc["annotations"] if a["category_id"] == 3]
    assert len(new) == 2 and all(isinstance(a["segmentation"], dict) for a in new)
    assert [a["id"] for a in new] == [105, 106]  # numbered after the imported ids
    assert new[0]["area"] == 18 * 7 - 6 * 3
    polygons = [a for a in doc["annotations"] if a["id"] in (101, 102)]
    assert all(isinstance(a["segmentation"], list) for a in polygons)
    assert not summary.lossy


def test_polygon_export_of_a_holed_mask_says_what_it_changes(empty_project, tmp_path) -> None:
    _holed_project(empty_project, tmp_path)
    doc, summary = export_project(empty_project, "coco", masks="polygon")
    assert all(isinstance(a["segmentation"], list) for a in doc["annotations"])
    assert summary.lossy == [(105, 18)]
    assert "changed 18 pixels (holes filled, RLE traced) in 1 masks (first: annotation 105)" in (
        summary.summary()
    )
    holed = next(a for a in doc["annotations"] if a["id"] == 105)
    assert holed["area"] == 18 * 7  # the area of the polygon as written: its hole is filled


def test_rle_export_writes_every_mask_as_rle(empty_project: Project, tmp_path: Path) -> None:
    doc = small_coco(tmp_path)
    import_coco(empty_project, write_json(tmp_path / "set.json", doc))
    out = export_coco(empty_project, masks="rle")
    assert all(isinstance(a["segmentation"], dict) for a in out["annotations"])
    assert_same_annotations(doc, out, min_iou=1.0)


# ---------------------------------------------------------------- generated cases


def test_bulk_encoding_equals_segment_values() -> None:
    rng = np.random.default_rng(7)
    segmentations = []
    for _ in range(300):
        parts = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(3, 12))
            points = rng.uniform(0, [64, 48], size=(n, 2)).round(int(rng.integers(0, 3)))
            parts.append(points.reshape(-1).tolist())
        segmentations.append(parts)
    encoded = encode_polygons(segmentations, 48, 64)
    for i, seg in enumerate(segmentations):
        if not encoded.ok(i):  # a random part may have zero area
            continue
        values = segment_values(Mask.from_coco(seg, 48, 64))
        assert encoded.data[i] == values["mask"]
        assert encoded.areas[i] == values["area"]
        assert tuple(encoded.boxes[i]) == (
            values["bbox_x"],
            values["bbox_y"],
            values["bbox_w"],
            values["bbox_h"],
        )
    assert sum(encoded.ok(i) for i in range(300)) > 250


@st.composite
def coco_documents(draw):
    """A COCO document of 1-3 images with random polygons, RLE and crowd regions."""
    images, annotations = [], []
    next_id = 1
    n_categories = draw(st.integers(1, 4))
    for image_id in range(1, draw(st.integers(1, 3)) + 1):
        w, h = draw(st.integers(8, 40)), draw(st.integers(8, 40))
        images.append({"id": image_id * 7, "file_name": f"{image_id}.png", "width": w, "height": h})
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["polygon", "polygon", "rle", "crowd"]))
            category = draw(st.integers(1, n_categories))
            if kind == "polygon":
                parts = []
                for _ in range(draw(st.integers(1, 3))):
                    x0 = draw(st.integers(0, w - 3))
                    y0 = draw(st.integers(0, h - 3))
                    x1 = draw(st.integers(x0 + 1, w))
                    y1 = draw(st.integers(y0 + 1, h))
                    dx = draw(st.floats(0, x1 - x0, allow_nan=False))
                    parts.append([x0 + dx, y0, x1, y1, x0, y1])
                segmentation = parts
                mask = Mask.from_coco(parts, h, w)
            else:
                bits = draw(st.lists(st.booleans(), min_size=w * h, max_size=w * h))
                grid = np.array(bits, dtype=np.uint8).reshape(h, w)
                if not grid.any():
                    grid[0, 0] = 1
                mask = Mask.from_bitmap(grid)
                segmentation = mask.coco_rle()
            annotations.append(
                {
                    "id": next_id * 3,
                    "image_id": image_id * 7,
                    "category_id": category,
                    "segmentation": segmentation,
                    "bbox": list(mask.bbox),
                    "iscrowd": int(kind == "crowd"),
                }
            )
            next_id += 1
    categories = [{"id": c * 5, "name": f"thing {c}"} for c in range(1, n_categories + 1)]
    for ann in annotations:
        ann["category_id"] *= 5
    return {"images": images, "annotations": annotations, "categories": categories}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=coco_documents())
def test_generated_documents_round_trip(doc, tmp_path_factory) -> None:
    from conftest import make_image

    folder = tmp_path_factory.mktemp("generated")
    for image in doc["images"]:
        make_image(folder / image["file_name"], image["width"], image["height"])
    with Project.create(folder / "project") as project:
        report = import_coco(project, write_json(folder / "doc.json", doc))
        assert report.ok
        out = export_coco(project)
    assert_same_annotations(doc, out, min_iou=0.99)
    assert sorted(c["id"] for c in out["categories"]) == [c["id"] for c in doc["categories"]]
    crowd = {a["id"] for a in doc["annotations"] if a["iscrowd"]}
    assert {a["id"] for a in out["annotations"] if a["iscrowd"]} == crowd
    for ann in out["annotations"]:
        image = next(i for i in out["images"] if i["id"] == ann["image_id"])
        assert (
            mask_iou(ann["segmentation"], ann["segmentation"], image["height"], image["width"]) == 1
        )


# ---------------------------------------------------------------- the CLI


def test_cli_import_and_export(tiny_coco: Path, tmp_path: Path, capsys) -> None:
    Project.create(tmp_path / "p").close()
    path = tiny_coco / "annotations" / "instances_val2017.json"
    assert main(["import", str(tmp_path / "p"), str(path), "--format", "coco"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("imported 377 instances and 5 crowd regions on 50 images")
    assert "split val" in line
    out = tmp_path / "out.json"
    assert (
        main(["export", str(tmp_path / "p"), str(out), "--format", "coco", "--masks", "rle"]) == 0
    )
    line = capsys.readouterr().out.strip()
    assert line == f"wrote {out}: COCO: 50 images, 382 annotations (5 crowd), 80 categories"
    assert all(
        isinstance(a["segmentation"], dict) for a in json.loads(out.read_text())["annotations"]
    )


def test_cli_reports_bad_input_on_one_line_per_problem_and_fails(tmp_path, capsys) -> None:
    Project.create(tmp_path / "p").close()
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    assert main(["import", str(tmp_path / "p"), str(bad), "--format", "coco"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("longtail: error: coco import of")
    assert "not valid JSON" in err and "line 1, column 13" in err
    assert main(["export", str(tmp_path / "p"), str(tmp_path / "o.json"), "--format", "coco",
                 "--split", "nope"]) == 1  # fmt: skip
    assert "no images in split 'nope'" in capsys.readouterr().err

"""The import rules of issue 19: one box rule (the file's bbox is kept, a disagreement is
reported, never refused), every export mode re-imports strictly and pixel-equal,
box-only annotations become marked instances, degenerate polygon parts are dropped with
a note, empty placeholder categories are not created, and --lenient lists each drop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from test_formats_util import bitmap, mutated, small_coco, write_json

from app.cli import main
from pipeline.formats import FormatError, export_project, import_coco, import_lvis
from pipeline.stages.seeding import seed
from pipeline.store import schema as s
from pipeline.store.database import Project

# ---------------------------------------------------------------- every export re-imports


@pytest.fixture(scope="module")
def tiny_val_project(tiny_coco: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("tiny-val")
    with Project.create(folder / "project") as project:
        path = tiny_coco / "annotations" / "instances_val2017.json"
        assert import_coco(project, path, images_root=tiny_coco / "val2017").ok
        yield project, folder


@pytest.mark.parametrize("fmt", ["coco", "lvis"])
@pytest.mark.parametrize("masks", ["auto", "polygon", "rle"])
def test_every_export_mode_reimports_strictly_with_equal_counts_and_pixels(
    fmt: str, masks: str, tiny_val_project, tiny_coco: Path, tmp_path: Path
) -> None:
    project, _ = tiny_val_project
    out = tmp_path / f"{fmt}-{masks}.json"
    doc, _ = export_project(project, fmt, out, masks=masks)
    importer = import_lvis if fmt == "lvis" else import_coco
    with Project.create(tmp_path / "again") as again:
        report = importer(again, out, images_root=tiny_coco / "val2017", split="val")
        assert report.ok and report.boxes_disagreeing == 0, report.text()
        assert not [n for n in report.notes if "disagrees" in n.message]
        second, _ = export_project(again, fmt, masks=masks)
    assert len(second["annotations"]) == len(doc["annotations"])
    assert len(second["images"]) == len(doc["images"])
    sizes = {i["id"]: (i["height"], i["width"]) for i in doc["images"]}
    by_id = {a["id"]: a for a in second["annotations"]}
    for ann in doc["annotations"]:
        got = by_id[ann["id"]]
        h, w = sizes[ann["image_id"]]
        assert np.array_equal(
            bitmap(ann["segmentation"], h, w), bitmap(got["segmentation"], h, w)
        ), ann["id"]
        assert got["bbox"] == pytest.approx(ann["bbox"], abs=1e-5)


def test_an_rle_export_writes_the_extent_of_the_rle_it_writes(tiny_val_project) -> None:
    from pycocotools import mask as mask_utils

    project, _ = tiny_val_project
    doc, _ = export_project(project, "coco", masks="rle")
    for ann in doc["annotations"][:100]:
        rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        assert ann["bbox"] == pytest.approx(mask_utils.toBbox(rle).tolist(), abs=1e-6)


# ---------------------------------------------------------------- the box rule


def test_a_float_noise_box_is_quiet_and_a_wrong_box_is_kept_and_reported(tmp_path: Path) -> None:
    def change(doc: dict) -> None:
        doc["annotations"][0]["bbox"] = [2, 2, 16.0000048 + 1, 7]  # supervision's noise
        doc["annotations"][1]["bbox"] = [20.5, 10.25, 20, 15.5]  # 5.5 px too wide

    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    with Project.create(tmp_path / "project") as project:
        report = import_coco(project, path, images_root=tmp_path)
        with project.read() as conn:
            boxes = dict(
                (r.source_id, (r.box_x, r.box_y, r.box_w, r.box_h))
                for r in conn.execute(select(s.instances))
            )
    assert report.ok and report.instances == 3
    assert report.boxes_disagreeing == 1 and report.largest_box_gap == pytest.approx(5.5)
    assert boxes[102] == (20.5, 10.25, 20, 15.5)  # the file's truth, kept
    assert "1 boxes disagree with their masks by up to 5.5 px" in report.summary()
    assert "--repair-boxes" in report.summary()
    [note] = [n for n in report.notes if "disagrees" in n.message]
    assert note.annotation_id == 102 and "the file's bbox is kept" in note.message


def test_repair_boxes_takes_the_masks_extent(tmp_path: Path) -> None:
    def change(doc: dict) -> None:
        doc["annotations"][1]["bbox"] = [20.5, 10.25, 20, 15.5]

    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    with Project.create(tmp_path / "project") as project:
        report = import_coco(project, path, images_root=tmp_path, repair_boxes=True)
        with project.read() as conn:
            box = conn.execute(
                select(s.instances.c.box_w).where(s.instances.c.source_id == 102)
            ).scalar_one()
    assert box == pytest.approx(14.5)
    assert "taken from their masks" in report.summary()


# ---------------------------------------------------------------- box-only annotations


def _with_box_only(tmp_path: Path) -> Path:
    def change(doc: dict) -> None:
        doc["annotations"].append(
            {"id": 0, "image_id": 13, "category_id": 3, "segmentation": [],
             "area": 24.0, "bbox": [2, 3, 6, 4], "iscrowd": 0}
        )  # fmt: skip

    return write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))


def test_a_box_only_annotation_is_a_marked_instance_that_stage_3_segments(
    tmp_path: Path,
) -> None:
    path = _with_box_only(tmp_path)
    with Project.create(tmp_path / "project") as project:
        report = import_coco(project, path, images_root=tmp_path)
        assert report.ok and report.box_only == 1
        assert "1 box-only instances" in report.summary()
        with project.read() as conn:
            row = conn.execute(select(s.instances).where(s.instances.c.box_w == 6)).one()
            segments = conn.execute(
                select(s.segments).where(s.segments.c.instance_id == row.id)
            ).all()
        assert row.status == s.MARKED and not segments
        assert (row.box_x, row.box_y, row.box_w, row.box_h) == (2, 3, 6, 4)
        assert (row.x, row.y) == (5, 5)
        with project.write() as conn:
            seed(conn, project.settings())
            items = conn.execute(
                select(s.work_items).where(
                    s.work_items.c.stage == s.SEGMENTATION, s.work_items.c.instance_id == row.id
                )
            ).all()
        assert len(items) == 1
        plain, summary = export_project(project, "coco")
        assert len(plain["annotations"]) == 4 and summary.unsegmented == 1
        assert "left out" in summary.summary()
        full, summary = export_project(project, "coco", include_unsegmented=True)
    [box_only] = [a for a in full["annotations"] if a["segmentation"] == []]
    assert box_only["bbox"] == [2, 3, 6, 4] and box_only["id"] not in (0, 101, 102, 103, 104)
    assert "--include-unsegmented" in summary.summary()
    # And it comes back as a box-only instance.
    out = write_json(tmp_path / "again.json", full)
    with Project.create(tmp_path / "again") as again:
        assert import_coco(again, out, images_root=tmp_path).box_only == 1


def test_a_box_only_crowd_region_is_refused(tmp_path: Path) -> None:
    def change(doc: dict) -> None:
        doc["annotations"][2]["segmentation"] = []

    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    with (
        Project.create(tmp_path / "project") as project,
        pytest.raises(FormatError, match="annotation 103: a crowd region needs a mask"),
    ):
        import_coco(project, path, images_root=tmp_path)


# ---------------------------------------------------------------- parts and placeholders


def test_a_degenerate_part_is_dropped_with_a_note_and_the_rest_kept(tmp_path: Path) -> None:
    def change(doc: dict) -> None:
        doc["annotations"][0]["segmentation"].append([5, 5, 6, 6, 7, 7])  # on one line
        doc["annotations"][0]["segmentation"].append([1, 1, 3, 3])  # two points

    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    with Project.create(tmp_path / "project") as project:
        report = import_coco(project, path, images_root=tmp_path)
        doc, _ = export_project(project, "coco")
    assert report.ok and report.instances == 3
    [note] = [n for n in report.notes if "no area" in n.message]
    assert note.annotation_id == 101 and "parts 2, 3 of 4" in note.message
    [ann] = [a for a in doc["annotations"] if a["id"] == 101]
    assert len(ann["segmentation"]) == 2


def test_roboflows_empty_placeholder_category_is_not_created(tmp_path: Path) -> None:
    def change(doc: dict) -> None:
        doc["categories"].insert(0, {"id": 0, "name": "pets-abc", "supercategory": "none"})
        for c in doc["categories"][1:]:
            c["supercategory"] = "pets-abc"

    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    with Project.create(tmp_path / "project") as project:
        report = import_coco(project, path, images_root=tmp_path)
        doc, _ = export_project(project, "coco")
    assert report.placeholders == ["pets-abc"]
    assert "1 empty placeholder categories not created (pets-abc)" in report.summary()
    assert sorted(c["name"] for c in doc["categories"]) == ["car", "dog", "person"]


def test_coco_keeps_an_empty_category_that_is_its_own_supercategory(tmp_path: Path) -> None:
    def change(doc: dict) -> None:
        doc["categories"][2]["supercategory"] = "car"  # like COCO's "person"

    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    with Project.create(tmp_path / "project") as project:
        report = import_coco(project, path, images_root=tmp_path)
    assert not report.placeholders and report.categories_added == 3


# ---------------------------------------------------------------- lenient lists each drop


def test_lenient_lists_every_dropped_annotation_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(doc: dict) -> None:
        doc["annotations"][0]["segmentation"] = [[2, 2, 100, 2, 10, 8]]  # outside
        doc["annotations"][3]["iscrowd"] = 7

    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    Project.create(tmp_path / "project").close()
    code = main(
        ["import", str(tmp_path / "project"), str(path), "--format", "coco", "--lenient",
         "--images", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    dropped = [line for line in out.splitlines() if line.startswith("dropped: ")]
    assert len(dropped) == 2
    assert "annotation 101" in dropped[0] and "annotation 104" in dropped[1]
    assert "lies outside the 40x30 image" in out


# ---------------------------------------------------------------- COCO is exhaustive


def _pairs(project: Project) -> dict[tuple[str, str], tuple[str, object]]:
    pl = s.pair_labels  # the stored rows and the implicit negatives of exhaustive images
    with project.read() as conn:
        rows = conn.execute(
            select(s.images.c.file_name, s.categories.c.name, pl.c.state, pl.c.exhaustive)
            .join(s.images, s.images.c.id == pl.c.image_id)
            .join(s.categories, s.categories.c.id == pl.c.category_id)
        ).all()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_a_coco_import_records_absent_categories_as_verified_negatives(
    coco_project: Project, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "set.json", small_coco(tmp_path))
    report = import_coco(coco_project, path, images_root=tmp_path)
    pairs = _pairs(coco_project)
    # The file's categories are person, dog and car: on each image, those without an
    # annotation are verified negatives, those with one exhaustive positives. The other
    # 77 categories of the vocabulary are not the file's: it says nothing of them.
    assert pairs == {
        ("a.png", "person"): (s.CONFIRMED, True),
        ("a.png", "dog"): (s.CONFIRMED, True),
        ("a.png", "car"): (s.NEGATIVE, None),
        ("b.png", "dog"): (s.CONFIRMED, True),
        ("b.png", "person"): (s.NEGATIVE, None),
        ("b.png", "car"): (s.NEGATIVE, None),
        ("sub/c.png", "person"): (s.NEGATIVE, None),
        ("sub/c.png", "dog"): (s.NEGATIVE, None),
        ("sub/c.png", "car"): (s.NEGATIVE, None),
    }
    assert report.negative_pairs == 6
    assert "6 verified negatives" in report.summary() and "--federated" in report.summary()
    # stored once per image (decision 0080): the positives' rows, one set, 3 image rows
    with coco_project.read() as conn:
        stored = conn.execute(select(s.image_categories.c.state)).scalars().all()
        exhaustive = conn.execute(select(s.exhaustive_images.c.image_id)).scalars().all()
    assert sorted(stored) == [s.CONFIRMED] * 3 and len(exhaustive) == 3


def test_federated_keeps_absent_categories_unverified(
    coco_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_json(tmp_path / "set.json", small_coco(tmp_path))
    folder = coco_project.folder
    code = main(["import", str(folder), str(path), "--format", "coco", "--federated",
                 "--images", str(tmp_path)])  # fmt: skip
    assert code == 0
    pairs = _pairs(coco_project)
    assert all(state == s.CONFIRMED and flag is None for state, flag in pairs.values())
    assert len(pairs) == 3


def test_a_vocabulary_that_lacks_the_files_categories_reads_it_as_federated(
    coco_project: Project, tmp_path: Path
) -> None:
    def change(doc: dict) -> None:
        doc["categories"][2]["name"] = "zeppelin"  # not a COCO category

    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    report = import_coco(coco_project, path, images_root=tmp_path)
    assert report.negative_pairs == 0
    assert any("stay unverified" in n.message for n in report.notes)


# ---------------------------------------------------------------- streamed export


@pytest.mark.parametrize("fmt", ["coco", "lvis"])
def test_a_streamed_export_writes_the_same_bytes_as_a_kept_one(
    fmt: str, tiny_val_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.formats import exporting

    project, _ = tiny_val_project
    monkeypatch.setattr(exporting, "STREAM_CHUNK", 7)  # many chunks
    kept, summary = export_project(project, fmt, tmp_path / "kept.json")
    streamed, streamed_summary = export_project(
        project, fmt, tmp_path / "streamed.json", keep_document=False
    )
    assert (tmp_path / "kept.json").read_bytes() == (tmp_path / "streamed.json").read_bytes()
    assert streamed["annotations"] == [] and len(kept["annotations"]) > 7
    assert streamed_summary.summary() == summary.summary().replace("kept.json", "streamed.json")


def test_longtail_import_loads_only_its_own_command() -> None:
    """``import`` lives in importer.py: the command must not build every command's
    parser (evaluation, simulation, matplotlib) to run one import."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from app.cli.main import main\n"
        "try:\n    main(['import', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('matplotlib', 'torch', 'pipeline.evaluation',"
        " 'app.cli.commands.evaluate', 'app.cli.commands.export') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_labelme_import_exports_its_images_under_one_root(tmp_path: Path) -> None:
    """Some images found in the imported folder, one written from its imageData into the
    project's images/: the export names all of them from one folder."""
    import base64
    import io

    from PIL import Image

    from pipeline.formats import import_labelme

    folder = tmp_path / "labelme"
    folder.mkdir()
    shape = {"label": "cat", "points": [[1, 1], [8, 1], [8, 6]], "shape_type": "polygon"}
    Image.new("RGB", (12, 10), (9, 9, 9)).save(folder / "a.png")
    buffer = io.BytesIO()
    Image.new("RGB", (12, 10), (200, 9, 9)).save(buffer, format="PNG")
    for name, data in (("a", None), ("b", base64.b64encode(buffer.getvalue()).decode())):
        record = {"version": "5.5.0", "shapes": [shape], "imagePath": f"{name}.png",
                  "imageData": data, "imageHeight": 10, "imageWidth": 12, "flags": {}}  # fmt: skip
        (folder / f"{name}.json").write_text(json.dumps(record))
    with Project.create(tmp_path / "project") as project:
        report = import_labelme(project, folder)
        assert report.ok and report.images_added == 2
        doc, summary = export_project(project, "coco")
    assert summary.images_root is not None
    assert str(summary.images_root) in summary.summary()
    for image in doc["images"]:
        assert (summary.images_root / image["file_name"]).is_file(), image["file_name"]

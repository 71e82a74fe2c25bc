"""YOLO and VOC through the CLI's import and export: files written by supervision import
with their counts and classes; longtail's exports are read back by supervision (and
VOC's PNG masks by PIL, over the format's spec) with equal counts and masks; a YOLO
dataset survives import and export with its polygons and class ids unchanged."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select
from test_formats_util import bitmap

from app.cli import main
from pipeline.formats import ImportOptions, export_project, import_annotations, import_coco
from pipeline.formats.adapters import export_adapted
from pipeline.store import schema as s
from pipeline.store.database import Project

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # supervision warns that it runs without opencv-python
    import supervision as sv

INTEROP = Path(__file__).parent / "data" / "interop"


@pytest.fixture(scope="module")
def tiny_val(tiny_coco: Path, tmp_path_factory: pytest.TempPathFactory):
    """tiny COCO val imported, and exported as YOLO and VOC folders."""
    folder = tmp_path_factory.mktemp("tiny-val")
    with Project.create(folder / "project") as project:
        path = tiny_coco / "annotations" / "instances_val2017.json"
        import_coco(project, path, images_root=tiny_coco / "val2017")
        coco, _ = export_project(project, "coco", masks="polygon")
        auto, _ = export_project(project, "coco", masks="auto")
        summaries = {fmt: export_adapted(project, fmt, folder / fmt) for fmt in ("yolo", "voc")}
    yield folder, coco, auto, summaries


def _count(project: Project, table) -> int:
    with project.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# ---------------------------------------------------------------- files by real writers


def test_supervisions_yolo_dataset_imports_with_its_counts_and_classes(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as project:
        code = main(["import", str(tmp_path / "p"), str(INTEROP / "supervision_yolo"),
                     "--format", "yolo"])  # fmt: skip
        assert code == 0
        doc, _ = export_project(project, "coco")
    assert len(doc["images"]) == 3 and len(doc["annotations"]) == 9
    assert [(c["id"], c["name"]) for c in doc["categories"]] == [
        (0, "circle"), (1, "square"), (2, "triangle")
    ]  # fmt: skip
    per_class = sorted(a["category_id"] for a in doc["annotations"])
    assert per_class == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_supervisions_voc_folder_imports_with_its_polygons(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as project:
        report = import_annotations(project, INTEROP / "supervision_voc", ImportOptions(kind="voc"))
        doc, _ = export_project(project, "coco")
    assert report.ok and report.instances == 9 and report.box_only == 0
    assert sorted(c["name"] for c in doc["categories"]) == ["circle", "square", "triangle"]
    # The squares come back with their pixels (supervision wrote exact contours).
    squares = [a for a in doc["annotations"] if a["category_id"] == 2]
    assert all(a["area"] > 100 for a in squares)


# ---------------------------------------------------------------- longtail's exports, read back


def test_a_yolo_export_reads_back_in_supervision_with_equal_counts_and_masks(tiny_val) -> None:
    folder, coco, _, summaries = tiny_val
    out = folder / "yolo"
    assert summaries["yolo"].left_out == sum(a["iscrowd"] for a in coco["annotations"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = sv.DetectionDataset.from_yolo(
            images_directory_path=str(out / "images" / "val"),
            annotations_directory_path=str(out / "labels" / "val"),
            data_yaml_path=str(out / "data.yaml"),
            force_masks=True,
        )
    by_name = {Path(i["file_name"]).name: i for i in coco["images"]}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    assert len(dataset) == len(coco["images"])
    ious = []
    for path, _, detections in dataset:
        image = by_name[Path(path).name]
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]]
        assert len(detections) == len(anns)
        if not anns:
            continue
        assert [dataset.classes[k] for k in detections.class_id] == [
            names[a["category_id"]] for a in anns
        ]
        for mask, ann in zip(detections.mask, anns, strict=True):
            ours = bitmap(ann["segmentation"], image["height"], image["width"]).astype(bool)
            ious.append(((mask & ours).sum(), (mask | ours).sum()))
    # supervision rasterises with OpenCV's fill rule, pycocotools with its own: the
    # pixels agree but for a boundary row (which weighs most in small objects).
    inter, union = np.array(ious).sum(axis=0)
    assert inter / union > 0.95
    assert np.median([i / u for i, u in ious]) > 0.9


def test_a_voc_export_reads_back_boxes_in_supervision_and_masks_in_its_pngs(tiny_val) -> None:
    folder, _, auto, summaries = tiny_val
    out = folder / "voc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = sv.DetectionDataset.from_pascal_voc(
            images_directory_path=str(out / "JPEGImages"),
            annotations_directory_path=str(out / "Annotations"),
        )
    by_name = {Path(i["file_name"]).stem: i for i in auto["images"]}
    names = {c["id"]: c["name"] for c in auto["categories"]}
    total = 0
    for path, _, detections in dataset:
        image = by_name[Path(path).stem]
        anns = [a for a in auto["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]]
        assert len(detections) == len(anns)
        total += len(anns)
        assert [dataset.classes[k] for k in detections.class_id] == [
            names[a["category_id"]] for a in anns
        ]
        objects = np.asarray(Image.open(out / "SegmentationObject" / f"{Path(path).stem}.png"))
        classes = np.asarray(Image.open(out / "SegmentationClass" / f"{Path(path).stem}.png"))
        h, w = image["height"], image["width"]
        # Each instance owns the pixels of its mask no later instance covers.
        painted = np.zeros((h, w), dtype=bool)
        crowd = np.zeros((h, w), dtype=bool)
        for a in auto["annotations"]:
            if a["image_id"] == image["id"] and a["iscrowd"]:
                crowd |= bitmap(a["segmentation"], h, w).astype(bool)
        for k in range(len(anns), 0, -1):
            mask = bitmap(anns[k - 1]["segmentation"], h, w).astype(bool) & ~painted & ~crowd
            assert np.array_equal(objects == k, mask), (path, k)
            painted |= mask
        assert np.array_equal(objects == 255, crowd)
        assert np.array_equal(classes > 0, objects > 0)
    assert total == summaries["voc"].annotations


def test_a_voc_export_imports_again_with_equal_counts_and_its_masks(tiny_val, tmp_path) -> None:
    folder, _, auto, summaries = tiny_val
    with Project.create(tmp_path / "again") as project:
        report = import_annotations(project, folder / "voc", ImportOptions(kind="voc"))
        assert report.ok and report.instances == summaries["voc"].annotations
        assert report.split == "val"
        doc, _ = export_project(project, "coco")
    objects = {}
    for image in doc["images"]:
        png = folder / "voc" / "SegmentationObject" / f"{Path(image['file_name']).stem}.png"
        objects[image["id"]] = np.asarray(Image.open(png))
    seen: dict[int, int] = {}
    for ann in doc["annotations"]:
        k = seen[ann["image_id"]] = seen.get(ann["image_id"], 0) + 1
        pixels = objects[ann["image_id"]]
        got = bitmap(ann["segmentation"], *pixels.shape).astype(bool)
        assert np.array_equal(got, pixels == k)


def test_a_yolo_dataset_round_trips_its_polygons_and_class_ids(tiny_val, tmp_path) -> None:
    folder, _, _, _ = tiny_val
    with Project.create(tmp_path / "again") as project:
        report = import_annotations(project, folder / "yolo", ImportOptions(kind="yolo"))
        assert report.ok and report.split == "val"
        assert _count(project, s.instances) == report.instances
        export_adapted(project, "yolo", tmp_path / "yolo2")
    first = sorted((folder / "yolo" / "labels" / "val").glob("*.txt"))
    second = sorted((tmp_path / "yolo2" / "labels" / "val").glob("*.txt"))
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_text() == b.read_text(), a.name


def test_a_yolo_detection_dataset_imports_box_only_instances(tmp_path: Path) -> None:
    root = tmp_path / "det"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    Image.new("RGB", (100, 50)).save(root / "images" / "train" / "a.jpg")
    (root / "labels" / "train" / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n0 0.1 0.1 0.1 0.1\n")
    (root / "data.yaml").write_text("names: [cat, dog]\n")
    with Project.create(tmp_path / "p") as project:
        report = import_annotations(project, root, ImportOptions(kind="yolo"))
        with project.read() as conn:
            boxes = conn.execute(
                select(s.instances.c.box_x, s.instances.c.box_y, s.instances.c.box_w,
                       s.instances.c.box_h, s.instances.c.status).order_by(s.instances.c.id)
            ).all()  # fmt: skip
    assert report.box_only == 2
    assert [tuple(b) for b in boxes] == [
        (pytest.approx(40), pytest.approx(15), pytest.approx(20), pytest.approx(20), s.MARKED),
        (pytest.approx(5), pytest.approx(2.5), pytest.approx(10), pytest.approx(5), s.MARKED),
    ]


def test_a_bad_yolo_line_is_one_located_problem(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    Image.new("RGB", (10, 10)).save(root / "images" / "a.png")
    (root / "labels" / "a.txt").write_text("0 0.1 0.1 0.5\n7 0.1 0.1 0.2 0.2\n")
    (root / "data.yaml").write_text("names: [cat]\n")
    with Project.create(tmp_path / "p") as project:
        report = import_annotations(project, root, ImportOptions(kind="yolo", lenient=True))
    lines = [p.line() for p in report.problems]
    assert len(lines) == 2
    assert "labels/a.txt: annotation line 1: 3 numbers after the class" in lines[0]
    assert "annotation line 2: class 7 is not in data.yaml's names" in lines[1]


# ---------------------------------------------------------------- CVAT XML and Label Studio


CVAT_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><labels>
    <label><name>circle</name><type>any</type></label>
    <label><name>square</name><type>any</type></label>
    <label><name>unused</name><type>any</type></label>
  </labels></task></meta>
  <image id="0" name="shapes_ls.png" width="96" height="64" subset="Validation">
    <polygon label="square" source="manual" occluded="0" z_order="0" group_id="4"
             points="2.0,2.0;10.0,2.0;10.0,8.0;2.0,8.0"></polygon>
    <polygon label="square" source="manual" occluded="0" z_order="0" group_id="4"
             points="20.0,2.0;30.0,2.0;30.0,9.0"></polygon>
    <mask label="circle" source="manual" occluded="0" rle="{rle}" left="{left}" top="{top}"
          width="{width}" height="{height}" z_order="0"></mask>
    <box label="square" source="manual" occluded="0" xtl="40" ytl="30" xbr="60.5" ybr="50"
         z_order="0"></box>
    <polyline label="circle" source="manual" occluded="0" points="1,1;5,5" z_order="0">
    </polyline>
  </image>
</annotations>
"""


def _cvat_runs(crop: np.ndarray) -> list[int]:
    """CVAT's mask runs, by its definition: row by row over the box, 0s first."""
    runs, value, run = [], 0, 0
    for pixel in crop.reshape(-1).tolist():
        if pixel == value:
            run += 1
        else:
            runs.append(run)
            value, run = pixel, 1
    return [*runs, run]


def test_a_cvat_file_imports_groups_masks_and_boxes(tmp_path: Path) -> None:
    """Built to CVAT for images 1.1's documented schema (CVAT itself is a server, not a
    package a test can run)."""
    circle = np.load(INTEROP / "labelstudio" / "circle_mask.npy").astype(np.uint8)
    ys, xs = np.nonzero(circle)
    top, left, bottom, right = ys.min(), xs.min(), ys.max() + 1, xs.max() + 1
    runs = _cvat_runs(circle[top:bottom, left:right])
    text = CVAT_XML.format(rle=", ".join(map(str, runs)), left=left, top=top,
                           width=right - left, height=bottom - top)  # fmt: skip
    (tmp_path / "annotations.xml").write_text(text)
    Image.open(INTEROP / "labelstudio" / "shapes_ls.png").save(tmp_path / "shapes_ls.png")
    with Project.create(tmp_path / "p") as project:
        report = import_annotations(
            project, tmp_path / "annotations.xml", ImportOptions(kind="cvat")
        )
        doc, _ = export_project(project, "coco", include_unsegmented=True)
    assert report.ok and report.split == "validation" and report.box_only == 1
    assert any("<polyline> is not a region" in n.message for n in report.notes)
    names = {c["id"]: c["name"] for c in doc["categories"]}
    assert sorted(names.values()) == ["circle", "square", "unused"]
    by_kind = {names[a["category_id"]] + str(len(a["segmentation"])): a for a in doc["annotations"]}
    assert len(doc["annotations"]) == 3
    assert len(by_kind["square2"]["segmentation"]) == 2  # one instance of two parts
    circle_ann = next(a for a in doc["annotations"] if names[a["category_id"]] == "circle")
    assert np.array_equal(bitmap(circle_ann["segmentation"], 64, 96), circle)
    [box] = [a for a in doc["annotations"] if a["segmentation"] == []]
    assert box["bbox"] == [40, 30, 20.5, 20]


def test_a_cvat_export_reads_back_by_the_schema_and_imports_again(tiny_val, tmp_path) -> None:
    import xml.etree.ElementTree as ET

    folder, _, auto, _ = tiny_val
    with Project.open(folder / "project") as project:
        summary = export_adapted(project, "cvat", tmp_path / "cvat.xml")
    root = ET.parse(tmp_path / "cvat.xml").getroot()
    sizes = {i["file_name"]: (i["height"], i["width"]) for i in auto["images"]}
    anns = [a for a in auto["annotations"] if not a["iscrowd"]]
    assert summary.annotations == len(anns)
    shapes = 0
    for image in root.iter("image"):
        h, w = sizes[image.get("name")]
        for mask in image.iter("mask"):  # every RLE mask, decoded by the schema
            left, top = int(mask.get("left")), int(mask.get("top"))
            mw, mh = int(mask.get("width")), int(mask.get("height"))
            runs = [int(v) for v in mask.get("rle").split(",")]
            assert sum(runs) == mw * mh and left + mw <= w and top + mh <= h
        shapes += len(image.findall("mask")) + len(
            {p.get("group_id") or id(p) for p in image.iter("polygon")}
        )
    assert shapes == len(anns)
    with Project.create(tmp_path / "again") as project:
        report = import_annotations(project, tmp_path / "cvat.xml",
                                    ImportOptions(kind="cvat", images_root=_val2017()))  # fmt: skip
        assert report.ok and report.instances == len(anns)
        doc, _ = export_project(project, "coco")
    rle_ids = {a["id"] for a in anns if isinstance(a["segmentation"], dict)}
    assert sum(isinstance(a["segmentation"], dict) for a in doc["annotations"]) == len(rle_ids)


def test_label_studios_export_imports_brush_rectangle_and_polygon(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as project:
        report = import_annotations(
            project, INTEROP / "labelstudio" / "export.json", ImportOptions(kind="labelstudio")
        )
        doc, _ = export_project(project, "coco", include_unsegmented=True)
    assert report.ok and report.instances == 3 and report.box_only == 1
    names = {c["id"]: c["name"] for c in doc["categories"]}
    kinds = {names[a["category_id"]]: a for a in doc["annotations"]}
    circle = np.load(INTEROP / "labelstudio" / "circle_mask.npy")
    assert np.array_equal(bitmap(kinds["circle"]["segmentation"], 64, 96), circle)
    assert kinds["square"]["segmentation"] == []
    assert kinds["triangle"]["segmentation"][0][:2] == pytest.approx([12.0, 53.12])


def test_our_brush_encoder_writes_label_studio_converters_bytes() -> None:
    """label-studio-converter's own encoder wrote the fixture's brush; ours gives the
    same bytes for the same mask, so Label Studio reads what longtail writes."""
    import json

    from pipeline.formats.labelstudio import decode_brush, encode_brush

    tasks = json.loads((INTEROP / "labelstudio" / "export.json").read_text())
    theirs = tasks[0]["annotations"][0]["result"][0]["value"]["rle"]
    circle = np.load(INTEROP / "labelstudio" / "circle_mask.npy")
    rgba = np.repeat((circle * 255).astype(np.uint8)[:, :, None], 4, axis=2)
    assert encode_brush(rgba) == theirs
    assert np.array_equal(decode_brush(theirs), rgba.reshape(-1))


def test_a_label_studio_export_imports_again_with_equal_counts_and_masks(
    tiny_val, tmp_path: Path
) -> None:
    folder, _, auto, _ = tiny_val
    with Project.open(folder / "project") as project:
        export_adapted(project, "labelstudio", tmp_path / "ls.json")
    with Project.create(tmp_path / "again") as project:
        options = ImportOptions(kind="labelstudio", images_root=_val2017())
        report = import_annotations(project, tmp_path / "ls.json", options)
        doc, _ = export_project(project, "coco")
    anns = [a for a in auto["annotations"] if not a["iscrowd"]]
    assert report.ok and len(doc["annotations"]) == len(anns)
    exact = [a for a in doc["annotations"] if isinstance(a["segmentation"], dict)]
    theirs = [a for a in anns if isinstance(a["segmentation"], dict) or len(a["segmentation"]) > 1]
    assert len(exact) == len(theirs)  # RLE and multi-part masks travel as brush, exactly


def _val2017() -> Path:
    return Path(__file__).parent / "data" / "tiny_coco" / "val2017"


def test_supervisions_coco_file_imports_strictly_with_its_ids(tmp_path: Path) -> None:
    source = INTEROP / "supervision_coco" / "annotations.json"
    original = json.loads(source.read_text())
    with Project.create(tmp_path / "p") as project:
        report = import_coco(project, source, images_root=INTEROP / "supervision_coco" / "images")
        doc, _ = export_project(project, "coco")
    assert report.ok and report.instances == len(original["annotations"]) == 9
    assert sorted(i["id"] for i in doc["images"]) == sorted(i["id"] for i in original["images"])
    assert [(c["id"], c["name"]) for c in doc["categories"]] == [
        (c["id"], c["name"]) for c in original["categories"]
    ]
    assert {a["id"] for a in doc["annotations"]} == {a["id"] for a in original["annotations"]}

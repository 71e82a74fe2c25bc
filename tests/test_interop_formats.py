"""YOLO and VOC through the CLI's import and export: files written by supervision import
with their counts and classes; longtail's exports are read back by supervision (and
VOC's PNG masks by PIL, over the format's spec) with equal counts and masks; a YOLO
dataset survives import and export with its polygons and class ids unchanged."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select
from test_formats_util import bitmap

from app.cli import main
from pipeline import schema as s
from pipeline.formats import ImportOptions, export_project, import_annotations, import_coco
from pipeline.formats.adapters import export_adapted
from pipeline.store import Project

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

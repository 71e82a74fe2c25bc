"""labelme import: the snacks set, embedded images, groups, rectangles, circles, masks,
skipped shapes and bad files."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image
from PIL import Image
from sqlalchemy import func, select
from test_formats_util import snapshot, write_json

from pipeline import schema as s
from pipeline.formats import FormatError, export_coco, import_labelme
from pipeline.geometry import Mask
from pipeline.store import Project


@pytest.fixture(scope="module")
def snacks(shared_data: Path) -> Path:
    path = shared_data / "snacks_labelme"
    if not path.is_dir():
        pytest.skip("snacks_labelme is not present")
    return path


def _labelme(image: str, width: int, height: int, shapes: list[dict], data: bytes | None = None):
    return {
        "version": "5.4.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": image,
        "imageData": base64.b64encode(data).decode() if data else None,
        "imageHeight": height,
        "imageWidth": width,
    }


def _shape(label: str, points, kind: str = "polygon", group=None, **extra) -> dict:
    return {"label": label, "points": points, "group_id": group, "shape_type": kind,
            "flags": {}, **extra}  # fmt: skip


def test_snacks_import_with_its_165_polygons(snacks: Path, empty_project: Project) -> None:
    report = import_labelme(empty_project, snacks)
    assert report.ok and not report.notes
    assert (report.instances, report.images_added, report.categories_added) == (165, 18, 3)
    doc = export_coco(empty_project)
    assert sorted(c["name"] for c in doc["categories"]) == ["date", "fig", "hazelnut"]
    # Every exported mask is the polygon drawn in labelme.
    drawn = {}
    for path in sorted(snacks.glob("*.json")):
        data = json.loads(path.read_text())
        drawn[data["imagePath"]] = [
            (shape["label"], np.asarray(shape["points"]).reshape(-1).tolist())
            for shape in data["shapes"]
        ]
    images = {i["id"]: i["file_name"] for i in doc["images"]}
    names = {c["id"]: c["name"] for c in doc["categories"]}
    seen = {name: [] for name in drawn}
    for ann in doc["annotations"]:
        seen[images[ann["image_id"]]].append((names[ann["category_id"]], ann["segmentation"][0]))
    for name, shapes in drawn.items():
        assert [(label, pytest.approx(coords)) for label, coords in shapes] == seen[name]
    # Images are referenced where they are, not copied.
    assert not (empty_project.folder / "images").exists()


def test_embedded_image_data_is_written_into_the_project(snacks: Path, empty_project, tmp_path):
    folder = tmp_path / "only-json"
    folder.mkdir()
    shutil.copy(snacks / "3.json", folder / "3.json")  # without 3.jpg
    report = import_labelme(empty_project, folder / "3.json")
    written = empty_project.folder / "images" / "3.jpg"
    embedded = base64.b64decode(json.loads((snacks / "3.json").read_text())["imageData"])
    assert written.read_bytes() == embedded
    assert report.instances == 12 and any(
        "wrote the embedded image" in n.message for n in report.notes
    )
    with empty_project.read() as conn:
        row = conn.execute(select(s.images)).one()
    assert (row.path, row.file_name, row.width, row.height) == ("images/3.jpg", "3.jpg", 800, 600)
    # Importing it again finds the same image and refuses the same shapes.
    before = snapshot(empty_project)
    with pytest.raises(FormatError, match="was already imported"):
        import_labelme(empty_project, folder / "3.json")
    assert snapshot(empty_project) == before


def test_groups_rectangles_circles_and_masks(empty_project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "img.png", 60, 40)
    patch = np.zeros((5, 6), dtype=np.uint8)
    patch[1:4, 1:5] = 255
    buffer = io.BytesIO()
    Image.fromarray(patch).save(buffer, format="PNG")
    shapes = [
        _shape("cup", [[2, 2], [10, 2], [10, 10]], group=1),
        _shape("cup", [[12, 2], [20, 2], [20, 10]], group=1),  # second part of the cup
        _shape("cup", [[30, 30], [40, 30], [40, 38]]),  # another cup
        _shape("box", [[50, 5], [42, 15]], kind="rectangle"),
        _shape("ball", [[20, 25], [24, 25]], kind="circle"),
        _shape(
            "stain",
            [[1, 30], [7, 35]],
            kind="mask",
            mask=base64.b64encode(buffer.getvalue()).decode(),
        ),  # fmt: skip
        _shape("tip", [[5, 5]], kind="point"),
        _shape("edge", [[1, 1], [9, 9]], kind="line"),
    ]
    write_json(tmp_path / "img.json", _labelme("img.png", 60, 40, shapes))
    report = import_labelme(empty_project, tmp_path / "img.json")
    assert report.instances == 5
    assert [n.shape for n in report.notes] == [6, 7]
    assert "skipped: a point shape (tip) is not a region" in report.lines()[0]
    doc = export_coco(empty_project)
    by_name = {}
    names = {c["id"]: c["name"] for c in doc["categories"]}
    for ann in doc["annotations"]:
        by_name.setdefault(names[ann["category_id"]], []).append(ann)
    assert len(by_name["cup"]) == 2 and len(by_name["cup"][0]["segmentation"]) == 2
    assert by_name["box"][0]["bbox"] == [42, 5, 8, 10]
    ball = by_name["ball"][0]
    assert ball["bbox"] == pytest.approx([16, 21, 8, 8], abs=0.01)
    assert ball["area"] == pytest.approx(np.pi * 16, rel=0.15)
    stain = Mask.from_coco(by_name["stain"][0]["segmentation"], 40, 60).to_bitmap()
    assert stain.sum() == 12 and stain[31:34, 2:6].all()
    # source ids are the first shape of each instance, for re-import checks
    with empty_project.read() as conn:
        ids = sorted(conn.execute(select(s.instances.c.source_id)).scalars())
    assert ids == [0, 2, 3, 4, 5]


def test_bad_labelme_files_are_refused_with_every_problem(empty_project, tmp_path) -> None:
    make_image(tmp_path / "a.png", 30, 20)
    write_json(
        tmp_path / "a.json",
        _labelme("a.png", 30, 20, [
            _shape("cup", [[1, 1], [5, 1]]),  # two points
            _shape("cup", [[1, 1], [50, 1], [5, 5]]),  # outside the image
            _shape("", [[1, 1], [5, 1], [5, 5]]),  # no label
            _shape("cup", [[1, 1], [5, 1], [5, 5]], kind="spline"),
            _shape("cup", "nonsense"),
        ]),
    )  # fmt: skip
    write_json(tmp_path / "b.json", _labelme("missing.png", 30, 20, []))
    write_json(
        tmp_path / "c.json", _labelme("a.png", 31, 20, [_shape("cup", [[1, 1], [5, 1], [5, 5]])])
    )
    (tmp_path / "d.json").write_text("{not json")
    write_json(tmp_path / "e.json", {"imagePath": "a.png"})
    before = snapshot(empty_project)
    with pytest.raises(FormatError) as caught:
        import_labelme(empty_project, tmp_path)
    text = str(caught.value)
    expected = [
        "a.json: shape 0: a polygon part has 4 coordinates; it needs at least 6 (3 points)",
        "a.json: shape 1: point (50, 1) lies outside the 30x20 image",
        "a.json: shape 2: the label is empty",
        "a.json: shape 3: unknown shape_type 'spline'",
        "a.json: shape 4: 'points' must be a list of [x, y] pairs",
        "b.json: image file not found",
        "c.json: the file says the image is 31x20, but",
        "d.json: not valid JSON",
        "e.json: missing key 'shapes'",
    ]
    for line in expected:
        assert line in text, line
    assert len(caught.value.report.problems) == len(expected) + 2  # e.json: no sizes either
    assert snapshot(empty_project) == before
    assert not (empty_project.folder / "images").exists()


def test_lenient_labelme_import_keeps_the_good_shapes(empty_project, tmp_path) -> None:
    make_image(tmp_path / "a.png", 30, 20)
    write_json(
        tmp_path / "a.json",
        _labelme("a.png", 30, 20, [
            _shape("cup", [[1, 1], [5, 1], [5, 5]]),
            _shape("cup", [[1, 1], [50, 1], [5, 5]]),
        ]),
    )  # fmt: skip
    report = import_labelme(empty_project, tmp_path / "a.json", lenient=True)
    assert (report.instances, report.annotations_skipped, len(report.problems)) == (1, 1, 1)
    assert report.report_path == empty_project.folder / "import-report-a.txt"
    assert "shape 1: point (50, 1) lies outside" in report.report_path.read_text()
    assert f"report: {report.report_path}" in report.summary()
    with empty_project.read() as conn:
        assert conn.execute(select(func.count()).select_from(s.instances)).scalar() == 1


def test_embedded_image_is_removed_when_the_import_fails(snacks, empty_project, tmp_path) -> None:
    data = json.loads((snacks / "3.json").read_text())
    data["shapes"].append(_shape("date", [[1, 1], [2, 1]]))  # one bad shape
    write_json(tmp_path / "3.json", data)
    with pytest.raises(FormatError):
        import_labelme(empty_project, tmp_path / "3.json")
    assert not (empty_project.folder / "images" / "3.jpg").exists()

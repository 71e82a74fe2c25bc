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

from pipeline.formats import FormatError, export_coco, import_labelme
from pipeline.masks.geometry import Mask
from pipeline.store import schema as s
from pipeline.store.database import Project


@pytest.fixture(scope="module")
def snacks(test_data: Path) -> Path:
    path = test_data / "snacks_labelme"
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


# ---------------------------------------------------------------- hardening (issue 14)


def _png_bytes(width: int = 30, height: int = 20, color=(10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels and whose data is tiny:
    opening it (not decoding it) is what the decompression-bomb check stops."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def test_image_data_over_the_decompression_bomb_limit_is_a_located_problem(
    empty_project: Project, tmp_path: Path
) -> None:
    side = 20_000  # 400 million pixels: over twice PIL's limit
    doc = _labelme("huge.png", side, side, [_shape("cup", [[1, 1], [5, 1], [5, 5]])])
    doc["imageData"] = base64.b64encode(_bomb_png(side, side)).decode()
    write_json(tmp_path / "huge.json", doc)
    before = snapshot(empty_project)
    with pytest.raises(FormatError) as caught:
        import_labelme(empty_project, tmp_path / "huge.json")
    [problem] = caught.value.report.problems
    assert problem.file.endswith("huge.json")
    assert problem.message.startswith("'imageData' is refused: Image size (400000000 pixels)")
    assert snapshot(empty_project) == before
    assert not (empty_project.folder / "images").exists()


def test_a_mask_shape_over_the_decompression_bomb_limit_is_a_located_problem(
    empty_project: Project, tmp_path: Path
) -> None:
    make_image(tmp_path / "img.png", 60, 40)
    mask = base64.b64encode(_bomb_png(20_000, 20_000)).decode()
    shapes = [_shape("stain", [[1, 1], [7, 5]], kind="mask", mask=mask)]
    write_json(tmp_path / "img.json", _labelme("img.png", 60, 40, shapes))
    with pytest.raises(FormatError) as caught:
        import_labelme(empty_project, tmp_path / "img.json")
    [problem] = caught.value.report.problems
    assert problem.shape == 0 and problem.message.startswith("'mask' is refused: Image size")


def test_a_failed_import_leaves_no_images_folder_and_does_not_claim_it_wrote(
    empty_project: Project, tmp_path: Path
) -> None:
    shapes = [_shape("cup", [[1, 1], [5, 1], [5, 5]]), _shape("cup", [[1, 1], [2, 1]])]
    write_json(tmp_path / "sub" / "a.json", _labelme("a.png", 30, 20, shapes, _png_bytes()))
    with pytest.raises(FormatError) as caught:
        import_labelme(empty_project, tmp_path)
    assert "wrote" not in str(caught.value)
    assert not any("wrote" in n.message for n in caught.value.report.notes)
    assert not (empty_project.folder / "images").exists()


def test_oriented_rectangles_of_labelme_5_and_6_are_four_point_polygons(
    empty_project: Project, tmp_path: Path
) -> None:
    make_image(tmp_path / "img.png", 60, 40)
    corners = [[10, 5], [30, 15], [25, 25], [5, 15]]  # a turned rectangle
    shapes = [
        _shape("plate", corners, kind="oriented_rectangle"),
        _shape("plate", [[1, 1], [2, 2], [3, 1]], kind="oriented_rectangle"),  # 3 corners
    ]
    write_json(tmp_path / "img.json", _labelme("img.png", 60, 40, shapes))
    with pytest.raises(FormatError) as caught:
        import_labelme(empty_project, tmp_path / "img.json")
    assert [(p.shape, p.message) for p in caught.value.report.problems] == [
        (1, "an oriented_rectangle needs 4 points, got 3")
    ]
    write_json(tmp_path / "img.json", _labelme("img.png", 60, 40, shapes[:1]))
    assert import_labelme(empty_project, tmp_path / "img.json").instances == 1
    [ann] = export_coco(empty_project)["annotations"]
    assert ann["segmentation"] == [[float(v) for xy in corners for v in xy]]
    assert ann["bbox"] == [5, 5, 25, 20]


def test_a_label_used_only_by_points_and_lines_makes_no_category(
    empty_project: Project, tmp_path: Path
) -> None:
    make_image(tmp_path / "img.png", 60, 40)
    shapes = [
        _shape("cup", [[2, 2], [10, 2], [10, 10]]),
        _shape("tip", [[5, 5]], kind="point"),
        _shape("edge", [[1, 1], [9, 9]], kind="line"),
        _shape("path", [[1, 1], [9, 9], [20, 3]], kind="linestrip"),
        _shape("cup", [[30, 30]], kind="point"),  # a region label used by a point too
    ]
    write_json(tmp_path / "img.json", _labelme("img.png", 60, 40, shapes))
    report = import_labelme(empty_project, tmp_path / "img.json")
    assert (report.instances, report.categories_added, len(report.notes)) == (1, 1, 4)
    assert [c["name"] for c in export_coco(empty_project)["categories"]] == ["cup"]


def test_embedded_images_export_relative_to_the_one_folder_they_were_written_to(
    empty_project: Project, tmp_path: Path
) -> None:
    """A labelme folder whose images exist only as imageData: every exported file_name
    is found under the project's images/ folder (what FiftyOne and supervision need)."""
    shape = [_shape("cup", [[1, 1], [5, 1], [5, 5]])]
    folder = tmp_path / "labelme"
    write_json(folder / "a" / "x.json", _labelme("x.png", 30, 20, shape, _png_bytes()))
    write_json(
        folder / "b" / "x.json", _labelme("x.png", 30, 20, shape, _png_bytes(color=(1, 2, 3)))
    )
    write_json(
        folder / "b" / "y.json", _labelme("../y.png", 30, 20, shape, _png_bytes(color=(4, 5, 6)))
    )
    # Same folder, same imagePath, other pixels: the second is renamed, not dropped.
    write_json(
        folder / "b" / "z.json", _labelme("x.png", 30, 20, shape, _png_bytes(color=(7, 8, 9)))
    )
    report = import_labelme(empty_project, folder)
    assert report.images_added == 4
    doc = export_coco(empty_project)
    root = empty_project.folder / "images"
    names = sorted(image["file_name"] for image in doc["images"])
    renamed = [n for n in names if n not in ("a/x.png", "b/x.png", "b/y.png")]
    assert len(renamed) == 1 and renamed[0].startswith("b/x-")
    pixels = set()
    for name in names:
        with Image.open(root / name) as img:
            assert img.size == (30, 20)
            pixels.add(img.getpixel((0, 0)))
    assert len(pixels) == 4

"""Bad COCO input: one case per kind of problem. Each gets a clear, located message and
leaves the project as it was; --lenient imports the good part and writes the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_formats_util import mutated, small_coco, snapshot, write_json

from pipeline.formats import FormatError, import_coco
from pipeline.store.database import Project


def _set(path: str, value):
    """A change that sets doc[a][b]... (path 'annotations.1.bbox') to ``value``."""

    def change(doc):
        *head, last = path.split(".")
        target = doc
        for key in head:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return change


_DELETE = object()

# (case, change to the small dataset, the line the report must hold)
CASES = [
    ("missing top-level key", _set("annotations", _DELETE), "set.json: missing key 'annotations'"),
    ("missing image key", _set("images.1.width", _DELETE), "image 12: missing key 'width'"),
    (
        "missing annotation key",
        _set("annotations.1.bbox", _DELETE),
        "image 11: annotation 102: missing key 'bbox'",
    ),
    (
        "missing segmentation",
        _set("annotations.0.segmentation", _DELETE),
        "image 11: annotation 101: missing key 'segmentation'",
    ),
    ("missing category name", _set("categories.1.name", _DELETE), "category 18: missing key 'name'"),
    (
        "unknown category id",
        _set("annotations.1.category_id", 77),
        "image 11: annotation 102: names category 77, which is not in the file",
    ),
    (
        "annotation on a missing image",
        _set("annotations.3.image_id", 99),
        "annotation 104: names image 99, which is not in the file",
    ),
    ("duplicate annotation id", _set("annotations.1.id", 101), "annotation 101: the id appears twice"),
    ("duplicate image id", _set("images.2.id", 12), "image 12: the id appears twice"),
    ("duplicate category id", _set("categories.2.id", 18), "category 18: the id appears twice"),
    (
        "duplicate category name",
        _set("categories.2.name", "DOG"),
        "category 3: the name 'DOG' is also category 18's",
    ),
    (
        "polygon part with fewer than 6 coordinates",
        _set("annotations.1.segmentation", [[20.5, 10.25, 35, 10.25]]),
        "annotation 102: part 0: a polygon part has 4 coordinates; it needs at least 6",
    ),
    (
        "polygon part with an odd count",
        _set("annotations.1.segmentation", [[20.5, 10.25, 35, 10.25, 28, 25.75, 30]]),
        "annotation 102: part 0: a polygon part has an odd number of coordinates (7)",
    ),
    (
        "coordinates outside the image",
        _set("annotations.0.segmentation.1", [12, 3, 45, 3, 15, 9]),
        "annotation 101: part 1: point (45, 3) lies outside the 40x30 image",
    ),
    (
        "a coordinate that is not a number",
        _set("annotations.1.segmentation", [[20.5, "x", 35, 10.25, 28, 25.75]]),
        "annotation 102: part 0: a polygon part holds something that is not a number",
    ),
    (
        "bbox that is not 4 numbers",
        _set("annotations.1.bbox", [1, 2, "3", 4]),
        "annotation 102: 'bbox' must be 4 numbers [x, y, width, height], got [1, 2, '3', 4]",
    ),
    (
        "RLE whose size differs from the image",
        _set("annotations.3.segmentation.size", [21, 20]),
        "image 12: annotation 104: the RLE is 20x21 (size [21, 20]) but the image is 20x20",
    ),
    (
        "RLE counts that do not fill the image",
        _set("annotations.3.segmentation.counts", [5, 10, 3]),
        "annotation 104: uncompressed RLE counts sum to 18, not 20x20 = 400",
    ),
    ("iscrowd that is not 0 or 1", _set("annotations.2.iscrowd", 2), "annotation 103: 'iscrowd' must be 0 or 1"),
    (
        "image file missing on disk",
        _set("images.1.file_name", "gone.png"),
        "image 12: image file not found (looked for",
    ),
    (
        "image file of another size",
        _set("images.0.width", 41),
        "image 11: the file says the image is 41x30, but",
    ),
    ("image size that is not a number", _set("images.0.height", "30"), "image 11: 'height' must be a positive integer"),
]  # fmt: skip


@pytest.mark.parametrize("case,change,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_located_message(
    case: str, change, expected: str, empty_project: Project, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "set.json", mutated(small_coco(tmp_path), change))
    before = snapshot(empty_project)
    with pytest.raises(FormatError) as caught:
        import_coco(empty_project, path)
    message = str(caught.value)
    assert message.splitlines()[0].startswith(f"coco import of {path}: 1 problem")
    assert "nothing was imported" in message.splitlines()[0]
    assert expected in message
    assert snapshot(empty_project) == before, f"{case}: the project changed"


def test_malformed_json_says_where(empty_project: Project, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": [],\n "annotations": [1, 2,]\n}')
    before = snapshot(empty_project)
    with pytest.raises(FormatError, match=r"broken.json: not valid JSON: .* \(line 2, column"):
        import_coco(empty_project, path)
    path.write_text("[1, 2]")
    with pytest.raises(FormatError, match="the file holds a list, not a JSON object"):
        import_coco(empty_project, path)
    with pytest.raises(FormatError, match="file not found"):
        import_coco(empty_project, tmp_path / "nope.json")
    assert snapshot(empty_project) == before


def test_unreadable_image_file(empty_project: Project, tmp_path: Path) -> None:
    doc = small_coco(tmp_path)
    (tmp_path / "b.png").write_bytes(b"not a png at all")
    with pytest.raises(FormatError, match=r"image 12: the image file .*b.png cannot be read"):
        import_coco(empty_project, write_json(tmp_path / "set.json", doc))


def test_every_problem_is_reported_in_one_run(empty_project: Project, tmp_path: Path) -> None:
    changes = [
        _set("annotations.1.segmentation", [[20.5, 10.25, 35, 10.25]]),
        _set("annotations.0.segmentation.1", [12, 3, 45, 3, 15, 9]),
        _set("annotations.3.segmentation.size", [21, 20]),
        _set("categories.2.name", _DELETE),
        _set("images.2.width", 17),
    ]
    doc = small_coco(tmp_path)
    for change in changes:
        doc = mutated(doc, change)
    with pytest.raises(FormatError) as caught:
        import_coco(empty_project, write_json(tmp_path / "set.json", doc))
    found = [(p.image_id, p.annotation_id, p.category_id) for p in caught.value.report.problems]
    assert sorted(found, key=repr) == sorted(
        [(None, None, 3), (13, None, None), (11, 102, None), (11, 101, None), (12, 104, None)],
        key=repr,
    )
    assert caught.value.report.problems[0].file == str(tmp_path / "set.json") or all(
        p.file.endswith("set.json") for p in caught.value.report.problems
    )


def test_lenient_import_keeps_the_good_part_and_writes_the_report(
    empty_project: Project, tmp_path: Path
) -> None:
    doc = mutated(
        small_coco(tmp_path),
        lambda d: (
            _set("annotations.1.segmentation", [[20.5, 10.25, 35, 10.25]])(d),
            _set("images.1.file_name", "gone.png")(d),
        ),
    )
    report = import_coco(empty_project, write_json(tmp_path / "set.json", doc), lenient=True)
    assert (report.instances, report.crowd) == (1, 1)  # annotation 101 and crowd 103
    assert (report.images_added, report.images_skipped) == (2, 1)
    assert report.annotations_skipped == 2  # 102 (bad polygon) and 104 (on the missing image)
    assert report.report_path == empty_project.folder / "import-report-set.txt"
    text = report.report_path.read_text()
    assert "annotation 102: part 0: a polygon part has 4 coordinates" in text
    assert "image 12: image file not found" in text
    assert report.summary().endswith(f"report: {report.report_path}")
    assert "2 problems (1 images and 2 annotations skipped)" in report.summary()
    # A second lenient import of the same file refuses the annotations already there.
    again = import_coco(empty_project, tmp_path / "set.json", lenient=True)
    assert again.instances == 0 and again.report_path.name == "import-report-set-2.txt"

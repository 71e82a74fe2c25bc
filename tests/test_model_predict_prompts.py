"""``longtail predict``: clicks on the command line, a prompts file, and the export's ids.

The results of ``predict --out`` carry the ids the project's export writes (issue 19
item 5), so pycocotools scores them against that export: ground-truth boxes as prompts
on clean shapes give AP 1.0. On internal ids they would score 0 (or be refused).
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from pipeline.formats import export_project, import_coco

# Ids as a real file has them: not 1..n, 0 included, categories out of order.
IMAGES = [(155341, "a.png"), (0, "b.png")]
CATEGORIES = [{"id": 60, "name": "bed"}, {"id": 7, "name": "box"}]
SHAPES = {  # image id -> [(category id, x, y, w, h, colour)]
    155341: [(60, 10, 8, 30, 20, (220, 40, 40)), (7, 48, 26, 14, 16, (40, 60, 220))],
    0: [(7, 20, 12, 24, 24, (230, 200, 40))],
}


@pytest.fixture
def imported(empty_project, tmp_path):
    """A project made by importing a COCO file with its own ids; its COCO export."""
    folder = tmp_path / "images"
    folder.mkdir()
    annotations = []
    for image_id, name in IMAGES:
        pixels = np.full((48, 72, 3), (60, 120, 60), np.uint8)
        for category, x, y, w, h, colour in SHAPES[image_id]:
            pixels[y : y + h, x : x + w] = colour
            polygon = [x, y, x + w, y, x + w, y + h, x, y + h]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "segmentation": [polygon],
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        Image.fromarray(pixels).save(folder / name)
    document = {
        "images": [{"id": i, "file_name": n, "width": 72, "height": 48} for i, n in IMAGES],
        "annotations": annotations,
        "categories": CATEGORIES,
    }
    source = tmp_path / "source.json"
    source.write_text(json.dumps(document))
    import_coco(empty_project, source, images_root=folder)
    export, _ = export_project(empty_project, "coco", tmp_path / "export.json")
    return empty_project, export, tmp_path / "export.json"


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_ground_truth_boxes_as_prompts_score_ap_one_against_the_export(
    imported, tmp_path, monkeypatch
):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached weights
    project, export, export_file = imported
    names = {c["id"]: c["name"] for c in export["categories"]}
    prompts = [
        {"image": a["image_id"], "box": a["bbox"], "category": names[a["category_id"]]}
        for a in export["annotations"]
    ]
    assert {p["image"] for p in prompts} == {155341, 0}  # the file's ids survived the import
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    out = tmp_path / "results.json"
    code, _, err = run(
        "predict", project.folder, "--prompts", tmp_path / "prompts.json", "--out", out
    )
    assert code == 0, err
    results = json.loads(out.read_text())
    assert [r["prompt_index"] for r in results] == list(range(len(prompts)))
    assert [(r["image_id"], r["category_id"]) for r in results] == [
        (a["image_id"], a["category_id"]) for a in export["annotations"]
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(export_file))
        found = truth.loadRes(str(out))
        evaluation = COCOeval(truth, found, "segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_points_on_the_command_line_with_and_without_a_box(imported, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    project, _, _ = imported
    out = tmp_path / "out.json"
    # the red 30x20 rectangle at (10, 8) of image a.png; a box short of its right part,
    # a positive point out there, a negative point on the grass inside the box
    code, _, err = run(
        "predict", project.folder, "--image", "a.png", "--box", "8,6,20,24",
        "--point", "35,18", "--negative-point", "9,28", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    (result,) = json.loads(out.read_text())
    from pipeline.masks.geometry import Mask

    bitmap = Mask.from_rle(result["segmentation"], 48, 72).to_bitmap()
    assert bitmap[18, 35] == 1 and bitmap[28, 9] == 0
    assert result["image_id"] == 155341
    # points alone: the first positive point is the prompt
    code, _, err = run(
        "predict", project.folder, "--image", "b.png", "--point", "30,20",
        "--negative-point", "5,5", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    (result,) = json.loads(out.read_text())
    assert result["image_id"] == 0
    bitmap = Mask.from_rle(result["segmentation"], 48, 72).to_bitmap()
    assert bitmap[20, 30] == 1 and bitmap[5, 5] == 0


@pytest.mark.parametrize(
    "prompts, message",
    [
        ("{}", "expected a non-empty JSON list"),
        ('[{"image": 99, "box": [1, 1, 5, 5]}]', "prompt #0: no image has the exported id 99"),
        ('[{"image": 0, "box": [1, 1, 5]}]', "prompt #0: box must be [x, y, w, h]"),
        ('[{"image": 0}]', "prompt #0: needs a box or a positive point"),
        ('[{"image": 0, "points": [[3, 3, 0]]}]', "prompt #0: needs a box or a positive point"),
        ('[{"image": 0, "points": [[3, 3, 2]]}]', "prompt #0: points[0] must be [x, y, 1]"),
        ('[{"image": 0, "box": [1,1,5,5]}, {"image": "c.png", "box": [1,1,5,5]}]', "prompt #1"),
        ('[{"image": 0, "box": [500, 500, 5, 5]}]', "prompt #0: "),
        ('[{"image": 0, "box": [1, 1, 5, 5], "colour": 1}]', "unknown field 'colour'"),
    ],
)
def test_a_bad_prompts_file_is_refused_in_one_located_line_before_anything_is_written(
    imported, tmp_path, prompts, message
):
    project, _, _ = imported
    (tmp_path / "prompts.json").write_text(prompts)
    out = tmp_path / "out.json"
    code, _, err = run(
        "predict", project.folder, "--prompts", tmp_path / "prompts.json", "--out", out
    )
    assert code != 0
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()

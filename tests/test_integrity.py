"""Data integrity against hostile input: RLE that does not cover its image, ids beyond
64 bits, scores given as strings, and polygon exports whose area must be what they write.

Each RLE enters by three ways (a COCO/LVIS import, a stage-3 answer, a predict result);
each is refused with a message that says where, and nothing is stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from sqlalchemy import func, select

from app.cli import main
from pipeline.errors import GeometryError, LongtailError
from pipeline.evaluation import evaluate_coco
from pipeline.formats import FormatError, export_project, import_coco
from pipeline.masks.geometry import Mask
from pipeline.stages import Pipeline, SegmentAnswer
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.vocabulary import add_categories, shipped_vocabulary

# ---------------------------------------------------------------- hostile RLE strings


def compress(counts: list[int]) -> str:
    """COCO's compressed RLE string of ``counts`` (pycocotools' rleToString), written
    here so that tests can make strings pycocotools' own encoder never would."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if ch & 0x10 else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


H, W = 427, 640  # the size of tiny_coco's 000000397133.jpg, as in the report

# (case, counts, words the refusal holds)
BAD_RLE = [
    ("covers only part of the image", "T3b1", "cover 150 pixels"),
    ("covers more than the image", compress([H * W - 10, 30]), f"cover {H * W + 20} pixels"),
    ("a negative count that sums to h*w", compress([H * W + 50, -50]), "negative"),
    ("empty counts", "", "counts are empty"),
    ("ends inside a number", "T3b1" + chr(48 + 32), "cannot be decoded"),
    ("characters outside pycocotools' alphabet", "T3b1~~", "cannot be decoded"),
    ("not ASCII", "T3bé", "outside ASCII"),
    ("uncompressed counts that stop short", [10, 5], "sum to 15"),
]


def test_the_hostile_strings_are_what_they_claim_to_be():
    # The helper agrees with pycocotools on a real mask, so the bad cases are honest.
    bitmap = np.zeros((H, W), np.uint8)
    bitmap[100:200, 50:300] = 1
    encoded = mask_utils.encode(np.asfortranarray(bitmap))["counts"].decode()
    flat = bitmap.T.ravel()
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.r_[0, changes, flat.size]).tolist()
    assert compress(runs) == encoded
    assert Mask.from_rle({"size": [H, W], "counts": encoded}, H, W).area == 100 * 250


@pytest.mark.parametrize("case,counts,expected", BAD_RLE, ids=[c[0] for c in BAD_RLE])
def test_an_rle_must_cover_its_image_exactly(case, counts, expected):
    with pytest.raises(GeometryError, match=expected):
        Mask.from_rle({"size": [H, W], "counts": counts}, H, W)


def test_many_rles_checked_at_once_keep_each_its_own_answer():
    # An import checks an image's RLEs in one pass (Mask.from_rles): every bad case,
    # each between good masks of different areas, gets its own refusal in its place.
    goods = []
    for k in range(len(BAD_RLE) + 1):
        bitmap = np.zeros((H, W), np.uint8)
        bitmap[10 : 20 + k, 30:40] = 1
        goods.append(mask_utils.encode(np.asfortranarray(bitmap))["counts"].decode())
    rles, expected = [], []
    for k, (_, counts, words) in enumerate(BAD_RLE):
        rles += [{"size": [H, W], "counts": goods[k]}, {"size": [H, W], "counts": counts}]
        expected += [(10 + k) * 10, words]
    rles.append({"size": [H, W], "counts": goods[-1]})
    expected.append((10 + len(BAD_RLE)) * 10)
    made = Mask.from_rles(rles, H, W)
    for one, want in zip(made, expected, strict=True):
        if isinstance(want, int):
            assert isinstance(one, Mask) and one.area == want
        else:
            assert isinstance(one, GeometryError) and want in str(one)


def _one_image_coco(tiny_coco: Path) -> dict:
    """tiny_coco's 000000397133.jpg (427x640) with its first two annotations."""
    doc = json.loads((tiny_coco / "annotations" / "instances_val2017.json").read_text())
    image = next(im for im in doc["images"] if im["file_name"] == "000000397133.jpg")
    anns = [a for a in doc["annotations"] if a["image_id"] == image["id"]][:2]
    return {"images": [image], "annotations": anns, "categories": doc["categories"]}


def _counts(project: Project) -> dict[str, int]:
    return project.counts()


@pytest.mark.parametrize("case,counts,expected", BAD_RLE, ids=[c[0] for c in BAD_RLE])
def test_an_import_refuses_an_rle_that_does_not_cover_the_image(
    case, counts, expected, tiny_coco, coco_project, tmp_path
):
    doc = _one_image_coco(tiny_coco)
    target = doc["annotations"][0]
    target["segmentation"] = {"size": [H, W], "counts": counts}
    target["bbox"] = [0, 0, 1, 1]  # agrees with what garbage might decode to
    target["iscrowd"] = 1
    path = tmp_path / "bad_rle.json"
    path.write_text(json.dumps(doc))
    before = _counts(coco_project)
    with pytest.raises(FormatError) as caught:
        import_coco(coco_project, path, images_root=tiny_coco / "val2017", reference_only=True)
    assert f"annotation {target['id']}:" in str(caught.value)
    assert expected in str(caught.value)
    assert _counts(coco_project) == before


def test_an_empty_rle_mask_with_a_box_is_refused(tiny_coco, coco_project, tmp_path):
    doc = _one_image_coco(tiny_coco)
    target = doc["annotations"][0]
    target["segmentation"] = {"size": [H, W], "counts": [H * W]}  # no pixel at all
    target["bbox"] = [0, 0, 1, 1]  # within a pixel of the empty mask's [0, 0, 0, 0]
    path = tmp_path / "empty_rle.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="the RLE mask is empty but its bbox"):
        import_coco(coco_project, path, images_root=tiny_coco / "val2017", reference_only=True)
    assert _counts(coco_project)["instances"] == 0


# ---------------------------------------------------------------- answers


def _stage3_item(tmp_path: Path):
    """A real project (stages_support) with one instance marked, and its stage-3 item."""
    from stages_support import category_ids, confirmed_pair, make_project

    project = make_project(tmp_path, images=1)
    service = Pipeline(project)
    service.seed()
    confirmed_pair(service, category_ids(project), [(20, 20, 30, 25)])
    return project, service, service.next_item(3, "drawer")


@pytest.mark.parametrize(
    "counts,expected",
    [
        (b"T3b1", "cover 150 pixels"),
        (compress([120 * 90 + 50, -50]).encode(), "negative"),
        (compress([120 * 90 - 10, 40]).encode(), "cover 10830 pixels"),
        (b"", "counts are empty"),
    ],
    ids=["short", "negative", "long", "empty"],
)
def test_a_segmentation_answer_with_a_broken_rle_is_refused_and_nothing_is_stored(
    counts, expected, tmp_path
):
    project, service, item = _stage3_item(tmp_path)
    with project:
        with pytest.raises(GeometryError, match=expected):
            service.answer(item, SegmentAnswer(Mask(90, 120, counts=counts), tool="brush"))
        with project.read() as conn:
            assert conn.execute(select(func.count()).select_from(s.segments)).scalar() == 0
        # The item is still the annotator's: a sound mask goes in.
        good = Mask.from_box((20, 20, 30, 25), 90, 120).to_rle_mask()
        service.answer(item, SegmentAnswer(good, tool="brush"))


def test_a_correction_with_a_broken_rle_is_refused_and_the_accepted_mask_stays(tmp_path):
    from stages_support import category_ids, confirmed_pair, make_project, segment_and_accept

    from pipeline.corrections import correct_mask

    with make_project(tmp_path, images=1) as project:
        service = Pipeline(project)
        service.seed()
        confirmed_pair(service, category_ids(project), [(20, 20, 30, 25)])
        segment_and_accept(service)
        with project.read() as conn:
            instance_id = conn.execute(select(s.instances.c.id)).scalar_one()
            before = conn.execute(select(s.segments.c.id, s.segments.c.status)).all()
        with pytest.raises(GeometryError, match="cover 150 pixels"):
            correct_mask(project, instance_id, Mask(90, 120, counts=b"T3b1"), "editor")
        with project.read() as conn:
            assert conn.execute(select(s.segments.c.id, s.segments.c.status)).all() == before


# ---------------------------------------------------------------- predict output


def test_predict_never_writes_a_mask_that_does_not_cover_the_image():
    from app.cli.commands.predict import _check_mask
    from pipeline.images import ImageRecord

    record = ImageRecord(7, "a.png", "a.png", W, H, None, "train")
    good = Mask.from_box((10, 10, 30, 30), H, W).coco_rle()
    _check_mask({"segmentation": good}, record, 0)
    for bad in ({"size": [H, W], "counts": "T3b1"}, {"size": [H + 1, W], "counts": good["counts"]}):
        with pytest.raises(LongtailError, match="mask #1 for image 7"):
            _check_mask({"segmentation": bad}, record, 1)


# ---------------------------------------------------------------- ids beyond 64 bits

BIG = 2**63


def _image_id(value):
    def change(doc):
        doc["images"][0]["id"] = value
        for a in doc["annotations"]:
            a["image_id"] = value

    return change


def _annotation_id(value):
    def change(doc):
        doc["annotations"][0]["id"] = value

    return change


def _category_id(value):
    def change(doc):
        old = doc["categories"][0]["id"]
        doc["categories"][0]["id"] = value
        for a in doc["annotations"]:
            if a["category_id"] == old:
                a["category_id"] = value

    return change


@pytest.mark.parametrize(
    "change,expected",
    [
        (_annotation_id(BIG), f"annotation {BIG}: the id is out of range"),
        (_annotation_id(2**64 - 1), f"annotation {2**64 - 1}: the id is out of range"),
        (_image_id(BIG), f"image {BIG}: the id is out of range"),
        (_category_id(BIG), f"category {BIG}: the id is out of range"),
        # JSON readers give numbers beyond 64 bits as floats: not an integer, located too
        (_image_id(-BIG - 1), "image [0]: the id -9.223372036854776e+18 is not an integer"),
        (_annotation_id(2**64), "annotation [0]: the id 1.8446744073709552e+19 is not an integer"),
    ],
    ids=["annotation 2^63", "annotation 2^64-1", "image", "category", "below -2^63", "2^64"],
)
def test_ids_beyond_64_bits_are_refused_with_a_located_message(
    change, expected, tiny_coco, empty_project, tmp_path
):
    doc = _one_image_coco(tiny_coco)
    change(doc)
    path = tmp_path / "big_ids.json"
    path.write_text(json.dumps(doc))
    before = _counts(empty_project)
    with pytest.raises(FormatError) as caught:
        import_coco(empty_project, path, images_root=tiny_coco / "val2017", reference_only=True)
    assert expected in str(caught.value)
    assert _counts(empty_project) == before


def test_the_import_command_reports_a_huge_id_in_one_line(tiny_coco, tmp_path, capsys):
    doc = _one_image_coco(tiny_coco)
    doc["annotations"][1]["id"] = 2**64 - 1
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(doc))
    Project.create(tmp_path / "p").close()
    code = main(["import", str(tmp_path / "p"), str(path), "--format", "coco", "--reference-only"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "OverflowError" not in err
    assert f"annotation {2**64 - 1}: the id is out of range" in err


def test_an_image_id_beyond_64_bits_on_the_command_line_is_not_found(tmp_path, capsys):
    from stages_support import make_project

    from pipeline.images import get_image

    make_project(tmp_path, images=1).close()
    with Project.open(tmp_path / "project") as project:
        with pytest.raises(LongtailError, match="not in the project"):
            get_image(project, 2**64)
        with (  # any other query with such a number
            pytest.raises(LongtailError, match="too large for the project's database"),
            project.read() as conn,
        ):
            conn.execute(select(s.instances).where(s.instances.c.id == 2**63)).all()
    code = main(
        ["predict", str(tmp_path / "project"), "--image", str(2**64), "--box", "1,1,5,5",
         "--out", str(tmp_path / "out.json")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and f"image {2**64} is not in the project" in err[0]


# ---------------------------------------------------------------- evaluation input


def _gt() -> dict:
    square = [[2, 2, 12, 2, 12, 12, 2, 12]]
    return {
        "images": [{"id": 1, "width": 20, "height": 20}],
        "categories": [{"id": 3, "name": "box"}],
        "annotations": [
            {"id": 5, "image_id": 1, "category_id": 3, "segmentation": square, "area": 100,
             "bbox": [2, 2, 10, 10], "iscrowd": 0}
        ],
    }  # fmt: skip


def _result(**change) -> dict:
    result = {"image_id": 1, "category_id": 3, "score": 0.9, "bbox": [2, 2, 10, 10]}
    result.update(change)
    return result


@pytest.mark.parametrize(
    "results,expected",
    [
        ([_result(), _result(score="0.9")], "result #1: score '0.9' is a string"),
        ([_result(score=True)], "result #0: score True is not a finite number"),
        ([_result(image_id="1")], "result #0: 'image_id' '1' is not an integer id"),
        ([_result(category_id=3.0)], "result #0: 'category_id' 3.0 is not an integer id"),
        ([_result(), _result(image_id=BIG)], "result #1: 'image_id' 9223372036854775808 is out"),
    ],
)
def test_evaluation_refuses_what_pycocotools_would_not_read(results, expected):
    with pytest.raises(LongtailError) as caught:
        evaluate_coco(_gt(), results, iou_type="bbox")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda g: g["annotations"][0].__setitem__("id", BIG), "annotation #0: 'id' 9223372036854775808"),
        (lambda g: g["images"][0].__setitem__("id", BIG), "image #0: id 9223372036854775808"),
        (lambda g: g["categories"][0].__setitem__("id", -BIG - 1), "category #0: id -9223372036854775809"),
        (lambda g: g["annotations"][0].__setitem__("image_id", "1"), "annotation #0 has no integer 'image_id'"),
    ],
)  # fmt: skip
def test_ground_truth_ids_out_of_range_are_located(change, expected):
    gt = _gt()
    change(gt)
    with pytest.raises(LongtailError) as caught:
        evaluate_coco(gt, [_result()], iou_type="bbox")
    assert expected in str(caught.value)


def test_the_evaluate_command_names_a_string_score_in_one_line(tmp_path, capsys):
    gt, res = tmp_path / "gt.json", tmp_path / "res.json"
    gt.write_text(json.dumps(_gt()))
    res.write_text(json.dumps([_result(), _result(score="0.9")]))
    assert main(["evaluate", str(gt), str(res), "--type", "bbox"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "result #1: score '0.9' is a string" in err[0]


# ---------------------------------------------------------------- polygon export area


def _written_area(segmentation, height: int, width: int) -> int:
    """What pycocotools computes from a written segmentation (annToRLE, then area)."""
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    else:
        rle = segmentation
    return int(mask_utils.area(rle))


def test_a_polygon_export_writes_the_area_of_what_it_writes(tiny_coco, tmp_path):
    """tiny_coco's val crowd regions are RLE: as polygons they cover other pixels, and
    a holed mask loses its hole. Every written area must be the written polygons'."""
    with Project.create(tmp_path / "p") as project:
        add_categories(project, shipped_vocabulary("coco"))
        truth = tiny_coco / "annotations" / "instances_val2017.json"
        import_coco(project, truth, images_root=tiny_coco / "val2017", reference_only=True)
        with project.write() as conn:  # a holed polygon mask, accepted, on the first image
            from stages_support import store_accepted_segment

            from pipeline.annotations import insert_instance
            from pipeline.masks.geometry import PolygonPart

            image = conn.execute(select(s.images).order_by(s.images.c.id)).first()
            holed = Mask.from_polygons(
                [PolygonPart([(10, 10), (90, 10), (90, 90), (10, 90)], ([(30, 30), (70, 30), (70, 70), (30, 70)],))],
                image.height,
                image.width,
            )  # fmt: skip
            instance = insert_instance(conn, image.id, 1, status=s.ACCEPTED)
            store_accepted_segment(conn, instance, holed, tool="polygon", source=s.SOURCE_PIPELINE)
        doc, summary = export_project(project, "coco", masks="polygon")
        sizes = {im["id"]: (im["height"], im["width"]) for im in doc["images"]}
        changed = dict(summary.lossy)
        for ann in doc["annotations"]:
            assert isinstance(ann["segmentation"], list)
            written = _written_area(ann["segmentation"], *sizes[ann["image_id"]])
            assert ann["area"] == written, ann["id"]
        assert len(changed) >= 2 and "changed" in summary.summary()
        # The exact form keeps every mask's own area.
        auto, _ = export_project(project, "coco", masks="auto")
        crowd = [a for a in auto["annotations"] if a["iscrowd"]]
        assert crowd and all(isinstance(a["segmentation"], dict) for a in crowd)
        for ann in auto["annotations"]:
            assert ann["area"] == _written_area(ann["segmentation"], *sizes[ann["image_id"]])
        # Three polygon exports of the same project are the same bytes.
        outs = [tmp_path / f"out{i}.json" for i in range(3)]
        for out in outs:
            export_project(project, "coco", out, masks="polygon")
        assert len({out.read_bytes() for out in outs}) == 1

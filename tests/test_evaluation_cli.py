"""``longtail evaluate``: the table, JSON, and one-line errors."""

from __future__ import annotations

import json

from reference.cases import make_detections

from app.cli import main


def _files(tmp_path, tiny_coco):
    gt_path = tiny_coco / "annotations" / "instances_val2017.json"
    gt = json.loads(gt_path.read_text())
    res_path = tmp_path / "results.json"
    res_path.write_text(json.dumps(make_detections(gt, 0)))
    return gt_path, res_path


def test_table_like_pycocotools(tmp_path, tiny_coco, capsys):
    gt_path, res_path = _files(tmp_path, tiny_coco)
    assert main(["evaluate", str(gt_path), str(res_path), "--type", "bbox", "--per-category"]) == 0
    out = capsys.readouterr().out
    assert " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = " in out
    assert " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = " in out
    assert "person" in out


def test_json_and_metrics(tmp_path, tiny_coco, capsys):
    gt_path, res_path = _files(tmp_path, tiny_coco)
    assert main(["evaluate", str(gt_path), str(res_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metric"] == "coco" and data["iou_type"] == "segm"
    assert set(data["stats"]) >= {"AP", "AP50", "ARl"}
    assert any(c["name"] == "person" for c in data["per_category"])
    assert main(["evaluate", str(gt_path), str(res_path), "--metric", "voc", "--json"]) == 0
    assert "mAP50" in json.loads(capsys.readouterr().out)["stats"]
    assert main(["evaluate", str(gt_path), str(res_path), "--metric", "lvis"]) == 0
    assert "catIds=  r]" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, tiny_coco, capsys):
    gt_path, _ = _files(tmp_path, tiny_coco)
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps([{"image_id": -5, "category_id": 1, "score": 1, "bbox": [0, 0, 1, 1]}])
    )
    assert main(["evaluate", str(gt_path), str(bad), "--type", "bbox"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "longtail: error: result #0: unknown image id -5"

"""Writes the fixtures in this folder with the real writers (run once, by hand):

    python3 -m venv /tmp/venv-writers && /tmp/venv-writers/bin/pip install supervision==0.31.2
    /tmp/venv-writers/bin/python tests/data/interop/make_fixtures.py

The pictures are drawn here (flat colours, no third-party content); the annotation
files are supervision's own output (DetectionDataset.as_yolo, as_pascal_voc, as_coco).
``python make_fixtures.py ls`` also writes the Label Studio fixture (see labelstudio()).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image

HERE = Path(__file__).resolve().parent
CLASSES = ["circle", "square", "triangle"]


def _picture(width: int, height: int, seed: int) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 200, dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    masks, classes = [], []
    # a circle, a square and a triangle that do not overlap
    cx, cy, r = width // 4, height // 3, min(width, height) // 6
    masks.append((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)
    classes.append(0)
    x0, y0 = width // 2 + int(rng.integers(0, 5)), height // 2
    masks.append((xx >= x0) & (xx < x0 + width // 5) & (yy >= y0) & (yy < y0 + height // 4))
    classes.append(1)
    tx, ty = width // 8, height - height // 6
    masks.append((yy <= ty) & (yy >= ty - (xx - tx)) & (xx >= tx) & (xx <= tx + width // 5))
    classes.append(2)
    for mask, colour in zip(masks, [(200, 30, 30), (30, 200, 30), (30, 30, 200)], strict=True):
        image[mask] = colour
    return image, masks, classes


def main() -> None:
    images_dir = HERE / "_pictures"
    shutil.rmtree(images_dir, ignore_errors=True)
    images_dir.mkdir()
    annotations = {}
    for k, (w, h) in enumerate([(96, 64), (80, 80), (120, 72)]):
        picture, masks, classes = _picture(w, h, k)
        path = images_dir / f"shapes_{k}.png"
        Image.fromarray(picture).save(path)
        stack = np.stack(masks)
        xyxy = np.array([sv.mask_to_xyxy(m[None])[0] for m in masks], dtype=float)
        annotations[str(path)] = sv.Detections(
            xyxy=xyxy, mask=stack, class_id=np.array(classes)
        )
    dataset = sv.DetectionDataset(
        classes=CLASSES, images=list(annotations), annotations=annotations
    )
    for name in ("supervision_yolo", "supervision_voc"):
        shutil.rmtree(HERE / name, ignore_errors=True)
    dataset.as_yolo(
        images_directory_path=str(HERE / "supervision_yolo" / "images" / "train"),
        annotations_directory_path=str(HERE / "supervision_yolo" / "labels" / "train"),
        data_yaml_path=str(HERE / "supervision_yolo" / "data.yaml"),
    )
    dataset.as_pascal_voc(
        images_directory_path=str(HERE / "supervision_voc" / "JPEGImages"),
        annotations_directory_path=str(HERE / "supervision_voc" / "Annotations"),
    )
    shutil.rmtree(HERE / "supervision_coco", ignore_errors=True)
    dataset.as_coco(
        images_directory_path=str(HERE / "supervision_coco" / "images"),
        annotations_path=str(HERE / "supervision_coco" / "annotations.json"),
    )
    shutil.rmtree(images_dir)


if __name__ == "__main__":
    main()


def labelstudio() -> None:
    """A Label Studio export (polygon, rectangle, brush) built to Label Studio's documented
    JSON schema; the brush RLE is label-studio-converter's own encoder's output
    (``pip install --no-deps label-studio-converter==0.0.59`` beside supervision)."""
    import json

    from label_studio_converter.brush import encode_rle

    folder = HERE / "labelstudio"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    picture, masks, _ = _picture(96, 64, 7)
    Image.fromarray(picture).save(folder / "shapes_ls.png")
    rgba = np.repeat((masks[0] * 255).astype(np.uint8)[:, :, None], 4, axis=2)
    base = {"from_name": "label", "to_name": "image", "original_width": 96,
            "original_height": 64, "image_rotation": 0}  # fmt: skip
    ys, xs = np.nonzero(masks[1])
    square = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
    tasks = [{
        "id": 1,
        "data": {"image": "/data/upload/1/0a1b2c3d-shapes_ls.png"},
        "annotations": [{"id": 1, "result": [
            {**base, "id": "brush1", "type": "brushlabels",
             "value": {"format": "rle", "rle": encode_rle(rgba.reshape(-1)),
                       "brushlabels": ["circle"]}},
            {**base, "id": "rect1", "type": "rectanglelabels",
             "value": {"x": square[0] / 96 * 100, "y": square[1] / 64 * 100,
                       "width": square[2] / 96 * 100, "height": square[3] / 64 * 100,
                       "rotation": 0, "rectanglelabels": ["square"]}},
            {**base, "id": "poly1", "type": "polygonlabels",
             "value": {"points": [[12.5, 83.0], [33.0, 83.0], [33.0, 55.0]],
                       "closed": True, "polygonlabels": ["triangle"]}},
        ]}],
    }]  # fmt: skip
    (folder / "export.json").write_text(json.dumps(tasks, indent=1, default=int))
    np.save(folder / "circle_mask.npy", masks[0])


if __name__ == "__main__" and len(__import__("sys").argv) > 1:
    labelstudio()

"""Model prompts that do not lie on the image: refused with a clear message (a box or
point entirely outside), clipped (a box partly outside). Before, a box beyond the image
gave a one-pixel mask in a corner with score 1.0 and exit status 0."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from model.predictor import Predictor
from model.weights import WeightsReport
from model.zoo import build_model
from pipeline.errors import PromptError
from pipeline.images import add_image_folder
from pipeline.masks.geometry import prompt_box, prompt_point

HEIGHT, WIDTH = 48, 64
TINY = dict(min_size=64, max_size=96, rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20,
            box_detections_per_img=5, box_score_thresh=0.0)  # fmt: skip

OUTSIDE_BOXES = [
    (WIDTH + 5, 10, 20, 20),  # right of the image
    (10, HEIGHT, 20, 20),  # starts on the bottom edge: no pixel of it is on the image
    (-50, 10, 30, 20),  # left: ends at x = -20
    (-30, -30, 30, 30),  # above-left, touching the corner only
    (1e6, 1e6, 5, 5),
]
OUTSIDE_POINTS = [(-1, 10), (10, HEIGHT + 0.5), (WIDTH + 3, -3), (float("nan"), 5)]


@pytest.mark.parametrize("box", OUTSIDE_BOXES)
def test_a_box_entirely_outside_the_image_is_refused(box):
    with pytest.raises(PromptError, match=f"entirely outside the {WIDTH}x{HEIGHT} image"):
        prompt_box(box, HEIGHT, WIDTH)


@pytest.mark.parametrize("point", OUTSIDE_POINTS)
def test_a_point_off_the_image_is_refused(point):
    with pytest.raises(PromptError, match=f"outside the {WIDTH}x{HEIGHT} image"):
        prompt_point(point, HEIGHT, WIDTH)


def test_a_box_partly_outside_is_clipped_and_edges_count_as_on_the_image():
    assert prompt_box((-10, -5, 30, 25), HEIGHT, WIDTH) == (0, 0, 20, 20)
    assert prompt_box((50, 40, 100, 100), HEIGHT, WIDTH) == (50, 40, 14, 8)
    assert prompt_point((WIDTH, HEIGHT), HEIGHT, WIDTH) == (WIDTH, HEIGHT)


def picture() -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
    image[12:36, 16:48] = (220, 180, 40)
    return image


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    model = build_model("r50-fpn-v2", 3, **TINY)
    report = WeightsReport("r50-fpn-v2", kind="longtail")  # "trained": the model answers
    with Predictor(model, ["cat", "dog"], weights=report, device="cpu", max_proposals=20) as p:
        yield p


@pytest.mark.parametrize("use_model", [True, False], ids=["model", "fallback"])
def test_the_predictor_refuses_prompts_off_the_image_and_clips_the_rest(predictor, use_model):
    image = picture()
    for box in OUTSIDE_BOXES:
        with pytest.raises(PromptError, match="entirely outside"):
            predictor.box_to_mask(image, box, use_model=use_model)
    for point in OUTSIDE_POINTS:
        with pytest.raises(PromptError, match="outside"):
            predictor.point_to_mask(image, point, use_model=use_model)
    clipped = predictor.box_to_mask(image, (40, 30, 100, 100), use_model=use_model)
    assert clipped.box == (40, 30, 24, 18)
    assert clipped.bitmap.shape == (HEIGHT, WIDTH) and not clipped.bitmap[:30, :].any()


def test_the_predict_command_refuses_a_box_beyond_the_image_in_one_line(
    coco_project, tmp_path, capsys
):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(picture()).save(folder / "scene.png")
    add_image_folder(coco_project, folder)
    out = tmp_path / "out.json"
    for prompt in (["--box", "100,100,20,20"], ["--point=-4,10"]):
        code = main(
            [
                "predict",
                str(coco_project.folder),
                "--image",
                "scene.png",
                *prompt,
                "--out",
                str(out),
            ]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and "outside the 64x48 image" in err[0]
        assert not out.exists()
    # Partly outside: clipped, answered as before.
    code = main(
        ["predict", str(coco_project.folder), "--image", "scene.png", "--box", "40,30,100,100",
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    (result,) = json.loads(out.read_text())
    assert result["segmentation"]["size"] == [HEIGHT, WIDTH]

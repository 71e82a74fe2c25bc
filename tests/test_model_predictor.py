"""model.predictor and model.features: prompts, the feature cache, prefetch and cancel."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np
import pytest
import torch

from model.features import Cancelled, CancelToken, FeatureCache, ImageFeatures
from model.predictor import Predictor, grown_box
from model.weights import WeightsReport
from model.zoo import build_model
from pipeline.errors import LongtailError

CATEGORIES = ["cat", "dog", "zebra"]
TINY = dict(
    min_size=64,
    max_size=96,
    rpn_pre_nms_top_n_test=50,
    rpn_post_nms_top_n_test=20,
    box_detections_per_img=5,
    box_score_thresh=0.0,
)


def tiny_predictor(name: str, *, trained: bool = False, **kwargs) -> Predictor:
    torch.manual_seed(0)
    model = build_model(name, len(CATEGORIES) + 1, **TINY)
    report = WeightsReport(name, kind="longtail" if trained else None)
    return Predictor(model, CATEGORIES, weights=report, device="cpu", max_proposals=20, **kwargs)


def picture(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 30, np.uint8)
    image[12:36, 16:48] = (220, 180, 40)
    return np.clip(image + rng.integers(0, 20, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module", params=["r50-fpn-v2", "swin-t"])
def predictor(request):
    with tiny_predictor(request.param, trained=True) as p:
        yield p


def backbone_calls(predictor: Predictor) -> list[int]:
    calls = [0]
    predictor.model.backbone.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_box_prompt_gives_an_image_sized_mask_inside_the_box(predictor):
    image = picture()
    box = (14.0, 10.0, 36.0, 28.0)
    for category in (None, "dog", 2):
        proposal = predictor.box_to_mask(image, box, category=category)
        assert proposal.source == "model"
        assert proposal.bitmap.shape == image.shape[:2]
        outside = proposal.bitmap.copy()
        outside[10:38, 14:50] = 0
        assert not outside.any()
        assert proposal.category in CATEGORIES and 0.0 <= proposal.score <= 1.0
    assert predictor.box_to_mask(image, box, category="dog").category == "dog"
    with pytest.raises(LongtailError, match="not one of the model's categories"):
        predictor.box_to_mask(image, box, category="unicorn")


def test_point_prompt_and_whole_image_proposals(predictor):
    image = picture()
    proposal = predictor.point_to_mask(image, (30, 22))
    assert proposal.bitmap.shape == image.shape[:2] and proposal.source == "model"
    found = predictor.propose(image, score_threshold=0.0)
    assert len(found) <= 5
    assert all(p.bitmap.shape == image.shape[:2] and p.category in CATEGORIES for p in found)
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)
    result = found[0].coco_result(7, 3) if found else proposal.coco_result(7, 3)
    assert result["image_id"] == 7 and result["segmentation"]["size"] == [48, 64]


def test_point_with_no_detection_grows_a_box():
    with tiny_predictor("r50-fpn-v2", trained=True) as p:
        p.model.roi_heads.score_thresh = 1.1  # nothing is ever detected
        proposal = p.point_to_mask(picture(), (30, 22))
    x, y, w, h = proposal.box
    assert (x, y, w, h) == grown_box((30, 22), (48, 64)) and w == h == 32


def test_second_prompt_on_the_same_image_does_not_run_the_backbone_again():
    with tiny_predictor("r50-fpn-v2", trained=True) as p:
        calls = backbone_calls(p)
        image = picture()
        p.box_to_mask(image, (10, 10, 30, 20))
        p.box_to_mask(image, (5, 5, 20, 20), category="cat")
        p.point_to_mask(image, (20, 20))
        p.propose(image)
        assert calls[0] == 1 and p.backbone_runs == 1
        p.box_to_mask(picture(seed=1), (10, 10, 30, 20))
        assert calls[0] == 2 and len(p.cache) == 2


def test_image_files_are_keyed_by_file(tmp_path):
    from PIL import Image

    path = tmp_path / "a.png"
    Image.fromarray(picture()).save(path)
    with tiny_predictor("r50-fpn-v2", trained=True) as p:
        p.box_to_mask(path, (10, 10, 30, 20))
        p.box_to_mask(str(path), (12, 10, 30, 20))
        assert p.backbone_runs == 1


def test_untrained_model_answers_box_prompts_with_the_fallback():
    with tiny_predictor("swin-t") as p:
        assert not p.trained
        proposal = p.box_to_mask(picture(), (14, 10, 36, 28), category="zebra")
        assert proposal.source.startswith("fallback:") and proposal.category == "zebra"
        assert p.backbone_runs == 0
        point = p.point_to_mask(picture(), (30, 22))
        assert point.source.startswith("fallback:") and point.bitmap.any()


def test_prefetch_fills_the_cache_so_prompts_are_instant():
    with tiny_predictor("r50-fpn-v2", trained=True) as p:
        images = [picture(seed=s) for s in range(3)]
        job = p.prefetch(images)
        assert job.wait(timeout=60) and len(job.completed) == 3 and not job.errors
        runs = p.backbone_runs
        for image in images:
            p.box_to_mask(image, (10, 10, 30, 20))
        assert p.backbone_runs == runs == 3


def test_cancelling_a_running_prefetch_stops_it_mid_backbone():
    with tiny_predictor("r50-fpn-v2", trained=True) as p:
        started, release = threading.Event(), threading.Event()
        layer_calls = [0]

        def hold(*_):
            layer_calls[0] += 1
            started.set()
            release.wait(30)

        p.model.backbone.body.layer1.register_forward_pre_hook(hold)
        job = p.prefetch([picture(seed=s) for s in range(3)])
        assert started.wait(30)  # the first backbone is running, inside layer1
        job.cancel()
        release.set()
        assert job.wait(timeout=30)
        assert job.cancelled and job.completed == [] and not job.errors
        assert layer_calls[0] == 1  # the other two images were never started
        assert len(p.cache) == 0 and p.backbone_runs == 0
        # The predictor still works afterwards.
        p.box_to_mask(picture(), (10, 10, 30, 20))
        assert p.backbone_runs == 1


def test_a_new_prefetch_cancels_the_previous_one():
    with tiny_predictor("r50-fpn-v2", trained=True) as p:
        first = p.prefetch([picture(seed=s) for s in range(4)])
        second = p.prefetch([picture(seed=9)])
        assert second.wait(60) and first.cancelled
        assert len(second.completed) == 1


def fake_features(key: str, megabytes: int) -> ImageFeatures:
    maps = OrderedDict(x=torch.zeros(megabytes * (1 << 18)))  # float32: 4 bytes each
    return ImageFeatures(key, maps, (10, 10), (10, 10), (32, 32))


def test_cache_evicts_least_recently_used_by_bytes():
    cache = FeatureCache(max_bytes=3 << 20)
    for key in "abc":
        cache.put(fake_features(key, 1))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put(fake_features("d", 1))
    assert cache.keys() == ["c", "a", "d"] and cache.nbytes == 3 << 20
    cache.put(fake_features("huge", 10))  # bigger than the budget: kept alone
    assert cache.keys() == ["huge"]


def test_cache_computes_a_key_once_for_concurrent_callers():
    cache = FeatureCache(max_bytes=1 << 30)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.2)
        return fake_features("k", 1)

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_cancel_token():
    token = CancelToken()
    token.raise_if_cancelled()
    token.cancel()
    assert token.cancelled
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_category_count_must_match_the_model():
    with pytest.raises(LongtailError, match="3 classes but 2 categories"):
        Predictor(build_model("r50-fpn-v2", 4, **TINY), ["a", "b"], device="cpu")

"""model.weights: checkpoints found and loaded offline; bad files give clear errors."""

from __future__ import annotations

import socket
import urllib.error

import pytest
import torch

from model import weights as W
from model.zoo import build_model
from pipeline.errors import LongtailError
from pipeline.vocabulary import Category


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache, and no network: any connection attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)

    def no_network(*args, **kwargs):
        raise AssertionError("the loader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return folder


@pytest.fixture(scope="module")
def coco_state():
    """A state dict with the real keys and shapes of torchvision's COCO Mask R-CNN v2."""
    torch.manual_seed(1)
    return build_model("r50-fpn-v2", 91).state_dict()


def test_cache_dir_follows_torch_home(torch_home):
    assert W.cache_dir() == torch_home
    assert all(found.path is None for found in W.survey())


def test_coco_checkpoint_in_the_cache_is_found_and_loaded_offline(torch_home, coco_state):
    file = torch_home / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"
    torch.save(coco_state, file)
    assert W.find_cached("maskrcnn_resnet50_fpn_v2_coco") == file
    categories = [Category("zebra"), Category("unicorn"), Category("human", synonyms=("person",))]
    model = build_model("r50-fpn-v2", len(categories) + 1)
    report = W.load_weights(model, "r50-fpn-v2", categories)
    assert report.source == "torchvision cache" and report.path == file
    assert report.trained_masks and report.matched_categories == 2
    state = model.state_dict()
    key = "backbone.body.layer1.0.conv1.weight"
    assert torch.equal(state[key], coco_state[key])
    # Class rows follow the names: zebra is COCO class 24, person (a synonym) class 1.
    coco_classes = list(W.COCO_CLASSES)
    for new, old in ((1, coco_classes.index("zebra")), (3, coco_classes.index("person"))):
        for key in (
            "roi_heads.box_predictor.cls_score.weight",
            "roi_heads.mask_predictor.mask_fcn_logits.weight",
        ):
            assert torch.equal(state[key][new], coco_state[key][old])
        bbox = "roi_heads.box_predictor.bbox_pred.weight"
        assert torch.equal(
            state[bbox][4 * new : 4 * new + 4], coco_state[bbox][4 * old : 4 * old + 4]
        )
    assert "2 of 3 categories" in report.summary()


def test_coco_checkpoint_into_a_class_agnostic_head(torch_home, coco_state):
    torch.save(coco_state, torch_home / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth")
    model = build_model("r50-fpn-v2", 3, class_agnostic_masks=True)
    W.load_weights(model, "r50-fpn-v2", ["cat", "dog"])
    shared = model.state_dict()["roi_heads.mask_predictor.mask_fcn_logits.weight"]
    real = [i for i, name in enumerate(W.COCO_CLASSES) if i and name != "N/A"]
    expected = coco_state["roi_heads.mask_predictor.mask_fcn_logits.weight"][real].mean(0)
    assert torch.allclose(shared[0], expected)


def test_named_file_wins_and_longtail_checkpoints_keep_their_classes(tmp_path, torch_home):
    model = build_model("swin-t", 3)
    file = tmp_path / "mine.pth"
    torch.save(
        {"model": model.state_dict(), "categories": ["b", "a"], "architecture": "swin-t"}, file
    )
    fresh = build_model("swin-t", 3)
    report = W.load_weights(fresh, "swin-t", ["a", "b"], file)
    assert report.source == "file" and report.kind == W.LONGTAIL
    key = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(fresh.state_dict()[key][1], model.state_dict()[key][2])
    with pytest.raises(LongtailError, match="is a swin-t model, not r50-fpn-v2"):
        W.load_weights(build_model("r50-fpn-v2", 3), "r50-fpn-v2", ["a", "b"], file)


@pytest.mark.parametrize(
    ("architecture", "file_name"),
    [("r50-fpn-v2", "resnet50-0676ba61.pth"), ("swin-t", "swin_t-704ceda3.pth")],
)
def test_imagenet_backbone_from_the_cache(torch_home, architecture, file_name):
    from torchvision.models import resnet50, swin_t

    classifier = (resnet50 if architecture == "r50-fpn-v2" else swin_t)(weights=None)
    torch.save(classifier.state_dict(), torch_home / file_name)
    model = build_model(architecture, 2)
    report = W.load_weights(model, architecture, ["thing"])
    assert report.kind == W.BACKBONE and not report.trained_masks
    name, tensor = next(iter(classifier.state_dict().items()))
    assert torch.equal(model.backbone.body.state_dict()[name], tensor)


def test_no_weights_is_a_reported_state(torch_home):
    report = W.load_weights(build_model("swin-t", 2), "swin-t", ["thing"])
    assert not report.has_weights and not report.trained_masks
    assert "no weights found" in report.summary() and "random initialisation" in report.summary()


def test_corrupt_truncated_and_foreign_files_give_clear_errors(tmp_path, torch_home, coco_state):
    model = build_model("r50-fpn-v2", 2)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(LongtailError, match="not a PyTorch checkpoint"):
        W.load_weights(model, "r50-fpn-v2", ["a"], garbage)
    whole = tmp_path / "whole.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, whole)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(whole.read_bytes()[:-200])
    with pytest.raises(LongtailError, match=r"truncated\.pth"):
        W.load_weights(model, "r50-fpn-v2", ["a"], truncated)
    with pytest.raises(LongtailError, match="does not exist"):
        W.load_weights(model, "r50-fpn-v2", ["a"], tmp_path / "missing.pth")
    other = tmp_path / "other.pth"
    torch.save({"layer.weight": torch.zeros(2)}, other)
    with pytest.raises(LongtailError, match="neither a Mask R-CNN"):
        W.load_weights(model, "r50-fpn-v2", ["a"], other)


def test_mismatched_checkpoint_names_what_does_not_fit(tmp_path, torch_home, coco_state):
    coco = tmp_path / "coco.pth"
    torch.save(coco_state, coco)
    with pytest.raises(LongtailError, match="does not fit this model: .*missing keys"):
        W.load_weights(build_model("swin-t", 2), "swin-t", ["a"], coco)
    broken = dict(coco_state)
    broken["backbone.fpn.layer_blocks.0.0.weight"] = torch.zeros(256, 256, 1, 1)
    torch.save(broken, coco)
    with pytest.raises(LongtailError, match="wrong shape .*layer_blocks"):
        W.load_weights(build_model("r50-fpn-v2", 2), "r50-fpn-v2", ["a"], coco)


def test_checkpoint_rows_follow_the_vocabulary_matching_rule():
    source = ["person", "N/A", "car", "dining table"]
    cats = [
        Category("Dining_Table"),
        Category("automobile", synonyms=("car",)),
        Category("n/a"),
        Category("car"),
    ]
    assert W.checkpoint_rows(source, cats) == [3, None, None, 2]


def test_fetch_without_a_network_fails_in_one_line(torch_home, monkeypatch):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(LongtailError) as caught:
        W.fetch("swin_t_imagenet")
    message = str(caught.value)
    assert "\n" not in message and "cannot download swin_t-704ceda3.pth" in message
    assert str(torch_home) in message
    with pytest.raises(LongtailError, match="unknown checkpoint"):
        W.fetch("resnet9000")


def test_lvis_vocabulary_maps_onto_coco_by_synset_and_bare_names():
    from pipeline.vocabulary import shipped_vocabulary

    lvis = list(shipped_vocabulary("lvis").categories)
    mapping = W.checkpoint_rows(list(W.COCO_CLASSES[1:]), lvis)
    pairs = {lvis[j].name: W.COCO_CLASSES[1 + i] for j, i in enumerate(mapping) if i is not None}
    assert pairs["cellular_telephone"] == "cell phone"  # synset
    assert pairs["car_(automobile)"] == "car" and pairs["bus_(vehicle)"] == "bus"
    assert len(set(pairs.values())) == len(pairs) >= 79

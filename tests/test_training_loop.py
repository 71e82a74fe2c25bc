"""model.training.loop: schedule, resume, cancel, starting weights, checkpoints, registry."""

from __future__ import annotations

import threading

import pytest
import torch
from sqlalchemy import update
from training_support import one_thread, shapes_project  # noqa: F401 (autouse)

from model.training.architectures import build_for_training
from model.training.config import TrainConfig
from model.training.loop import (
    START_COCO,
    START_IMAGENET,
    START_SCRATCH,
    start_weights,
    train,
)
from model.training.loss import PRIOR_PROBABILITY, use_federated_heads
from model.training.registry import CANCELLED, FINISHED, get_model, list_models, use_model
from model.weights import CLASS_SPECIFIC, COCO_CLASSES
from pipeline.errors import LongtailError
from pipeline.store import schema as s
from pipeline.vocabulary import Category


@pytest.fixture
def project(tmp_path):
    with shapes_project(tmp_path, train=6, val=2, size=64) as p:
        yield p


def tiny_config(**changes) -> TrainConfig:
    values = dict(
        architecture="tiny",
        iterations=6,
        batch_size=2,
        min_size=64,
        max_size=64,
        checkpoint_every=100,
        evaluate=False,
        use_weights_cache=False,
        lr=0.01,
        warmup_iterations=2,
    )
    values.update(changes)
    return TrainConfig(**values)


def as_dicts(events: list):
    """A report that keeps each event as its JSON-line dict."""
    return lambda event: events.append(event.as_dict())


def stopping_after(iteration: int, stop: threading.Event, events: list):
    def report(event) -> None:
        event = event.as_dict()
        events.append(event)
        if event["event"] == "progress" and event["iteration"] == iteration:
            stop.set()

    return report


# ---------------------------------------------------------------- the schedule


def test_the_learning_rate_warms_up_linearly_then_steps_down():
    config = TrainConfig(iterations=100, lr=1.0, warmup_iterations=10, lr_steps=(0.5, 0.8))
    assert config.lr_at(0) == pytest.approx(0.001)
    assert config.lr_at(5) == pytest.approx(0.001 * 0.5 + 0.5)
    assert config.lr_at(10) == config.lr_at(49) == 1.0
    assert config.lr_at(50) == pytest.approx(0.1)
    assert config.lr_at(80) == pytest.approx(0.01)


def test_resnets_train_with_sgd_and_swin_with_adamw_scaled_to_the_batch():
    assert TrainConfig(architecture="r50-fpn-v2").optimizer == "sgd"
    assert TrainConfig(architecture="swin-t").optimizer == "adamw"
    assert TrainConfig(batch_size=2, accumulate=4).base_lr(world_size=2) == pytest.approx(0.02)
    assert TrainConfig(architecture="swin-t", batch_size=4).base_lr() == pytest.approx(2.5e-5)


def test_bad_settings_are_refused_by_name():
    with pytest.raises(LongtailError, match="iterations"):
        TrainConfig(iterations=0).check()


# ---------------------------------------------------------------- a run, resume, cancel


def test_a_run_registers_a_finished_model_with_its_checkpoint_and_metrics(project):
    events: list[dict] = []
    result = train(project, tiny_config(iterations=3, evaluate=True), report=as_dicts(events))
    record = get_model(project, result.model_id)
    assert record.status == FINISHED and record.iterations == 3
    assert record.data_hash and record.config["start_weights"] == START_SCRATCH
    assert set(record.metrics["coco"]) == {"segm", "bbox"}
    assert set(record.metrics["lvis"]["segm"]) >= {"AP", "APr", "APc", "APf"}
    data = torch.load(record.checkpoint_path(project), weights_only=True)
    assert data["iteration"] == 3 and data["architecture"] == "tiny"
    assert (record.checkpoint_path(project).parent / "checkpoint.json").is_file()
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["registered", "start"] and kinds[-1] == "done" and kinds.count("progress") == 3
    progress = next(e for e in events if e["event"] == "progress")
    assert set(progress) >= {"iteration", "loss", "losses", "lr", "images_per_s", "eta_s"}
    assert set(progress["losses"]) >= {"loss_classifier", "loss_mask", "loss_objectness"}


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(project):
    config = tiny_config(iterations=6)
    whole = train(project, config).losses
    stop, events = threading.Event(), []
    first = train(project, config, stop=stop, report=stopping_after(3, stop, events))
    assert first.status == CANCELLED and first.iterations_done == 3
    assert get_model(project, first.model_id).status == CANCELLED
    rest = train(project, tiny_config(), resume=True)
    assert rest.model_id == first.model_id and rest.iterations_done == 6
    assert [x["loss"] for x in first.losses + rest.losses] == [x["loss"] for x in whole]
    assert get_model(project, first.model_id).status == FINISHED


def test_a_cancelled_run_leaves_a_checkpoint_that_proposes_masks(project):
    stop, events = threading.Event(), []
    result = train(project, tiny_config(), stop=stop, report=stopping_after(2, stop, events))
    assert result.status == CANCELLED
    assert events[-1]["event"] == "cancelled" and events[-1]["iteration"] == 2
    use_model(project, result.model_id)
    from model.registry import project_predictor

    with project_predictor(project, device="cpu") as predictor:
        assert predictor.trained
        found = predictor.propose(torch.zeros(64, 64, 3, dtype=torch.uint8).numpy())
        assert isinstance(found, list)


def test_resume_refuses_when_the_data_changed(project):
    stop = threading.Event()
    train(project, tiny_config(), stop=stop, report=stopping_after(1, stop, []))
    with project.write() as conn:
        conn.execute(
            update(s.image_categories)
            .where(s.image_categories.c.state == s.NEGATIVE)
            .values(state=s.SPOTTED)
        )
    with pytest.raises(LongtailError, match="trained on other data"):
        train(project, tiny_config(), resume=True)


def test_nothing_to_resume_is_a_clear_error(project):
    with pytest.raises(LongtailError, match="nothing to resume"):
        train(project, tiny_config(), resume=True)


def test_gradient_accumulation_counts_every_forward(project):
    events: list[dict] = []
    train(project, tiny_config(iterations=1, batch_size=1, accumulate=2), report=as_dicts(events))
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0]["images"] == 2
    assert len(list_models(project)) == 1


# ---------------------------------------------------------------- starting weights


def test_a_coco_checkpoint_initialises_everything_but_the_class_predictors(tmp_path):
    torch.manual_seed(1)
    coco = build_for_training("r50-fpn-v2", len(COCO_CLASSES), min_size=64, max_size=64)
    path = tmp_path / "maskrcnn_coco.pth"
    torch.save(coco.state_dict(), path)
    categories = [Category("unicorn"), Category("dog", synonyms=("doggy",))]
    torch.manual_seed(2)
    model = use_federated_heads(build_for_training("r50-fpn-v2", 3, min_size=64, max_size=64))
    report, start = start_weights(model, "r50-fpn-v2", categories, str(path))
    assert start == START_COCO and report.matched_categories == 1
    source, target = coco.state_dict(), model.state_dict()
    for key, value in source.items():
        if not key.startswith(CLASS_SPECIFIC):
            assert torch.equal(target[key], value), key
    dog = COCO_CLASSES.index("dog")
    cls, box = "roi_heads.box_predictor.cls_score.", "roi_heads.box_predictor.bbox_pred."
    # softmax rows enter the sigmoid head calibrated: minus the background row (model.weights)
    calibrated = source[cls + "weight"][dog] - source[cls + "weight"][0]
    assert torch.allclose(target[cls + "weight"][2], calibrated)
    assert torch.equal(target[box + "weight"][8:12], source[box + "weight"][dog * 4 : dog * 4 + 4])
    mask = "roi_heads.mask_predictor.mask_fcn_logits.weight"
    assert torch.equal(target[mask][2], source[mask][dog])
    # the unmatched unicorn starts as a fresh sigmoid class, not as any COCO class
    prior = torch.tensor(PRIOR_PROBABILITY).logit()
    assert target[cls + "bias"][1].item() == pytest.approx(prior.item(), rel=1e-5)
    assert not any(torch.equal(target[cls + "weight"][1], row) for row in source[cls + "weight"])


def test_an_imagenet_classifier_starts_the_backbone_only(tmp_path):
    from torchvision.models import resnet50

    torch.manual_seed(3)
    classifier = resnet50()
    path = tmp_path / "resnet50.pth"
    torch.save(classifier.state_dict(), path)
    model = use_federated_heads(build_for_training("r50-fpn-v2", 2, min_size=64, max_size=64))
    report, start = start_weights(model, "r50-fpn-v2", [Category("dog")], str(path))
    assert start == START_IMAGENET
    assert torch.equal(model.backbone.body.conv1.weight, classifier.conv1.weight)


def test_without_any_weights_the_model_starts_from_scratch_and_says_so():
    model = use_federated_heads(build_for_training("tiny", 2, min_size=64, max_size=64))
    report, start = start_weights(model, "tiny", [Category("dog")], use_cache=False)
    assert start == START_SCRATCH and "random initialisation" in report.summary()

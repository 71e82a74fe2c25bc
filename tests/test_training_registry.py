"""model.training.registry and model.registry: the models table, "in use", the predictor."""

from __future__ import annotations

import pytest
import torch

from model.registry import project_predictor
from model.training.architectures import build_for_training
from model.training.checkpoint import read_model_file, write_checkpoint
from model.training.loss import FederatedRoIHeads, use_federated_heads
from model.training.registry import (
    FINISHED,
    ModelNotFoundError,
    create_model,
    get_model,
    in_use_model,
    list_models,
    model_dir,
    stop_using,
    update_model,
    use_model,
)
from model.weights import WeightsError
from pipeline.errors import LongtailError
from pipeline.vocabulary import Category, Vocabulary, add_categories, project_categories


@pytest.fixture
def project(empty_project):
    add_categories(empty_project, Vocabulary("test", (Category("cat"), Category("dog"))))
    return empty_project


def finished_tiny_model(project, *, write_file: bool = True):
    categories = project_categories(project)
    record = create_model(
        project,
        name="tiny run",
        architecture="tiny",
        category_ids=[c.id for c in categories],
        config={"min_size": 64, "max_size": 96, "iterations_done": 3, "data_hash": "abc"},
    )
    torch.manual_seed(0)
    model = use_federated_heads(build_for_training("tiny", 3, min_size=64, max_size=96))
    relative = None
    if write_file:
        path = write_checkpoint(
            model_dir(project, record.id),
            model_state=model.state_dict(),
            architecture="tiny",
            categories=[c.name for c in categories],
            category_ids=[c.id for c in categories],
            iteration=3,
            optimizer_state=None,
            scaler_state=None,
            info={"data_hash": "abc"},
        )
        relative = project.relative(path)
    return update_model(
        project, record.id, status=FINISHED, checkpoint=relative, finished=True
    ), model


def test_a_new_run_is_listed_as_training_and_can_be_finished(project):
    record = create_model(
        project, name="r1", architecture="r50-fpn-v2", category_ids=[1, 2], config={"a": 1}
    )
    assert [m.id for m in list_models(project)] == [record.id]
    assert record.status == "training" and not record.usable
    done = update_model(
        project, record.id, status=FINISHED, config={"b": 2}, metrics={"coco": {}}, finished=True
    )
    assert done.config == {"a": 1, "b": 2}
    assert done.finished_at is not None and done.metrics == {"coco": {}}


def test_an_unknown_model_id_is_a_clear_error(project):
    with pytest.raises(ModelNotFoundError, match="no model 7"):
        get_model(project, 7)


def test_using_a_model_marks_it_in_use_and_stop_using_clears_it(project):
    record, _ = finished_tiny_model(project)
    assert in_use_model(project) is None
    use_model(project, record.id)
    assert in_use_model(project).id == record.id
    assert [m.in_use for m in list_models(project)] == [True]
    stop_using(project)
    assert in_use_model(project) is None


def test_a_model_without_weights_cannot_be_used(project):
    record = create_model(project, name="r", architecture="tiny", category_ids=[1], config={})
    with pytest.raises(LongtailError, match="cannot be used: it is training"):
        use_model(project, record.id)


def test_checkpoint_loads_with_weights_only(project):
    record, _ = finished_tiny_model(project)
    data = torch.load(record.checkpoint_path(project), weights_only=True)
    assert data["architecture"] == "tiny" and data["categories"] == ["cat", "dog"]
    assert read_model_file(record.checkpoint_path(project))["iteration"] == 3


def test_project_predictor_without_a_model_in_use_is_the_default(project):
    with project_predictor(project, device="cpu", use_cache=False) as predictor:
        assert not predictor.trained  # no weights here: box prompts use the fallback
        assert [c.name for c in predictor.categories] == ["cat", "dog"]


def test_project_predictor_loads_the_model_in_use_with_its_weights(project):
    record, model = finished_tiny_model(project)
    use_model(project, record.id)
    with project_predictor(project, device="cpu") as predictor:
        assert predictor.trained
        assert isinstance(predictor.model.roi_heads, FederatedRoIHeads)
        assert "trained model" in predictor.weights.summary()
        for key, value in model.state_dict().items():
            assert torch.equal(predictor.model.state_dict()[key], value), key


def test_a_model_in_use_whose_file_is_gone_names_it(project):
    record, _ = finished_tiny_model(project)
    use_model(project, record.id)
    record.checkpoint_path(project).unlink()
    with pytest.raises(WeightsError, match="does not exist"):
        project_predictor(project, device="cpu")


def test_a_box_prompt_on_a_trained_model_scores_with_the_sigmoid(project):
    import numpy as np

    record, model = finished_tiny_model(project)
    use_model(project, record.id)
    with project_predictor(project, device="cpu") as predictor:
        cls = predictor.model.roi_heads.box_predictor.cls_score
        with torch.no_grad():
            cls.weight.zero_()
            cls.bias.copy_(torch.tensor([3.0, 1.0, -2.0]))
        proposal = predictor.box_to_mask(np.zeros((64, 64, 3), np.uint8), (8, 8, 30, 30))
    assert proposal.category == "cat"
    assert proposal.score == pytest.approx(float(torch.tensor(1.0).sigmoid()), rel=1e-5)

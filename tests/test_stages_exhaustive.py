"""Stage 5, exhaustive annotations verification, and the missing-instance loop."""

from __future__ import annotations

import pytest
from stages_support import (
    all_segmented,
    category_ids,
    confirmed_pair,
    make_project,
    pair_state,
    pending,
    rows,
    segment_and_accept,
)

from pipeline.errors import LongtailError
from pipeline.federated import project_labels, project_violations
from pipeline.stages import EXHAUSTIVE, SEGMENTATION, ExhaustiveAnswer, Mark, Pipeline
from pipeline.store import schema as s


@pytest.fixture
def setup(tmp_path):
    with make_project(tmp_path, images=1, negatives_per_category=0) as project:
        service = Pipeline(project)
        service.seed()
        cats = category_ids(project)
        image_id, category_id = confirmed_pair(service, cats, [(10, 10, 30, 20)])
        segment_and_accept(service)
        yield project, service, image_id, category_id


def test_the_view_shows_every_accepted_mask_of_the_pair(setup):
    project, service, image_id, category_id = setup
    item = service.next_item(EXHAUSTIVE, "checker")
    assert item.category.id == category_id and item.round == 1
    (annotation,) = item.annotations
    assert annotation.instance.status == s.ACCEPTED and annotation.segment.area == 600


def test_all_segmented_makes_the_pair_an_exhaustive_positive(setup):
    project, service, image_id, category_id = setup
    all_segmented(service)
    pair = pair_state(project, image_id, category_id)
    assert pair.exhaustive is True
    labels = project_labels(project)[image_id]
    assert labels.positive_category_ids == {category_id}
    assert labels.not_exhaustive_category_ids == frozenset()


def test_missing_instance_loop_mark_segment_verify_and_a_second_round(setup):
    project, service, image_id, category_id = setup
    item = service.next_item(EXHAUSTIVE, "checker")
    result = service.answer(item, ExhaustiveAnswer(False, [Mark(70, 50, (60, 40, 20, 30))]))
    assert result.opened[SEGMENTATION] == 1
    assert pair_state(project, image_id, category_id).exhaustive is None
    assert len(rows(project, s.instances)) == 2
    # still a positive (one accepted mask) while the new instance is made
    assert project_labels(project)[image_id].positive_category_ids == {category_id}
    segment_and_accept(service)
    second = service.next_item(EXHAUSTIVE, "checker")
    assert second is not None and second.round == 2 and len(second.annotations) == 2
    service.answer(second, ExhaustiveAnswer(True))
    assert pair_state(project, image_id, category_id).exhaustive is True
    assert not project_violations(project)


def test_some_missing_without_marks_is_not_exhaustive(setup):
    project, service, image_id, category_id = setup
    item = service.next_item(EXHAUSTIVE, "checker")
    service.answer(item, ExhaustiveAnswer(False))
    assert pair_state(project, image_id, category_id).exhaustive is False
    labels = project_labels(project)[image_id]
    assert labels.not_exhaustive_category_ids == {category_id} <= labels.positive_category_ids
    assert not pending(project, EXHAUSTIVE) and not project_violations(project)


def test_all_segmented_with_missing_marks_is_refused(setup):
    project, service, image_id, category_id = setup
    item = service.next_item(EXHAUSTIVE, "checker")
    with pytest.raises(LongtailError, match="cannot come with missing"):
        service.answer(item, ExhaustiveAnswer(True, [Mark(70, 50)]))
    assert rows(project, s.exhaustive_checks) == []

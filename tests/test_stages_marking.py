"""Stage 2, exhaustive instance marking: confirm the category, then mark every instance."""

from __future__ import annotations

import pytest
from stages_support import category_ids, make_project, pair_state, pending, rows, spot_image

from pipeline.errors import ConflictError, LongtailError
from pipeline.federated import project_labels
from pipeline.stages import MARKING, SEGMENTATION, Mark, MarkAnswer, Pipeline, Spot
from pipeline.store import schema as s


@pytest.fixture
def setup(tmp_path):
    with make_project(tmp_path, images=1, negatives_per_category=0) as project:
        service = Pipeline(project)
        service.seed()
        cats = category_ids(project)
        item = spot_image(service, "spotter", [Spot(cats["dog"], 30, 40)])
        yield project, service, cats, item.image.id


def test_the_view_shows_the_definition_and_the_spot(setup):
    project, service, cats, image_id = setup
    item = service.next_item(MARKING, "marker")
    assert item.category.name == "dog" and item.category.definition == "the definition of a dog"
    assert item.spot == (30.0, 40.0) and item.marks == ()
    assert item.image.id == image_id


def test_confirming_marks_every_instance_and_opens_one_segmentation_item_each(setup):
    project, service, cats, image_id = setup
    item = service.next_item(MARKING, "marker")
    marks = [Mark(30, 40, (20, 30, 25, 25)), Mark(80, 50)]
    result = service.answer(item, MarkAnswer(True, marks))
    assert result.opened[SEGMENTATION] == 2
    assert pair_state(project, image_id, cats["dog"]).state == s.CONFIRMED
    instances = rows(project, s.instances)
    assert [(i.x, i.y, i.status) for i in instances] == [(30, 40, "marked"), (80, 50, "marked")]
    assert (instances[0].box_x, instances[0].box_w) == (20, 25) and instances[1].box_w is None
    assert {r.instance_id for r in pending(project, SEGMENTATION)} == {i.id for i in instances}
    # confirmed, but no accepted mask yet: not a positive
    assert project_labels(project)[image_id].positive_category_ids == frozenset()


def test_a_rejected_category_leaves_the_positives(setup):
    project, service, cats, image_id = setup
    item = service.next_item(MARKING, "marker")
    result = service.answer(item, MarkAnswer(category_fits=False))
    assert sum(result.opened.values()) == 0
    assert pair_state(project, image_id, cats["dog"]).state == s.REJECTED
    assert not rows(project, s.instances)
    labels = project_labels(project)[image_id]
    assert cats["dog"] not in labels.positive_category_ids | labels.negative_category_ids


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (MarkAnswer(True), "mark every instance"),
        (MarkAnswer(False, [Mark(1, 1)]), "does not fit"),
        (MarkAnswer(True, [Mark(1000, 1)]), "outside"),
        (MarkAnswer(True, [Mark(10, 10, (5, 5, 0, 3))]), "positive width"),
    ],
)
def test_bad_marking_answers_are_refused(setup, answer, message):
    project, service, _, _ = setup
    item = service.next_item(MARKING, "marker")
    with pytest.raises(LongtailError, match=message):
        service.answer(item, answer)
    assert not rows(project, s.instances)


def test_a_pair_no_longer_spotted_cannot_be_marked(setup):
    project, service, cats, image_id = setup
    item = service.next_item(MARKING, "marker")
    with project.write() as conn:
        conn.execute(
            s.image_categories.update()
            .where(s.image_categories.c.image_id == image_id)
            .values(state=s.NEGATIVE)
        )
    with pytest.raises(ConflictError, match="no longer waits"):
        service.answer(item, MarkAnswer(True, [Mark(30, 40)]))

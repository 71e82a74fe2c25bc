"""Stage 6, negative labels: candidate sampling (rarer first, quota) and the answers."""

from __future__ import annotations

import pytest
from stages_support import (
    category_ids,
    finish_spotting,
    image_ids,
    make_project,
    pair_state,
    pending,
    rows,
)

from pipeline.errors import ConflictError
from pipeline.federated import project_labels
from pipeline.stages import MARKING, NEGATIVES, SPOTTING, NegativeAnswer, Pipeline, Spot, SpotAnswer
from pipeline.store import schema as s


def spotted_project(tmp_path, images, spots, **settings):
    """Every image spotted with ``spots[i]`` (category names) and finished."""
    settings = {"spot_done_after": 1, **settings}
    project = make_project(tmp_path, images=images, **settings)
    service = Pipeline(project)
    service.seed()
    cats = category_ids(project)
    ids = image_ids(project)
    for image_id, names in zip(ids, spots, strict=True):
        item = service.next_item(SPOTTING, "spotter")
        assert item.image.id == image_id
        if names:
            service.answer(item, SpotAnswer([Spot(cats[n], 5, 5) for n in names]))
        else:
            service.answer(item, SpotAnswer(nothing_new=True))
    for image_id in ids:
        finish_spotting(service, image_id, "other")
    return project, service, cats, ids


def test_candidates_skip_known_categories_and_go_rarest_first(tmp_path):
    # cat is spotted in 3 images, dog in 2, bird in 1: cup and car (0) are rarest
    spots = [["cat", "dog", "bird"], ["cat", "dog"], ["cat"], []]
    project, service, cats, ids = spotted_project(
        tmp_path, 4, spots, negatives_per_category=10, negative_candidates_per_image=2
    )
    with project:
        items = pending(project, NEGATIVES)
        by_image = {}
        for r in items:
            by_image.setdefault(r.image_id, set()).add(r.category_id)
        rarest = {cats["cup"], cats["car"]}
        assert all(got == rarest for got in by_image.values())
        assert len(by_image) == 4
        # the priority is the rarity: answered rarest first
        assert {r.priority for r in items} == {0.0}


def test_each_round_follows_the_last_answer_and_the_quota_holds(tmp_path):
    project, service, cats, ids = spotted_project(
        tmp_path,
        3,
        [["cat"], ["cat"], []],
        negatives_per_category=2,
        negative_candidates_per_image=2,
    )
    with project:
        answered = 0
        while (item := service.next_item(NEGATIVES, "checker")) is not None:
            service.answer(item, NegativeAnswer(present=False))
            answered += 1
            negatives = rows(project, s.image_categories, s.image_categories.c.state == s.NEGATIVE)
            per_category = {}
            for r in negatives + pending(project, NEGATIVES):
                per_category[r.category_id] = per_category.get(r.category_id, 0) + 1
            assert max(per_category.values()) <= 2  # verified + pending never exceed the quota
        labels = project_labels(project)
        counts = {
            name: sum(cid in got.negative_category_ids for got in labels.values())
            for name, cid in cats.items()
        }
        # every category reached its quota where the data allows: cat is in 2 of 3 images
        assert counts == {"cat": 1, "dog": 2, "bird": 2, "cup": 2, "car": 2}
        assert answered == 9


def test_absent_makes_a_verified_negative(tmp_path):
    project, service, cats, ids = spotted_project(
        tmp_path, 1, [["cat"]], negatives_per_category=1, negative_candidates_per_image=1
    )
    with project:
        item = service.next_item(NEGATIVES, "checker")
        assert item.category.name in ("dog", "bird", "cup", "car")
        service.answer(item, NegativeAnswer(present=False))
        assert pair_state(project, ids[0], item.category.id).state == s.NEGATIVE
        labels = project_labels(project)[ids[0]]
        assert labels.negative_category_ids == {item.category.id}
        assert not labels.negative_category_ids & labels.positive_category_ids


def test_present_turns_the_candidate_into_a_spotted_category(tmp_path):
    project, service, cats, ids = spotted_project(
        tmp_path, 1, [[]], negatives_per_category=1, negative_candidates_per_image=1
    )
    with project:
        item = service.next_item(NEGATIVES, "checker")
        result = service.answer(item, NegativeAnswer(present=True))
        assert result.opened[MARKING] == 1
        assert pair_state(project, ids[0], item.category.id).state == s.SPOTTED
        (spot,) = rows(project, s.spots)
        assert spot.x is None and spot.visit_id is None
        marking = service.next_item(MARKING, "marker")
        assert marking.category.id == item.category.id and marking.spot is None
        assert [c.present for c in rows(project, s.negative_checks)] == [True]


def test_a_candidate_that_became_known_meanwhile_is_refused(tmp_path):
    project, service, cats, ids = spotted_project(
        tmp_path, 1, [[]], negatives_per_category=1, negative_candidates_per_image=1
    )
    with project:
        item = service.next_item(NEGATIVES, "checker")
        with project.write() as conn:
            conn.execute(
                s.image_categories.insert().values(
                    image_id=ids[0],
                    category_id=item.category.id,
                    state=s.SPOTTED,
                    source=s.SOURCE_PIPELINE,
                    updated_at=0.0,
                )
            )
        with pytest.raises(ConflictError, match="already known"):
            service.answer(item, NegativeAnswer(present=False))


def test_seed_samples_for_finished_images_after_the_quota_was_raised(tmp_path):
    project, service, cats, ids = spotted_project(
        tmp_path, 2, [[], []], negatives_per_category=0, negative_candidates_per_image=3
    )
    with project:
        assert not pending(project, NEGATIVES)
        project.update_settings(negatives_per_category=1)
        report = service.seed()
        assert report.opened[NEGATIVES] == 5  # five categories, one image each
        assert service.seed().opened[NEGATIVES] == 0

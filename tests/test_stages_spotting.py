"""Stage 1, object spotting: visits, "nothing new" answers, the stop rule."""

from __future__ import annotations

import pytest
from conftest import make_image
from stages_support import category_ids, image_ids, make_project, pair_state, pending, rows

from pipeline.errors import LongtailError, NotFoundError
from pipeline.images import add_image_folder
from pipeline.stages import MARKING, NEGATIVES, SPOTTING, Pipeline, Spot, SpotAnswer
from pipeline.store import schema as s


@pytest.fixture
def project(tmp_path):
    with make_project(tmp_path, images=2, negatives_per_category=0) as project:
        yield project


def test_seed_opens_one_spotting_item_per_image_and_is_idempotent(project):
    service = Pipeline(project)
    report = service.seed()
    assert report.opened[SPOTTING] == 2 and report.total == 2
    assert service.seed().total == 0
    assert {r.image_id for r in pending(project, SPOTTING)} == set(image_ids(project))


def test_a_spot_makes_a_spotted_pair_a_marking_item_and_the_next_visit(project):
    service = Pipeline(project)
    service.seed()
    cats = category_ids(project)
    item = service.next_item(SPOTTING, "alice")
    assert item.known == () and item.visits == 0 and item.done_after == 2
    result = service.answer(item, SpotAnswer([Spot(cats["dog"], 10, 20)]))
    assert result.opened[MARKING] == 1 and result.opened[SPOTTING] == 1
    assert pair_state(project, item.image.id, cats["dog"]).state == s.SPOTTED
    visit = [r for r in pending(project, SPOTTING) if r.image_id == item.image.id]
    assert len(visit) == 1 and visit[0].excluded_annotator == item.annotator.id
    # the next visitor sees the earlier spot, with its point
    other = service.next_item(SPOTTING, "bob")  # the other image's first visit goes first
    assert other.image.id != item.image.id
    bob = service.next_item(SPOTTING, "bob")
    assert bob.image.id == item.image.id  # bob is not excluded
    assert [(k.name, k.point, k.state) for k in bob.known] == [("dog", (10.0, 20.0), "spotted")]
    assert bob.visits == 1 and bob.nothing_new_in_row == 0


def test_stop_rule_counts_nothing_new_answers_in_a_row(tmp_path):
    with make_project(tmp_path, images=1, negatives_per_category=0, spot_done_after=2) as project:
        service = Pipeline(project)
        service.seed()
        cats = category_ids(project)
        (image,) = image_ids(project)
        answers = [
            ("a", SpotAnswer(nothing_new=True)),
            ("b", SpotAnswer([Spot(cats["cat"], 5, 5)])),  # resets the count
            ("a", SpotAnswer(nothing_new=True)),
        ]
        for who, answer in answers:
            service.answer(service.next_item(SPOTTING, who), answer)
            assert not rows(project, s.spotting_finished)
        item = service.next_item(SPOTTING, "b")
        assert item.nothing_new_in_row == 1
        result = service.answer(item, SpotAnswer(nothing_new=True))
        assert result.opened[SPOTTING] == 0
        assert [r.reason for r in rows(project, s.spotting_finished)] == ["visits"]
        assert service.next_item(SPOTTING, "a") is None
        visits = rows(project, s.spot_visits, s.spot_visits.c.image_id == image)
        assert [v.nothing_new for v in visits] == [True, False, True, True]


def test_the_next_visit_prefers_another_annotator_but_never_blocks_one(project):
    service = Pipeline(project)
    service.seed()
    first = service.next_item(SPOTTING, "alice")
    service.answer(first, SpotAnswer(nothing_new=True))
    # the other image is open: alice gets that one, not the one she just visited
    second = service.next_item(SPOTTING, "alice")
    assert second.image.id != first.image.id
    service.answer(second, SpotAnswer(nothing_new=True))
    # only images alice visited last are left: she may take them (a solo annotator)
    third = service.next_item(SPOTTING, "alice")
    assert third is not None


def test_a_solo_annotator_finishes_spotting(project):
    service = Pipeline(project)
    service.seed()
    answered = 0
    while (item := service.next_item(SPOTTING, "solo")) is not None:
        service.answer(item, SpotAnswer(nothing_new=True))
        answered += 1
    assert answered == 4  # two images, two "nothing new" each
    assert len(rows(project, s.spotting_finished)) == 2


def test_finishing_spotting_samples_negative_candidates(tmp_path):
    with make_project(
        tmp_path,
        images=1,
        spot_done_after=1,
        negatives_per_category=5,
        negative_candidates_per_image=3,
    ) as project:
        service = Pipeline(project)
        service.seed()
        cats = category_ids(project)
        service.answer(service.next_item(SPOTTING, "a"), SpotAnswer([Spot(cats["cat"], 1, 1)]))
        result = service.answer(service.next_item(SPOTTING, "b"), SpotAnswer(nothing_new=True))
        assert result.opened[NEGATIVES] == 3
        candidates = {r.category_id for r in pending(project, NEGATIVES)}
        assert cats["cat"] not in candidates and len(candidates) == 3


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (SpotAnswer(), "nothing new"),
        (SpotAnswer([Spot(1, 5, 5)], nothing_new=True), "both"),
        (SpotAnswer([Spot(1, 500, 5)]), "outside"),
        (SpotAnswer([Spot(1, 5, 5), Spot(1, 6, 6)]), "already known"),
    ],
)
def test_bad_spotting_answers_are_refused_and_change_nothing(project, answer, message):
    service = Pipeline(project)
    service.seed()
    item = service.next_item(SPOTTING, "alice")
    with pytest.raises(LongtailError, match=message):
        service.answer(item, answer)
    assert not rows(project, s.spot_visits) and not rows(project, s.spots)
    service.answer(item, SpotAnswer(nothing_new=True))  # still held, still answerable


def test_an_unknown_category_is_refused(project):
    service = Pipeline(project)
    service.seed()
    item = service.next_item(SPOTTING, "alice")
    with pytest.raises(NotFoundError):
        service.answer(item, SpotAnswer([Spot(999, 5, 5)]))


def test_rejected_and_negative_categories_cannot_be_spotted_again(project):
    service = Pipeline(project)
    service.seed()
    cats = category_ids(project)
    item = service.next_item(SPOTTING, "alice")
    with project.write() as conn:
        conn.execute(
            s.image_categories.insert().values(
                image_id=item.image.id,
                category_id=cats["cup"],
                state=s.REJECTED,
                source=s.SOURCE_PIPELINE,
                updated_at=0.0,
            )
        )
    fresh = service.item(item.id, "alice")
    assert fresh.excluded_category_ids == {cats["cup"]}
    with pytest.raises(LongtailError, match="already known"):
        service.answer(item, SpotAnswer([Spot(cats["cup"], 5, 5)]))


def test_images_added_after_seeding_are_spotted_without_another_seed(tmp_path):
    with make_project(tmp_path, images=1, negatives_per_category=0) as project:
        service = Pipeline(project)
        service.seed()
        service.answer(service.next_item(SPOTTING, "a"), SpotAnswer(nothing_new=True))
        service.answer(service.next_item(SPOTTING, "a"), SpotAnswer(nothing_new=True))
        assert service.next_item(SPOTTING, "a") is None
        make_image(tmp_path / "later" / "new.png", 50, 40)
        add_image_folder(project, tmp_path / "later")
        item = service.next_item(SPOTTING, "a")
        assert item is not None and item.image.file_name == "new.png"

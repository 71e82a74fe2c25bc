"""The service API: leases (claim, renew, release, expire), skip, undo, events, imports."""

from __future__ import annotations

import time

import pytest
from stages_support import (
    box_mask,
    category_ids,
    confirmed_pair,
    image_ids,
    make_project,
    pair_state,
    pending,
    rows,
    segment_and_accept,
    store_accepted_segment,
)

from pipeline.annotations import insert_instance
from pipeline.errors import ConflictError, LongtailError
from pipeline.events import Effort
from pipeline.federated import project_labels, project_violations
from pipeline.stages import (
    EXHAUSTIVE,
    MARKING,
    NEGATIVES,
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
    ExhaustiveAnswer,
    Mark,
    MarkAnswer,
    NegativeAnswer,
    Pipeline,
    SegmentAnswer,
    Spot,
    SpotAnswer,
    VerifyAnswer,
)
from pipeline.store import schema as s
from pipeline.store.database import now


@pytest.fixture
def project(tmp_path):
    with make_project(tmp_path, images=3, negatives_per_category=0) as project:
        yield project


@pytest.fixture
def service(project):
    service = Pipeline(project)
    service.seed()
    return service


def expire(project, item_id):
    with project.write() as conn:
        conn.execute(
            s.work_items.update()
            .where(s.work_items.c.id == item_id)
            .values(lease_expires=now() - 1)
        )


# ---------------------------------------------------------------- leases


def test_an_item_someone_holds_is_never_claimed_by_another(service):
    held = [service.next_item(SPOTTING, name) for name in ("a", "b", "c")]
    assert len({i.id for i in held}) == 3
    assert service.next_item(SPOTTING, "d") is None
    assert all(i.work_item.status == s.LEASED for i in held)
    progress = service.progress()[SPOTTING]
    assert (progress.open, progress.leased, progress.done) == (0, 3, 0)


def test_an_expired_lease_comes_back_and_its_old_holder_is_refused(project, service):
    item = service.next_item(SPOTTING, "crashed")
    for _ in range(2):
        service.next_item(SPOTTING, "busy")
    expire(project, item.id)
    assert service.progress()[SPOTTING].open == 1  # counted open once the lease ran out
    again = service.next_item(SPOTTING, "rescuer")
    assert again.id == item.id and again.work_item.attempts == 2
    with pytest.raises(ConflictError, match="no longer yours"):
        service.answer(item, SpotAnswer(nothing_new=True))
    service.answer(again, SpotAnswer(nothing_new=True))


def test_an_expired_lease_nobody_claimed_can_still_be_answered(project, service):
    item = service.next_item(SPOTTING, "slow")
    expire(project, item.id)
    service.answer(item, SpotAnswer(nothing_new=True))


def test_renew_extends_the_lease(project, service):
    item = service.next_item(SPOTTING, "a")
    time.sleep(0.01)
    renewed = service.renew(item)
    assert renewed.id == item.id and renewed.lease_expires > item.lease_expires
    other = service.next_item(SPOTTING, "b")
    with pytest.raises(ConflictError):
        service.renew(type(other)(**{**other.__dict__, "annotator": item.annotator}))


def test_release_keeps_the_place_and_skip_moves_to_the_back(service):
    first = service.next_item(SPOTTING, "a")
    service.release(first)
    assert service.next_item(SPOTTING, "a").id == first.id  # released: same place
    again = service.held("a")[0]
    service.skip(again, effort=Effort(3.0, 1))
    nxt = service.next_item(SPOTTING, "a")
    assert nxt.id != first.id  # skipped: behind the others
    events = [e.action for e in rows(service.project, s.events)]
    assert events == ["release", "skip"]


def test_a_batch_claim_takes_a_page_of_items_in_queue_order_and_no_more_than_is_open(service):
    page = service.next_items(SPOTTING, "a", 2)
    assert [i.stage for i in page] == [SPOTTING, SPOTTING]
    assert page[0].id < page[1].id
    assert all(i.work_item.status == s.LEASED and i.annotator.name == "a" for i in page)
    rest = service.next_items(SPOTTING, "b", 5)  # three images: one left
    assert len(rest) == 1 and rest[0].id not in {i.id for i in page}
    assert service.next_items(SPOTTING, "c", 3) == []
    with pytest.raises(LongtailError):
        service.next_items(SPOTTING, "c", 0)


def test_a_batch_of_verification_items_holds_one_item_per_segment(tmp_path):
    # two verifiers per segment: a page never holds both slots of one segment
    with make_project(
        tmp_path, images=1, negatives_per_category=0, verifiers_per_segment=2
    ) as project:
        service = Pipeline(project)
        service.seed()
        confirmed_pair(service, category_ids(project), [(10, 10, 30, 20), (60, 40, 30, 20)])
        for _ in range(2):
            item = service.next_item(SEGMENTATION, "drawer")
            service.answer(item, SegmentAnswer(box_mask(*item.instance.box)))
        page = service.next_items(VERIFICATION, "verifier", 4)
        assert len(page) == 2
        assert len({i.segment.id for i in page}) == 2
        other = service.next_items(VERIFICATION, "second", 4)
        assert {i.segment.id for i in other} == {i.segment.id for i in page}


def test_category_usage_counts_the_images_a_category_is_present_in(project, service):
    cats = category_ids(project)
    assert service.category_usage() == {}
    for _ in range(2):
        item = service.next_item(SPOTTING, "a")
        service.answer(item, SpotAnswer([Spot(cats["dog"], 5, 5)]))
    marking = service.next_item(MARKING, "b")
    service.answer(marking, MarkAnswer(category_fits=False))  # rejected: no longer counted
    assert service.category_usage() == {cats["dog"]: 1}


def test_held_items_and_item_views_survive_a_restart(project, service):
    item = service.next_item(SPOTTING, "a")
    fresh = Pipeline(project)
    (held,) = fresh.held("a")
    assert held.id == item.id and held.image == item.image
    assert fresh.item(item.id, "a").id == item.id
    with pytest.raises(ConflictError):
        fresh.item(item.id, "b")


def test_an_answer_of_the_wrong_stage_or_a_done_item_is_refused(service):
    item = service.next_item(SPOTTING, "a")
    with pytest.raises(LongtailError, match="takes a SpotAnswer"):
        service.answer(item, MarkAnswer(True))
    service.answer(item, SpotAnswer(nothing_new=True))
    with pytest.raises(ConflictError, match="already done"):
        service.answer(item, SpotAnswer(nothing_new=True))
    with pytest.raises(LongtailError, match="no stage 7"):
        service.next_item(7, "a")


# ---------------------------------------------------------------- events


def test_every_answer_is_logged_with_its_annotator_duration_and_clicks(project, service):
    cats = category_ids(project)
    item = service.next_item(SPOTTING, "alice")
    result = service.answer(item, SpotAnswer([Spot(cats["cat"], 4, 4)]), effort=Effort(7.5, 3))
    (event,) = rows(project, s.events)
    assert event.id == result.event_id and event.action == "answer"
    assert (event.stage, event.work_item_id, event.image_id) == (SPOTTING, item.id, item.image.id)
    assert (event.annotator_id, event.duration_s, event.clicks) == (item.annotator.id, 7.5, 3)
    assert event.payload["answer"] == {"nothing_new": False, "spots": [cats["cat"]]}
    done = rows(project, s.work_items, s.work_items.c.id == item.id)[0]
    assert (done.status, done.done_by) == (s.DONE, item.annotator.id)


# ---------------------------------------------------------------- undo


def test_undo_takes_back_a_spot_and_gives_the_item_back(project, service):
    cats = category_ids(project)
    item = service.next_item(SPOTTING, "alice")
    service.answer(item, SpotAnswer([Spot(cats["cat"], 4, 4)]))
    assert service.can_undo("alice") is None
    again = service.undo_last("alice")
    assert again.id == item.id and again.work_item.status == s.LEASED and again.known == ()
    assert not rows(project, s.spots) and not rows(project, s.spot_visits)
    assert pair_state(project, item.image.id, cats["cat"]) is None
    assert not pending(project, MARKING)
    assert len(pending(project, SPOTTING)) == 3  # the next visit is gone, the item is back
    service.answer(again, SpotAnswer(nothing_new=True))
    actions = [(e.action, e.undoes) for e in rows(project, s.events)]
    assert actions == [("answer", None), ("undo", 1), ("answer", None)]


def test_undo_goes_back_one_answer_at_a_time(project, service):
    first = service.next_item(SPOTTING, "alice")
    service.answer(first, SpotAnswer(nothing_new=True))
    second = service.next_item(SPOTTING, "alice")
    service.answer(second, SpotAnswer(nothing_new=True))
    assert service.undo_last("alice").id == second.id
    assert service.undo_last("alice").id == first.id
    with pytest.raises(LongtailError, match="no answer of yours"):
        service.undo_last("alice")
    assert service.can_undo("alice") == "there is no answer of yours to undo"


def test_undo_is_refused_once_the_follow_up_is_claimed(project, service):
    cats = category_ids(project)
    item = service.next_item(SPOTTING, "alice")
    service.answer(item, SpotAnswer([Spot(cats["cat"], 4, 4)]))
    marking = service.next_item(MARKING, "bob")
    assert "already leased" in service.can_undo("alice")
    with pytest.raises(ConflictError, match="cannot undo"):
        service.undo_last("alice")
    service.release(marking)
    assert service.can_undo("alice") is None


def test_undo_is_refused_once_someone_answered_on_the_image(project, service):
    cats = category_ids(project)
    image_id, _ = confirmed_pair(service, cats, [(10, 10, 30, 20), (60, 40, 20, 30)])
    first = service.next_item(SEGMENTATION, "alice")
    service.answer(first, SegmentAnswer(box_mask(10, 10, 30, 20)))
    second = service.next_item(SEGMENTATION, "bob")
    service.answer(second, SegmentAnswer(box_mask(60, 40, 20, 30)))
    assert "answered on this image since" in service.can_undo("alice")
    # bob's answer is the latest on the image: he may undo it
    assert service.undo_last("bob").id == second.id
    assert service.can_undo("alice") is None


def test_undo_of_a_verdict_restores_the_segment_the_instance_and_cancelled_items(tmp_path):
    with make_project(
        tmp_path, images=1, negatives_per_category=0, verifiers_per_segment=2
    ) as project:
        service = Pipeline(project)
        service.seed()
        confirmed_pair(service, category_ids(project), [(10, 10, 30, 20)])
        item = service.next_item(SEGMENTATION, "alice")
        service.answer(item, SegmentAnswer(box_mask(10, 10, 30, 20)))
        reject = service.next_item(VERIFICATION, "bob")
        service.answer(reject, VerifyAnswer(False, "wrong"))  # r=1: decided, other item cancelled
        assert rows(project, s.instances)[0].status == s.REDO
        back = service.undo_last("bob")
        assert back.id == reject.id
        assert rows(project, s.instances)[0].status == s.SEGMENTED
        assert [r.status for r in rows(project, s.segments)] == [s.PENDING]
        assert not rows(project, s.verdicts)
        assert len(pending(project, VERIFICATION)) == 2 and not pending(project, SEGMENTATION)
        service.answer(back, VerifyAnswer(True))
        service.answer(service.next_item(VERIFICATION, "carol"), VerifyAnswer(True))
        assert [r.status for r in rows(project, s.segments)] == [s.SEGMENT_ACCEPTED]
        assert not project_violations(project)


def test_undone_answers_leave_every_stage_consistent(tmp_path):
    # answer and undo every stage once; the project ends as if the undone answers never were
    with make_project(
        tmp_path,
        images=1,
        spot_done_after=1,
        negatives_per_category=1,
        negative_candidates_per_image=1,
    ) as project:
        service = Pipeline(project)
        service.seed()
        cats = category_ids(project)
        image_id, category_id = confirmed_pair(service, cats, [(10, 10, 30, 20)])
        assert service.undo_last("marker").stage == MARKING
        service.answer(
            service.held("marker")[0],
            MarkAnswer(
                True,
                [Mark(11, 11, (10, 10, 30, 20))],
            ),
        )
        segment_and_accept(service)
        assert service.undo_last("verifier").stage == VERIFICATION
        service.answer(service.held("verifier")[0], VerifyAnswer(True))
        item = service.next_item(EXHAUSTIVE, "checker")
        service.answer(item, ExhaustiveAnswer(True))
        assert service.undo_last("checker").stage == EXHAUSTIVE
        assert pair_state(project, image_id, category_id).exhaustive is None
        service.answer(service.held("checker")[0], ExhaustiveAnswer(True))
        spot = service.next_item(SPOTTING, "late")
        service.answer(spot, SpotAnswer(nothing_new=True))  # finishes spotting: candidates
        assert pending(project, NEGATIVES)
        assert service.undo_last("late").stage == SPOTTING
        assert not pending(project, NEGATIVES) and not rows(project, s.spotting_finished)
        service.answer(service.held("late")[0], SpotAnswer(nothing_new=True))
        negative = service.next_item(NEGATIVES, "n")
        service.answer(negative, NegativeAnswer(False))
        assert service.undo_last("n").stage == NEGATIVES
        assert pair_state(project, image_id, negative.category.id) is None
        service.answer(service.held("n")[0], NegativeAnswer(False))
        assert not project_violations(project)
        labels = project_labels(project)[image_id]
        assert labels.positive_category_ids == {category_id}
        assert labels.negative_category_ids == {negative.category.id}


# ---------------------------------------------------------------- imported data


def import_pair(project, image_id, category_id, boxes, *, crowd=None, exhaustive=None):
    """Store annotations the way the COCO/LVIS importer does."""
    with project.write() as conn:
        for box in boxes:
            instance = insert_instance(
                conn,
                image_id,
                category_id,
                box=box,
                status=s.ACCEPTED,
                source=s.SOURCE_IMPORTED,
            )
            store_accepted_segment(conn, instance, box_mask(*box))
        if crowd is not None:
            instance = insert_instance(
                conn,
                image_id,
                category_id,
                box=crowd,
                status=s.ACCEPTED,
                is_crowd=True,
                source=s.SOURCE_IMPORTED,
            )
            store_accepted_segment(conn, instance, box_mask(*crowd), tool=None)
        conn.execute(
            s.image_categories.insert().values(
                image_id=image_id,
                category_id=category_id,
                state=s.CONFIRMED,
                exhaustive=exhaustive,
                source=s.SOURCE_IMPORTED,
                updated_at=now(),
            )
        )


def test_imported_images_continue_with_stages_5_and_6(tmp_path):
    with make_project(
        tmp_path, images=2, negatives_per_category=1, negative_candidates_per_image=2
    ) as project:
        cats = category_ids(project)
        first, second = image_ids(project)
        import_pair(project, first, cats["dog"], [(5, 5, 20, 20)], crowd=(50, 50, 30, 30))
        import_pair(project, first, cats["cup"], [(70, 10, 10, 10)], exhaustive=False)
        service = Pipeline(project)
        report = service.seed(spot_imported=False)
        assert report.declared_spotted == 1
        # the image without imported data still goes through spotting
        assert [r.image_id for r in pending(project, SPOTTING)] == [second]
        # the dog pair (crowd region aside) is due for stage 5; cup was imported not exhaustive
        assert [(r.image_id, r.category_id) for r in pending(project, EXHAUSTIVE)] == [
            (first, cats["dog"])
        ]
        candidates = {r.category_id for r in pending(project, NEGATIVES) if r.image_id == first}
        assert len(candidates) == 2 and not candidates & {cats["dog"], cats["cup"]}
        item = service.next_item(EXHAUSTIVE, "checker")
        assert len([a for a in item.annotations if not a.instance.is_crowd]) == 1
        labels = project_labels(project)[first]
        assert labels.positive_category_ids == {cats["dog"], cats["cup"]}
        assert labels.not_exhaustive_category_ids == {cats["cup"]}
        assert not project_violations(project)


def test_imported_images_may_be_spotted_and_imported_pairs_left_unverified(tmp_path):
    with make_project(tmp_path, images=1, negatives_per_category=0) as project:
        cats = category_ids(project)
        (image,) = image_ids(project)
        import_pair(project, image, cats["dog"], [(5, 5, 20, 20)])
        service = Pipeline(project)
        report = service.seed(verify_imported=False)
        assert report.opened[SPOTTING] == 1 and report.opened[EXHAUSTIVE] == 0
        item = service.next_item(SPOTTING, "a")
        (known,) = item.known
        assert (known.name, known.source, known.point) == ("dog", "imported", (15.0, 15.0))

"""Corrections from the explorer: a new segment version that goes back to verification."""

from __future__ import annotations

import pytest
from stages_support import (
    all_segmented,
    box_mask,
    category_ids,
    confirmed_pair,
    make_project,
    pending,
    rows,
    segment_and_accept,
)

from pipeline.corrections import CORRECTION, correct_mask
from pipeline.errors import ConflictError, LongtailError, NotFoundError
from pipeline.events import Effort
from pipeline.federated import project_labels, project_violations
from pipeline.masks.geometry import Mask
from pipeline.stages import EXHAUSTIVE, SEGMENTATION, VERIFICATION, Pipeline, VerifyAnswer
from pipeline.stats import compute_stats
from pipeline.store import schema as s


@pytest.fixture
def accepted(tmp_path):
    """One image with one cat, segmented, accepted and answered exhaustive."""
    project = make_project(tmp_path, images=1, spot_done_after=1)
    service = Pipeline(project)
    service.seed()
    cats = category_ids(project)
    image_id, cat = confirmed_pair(service, cats, [(10, 10, 30, 30)])
    segment_and_accept(service)
    all_segmented(service)
    (instance,) = rows(project, s.instances)
    yield project, service, image_id, cat, instance.id
    project.close()


def test_correcting_an_accepted_mask_makes_a_new_version_that_goes_to_verification(accepted):
    project, service, image_id, cat, instance_id = accepted
    assert project_labels(project)[image_id].positive_category_ids == {cat}
    corrected = box_mask(12, 12, 26, 26)
    done = correct_mask(
        project, instance_id, corrected, "editor", tool="brush", effort=Effort(7.5, 9)
    )

    assert done.version == 2 and len(done.replaced) == 1 and done.exhaustive_cleared
    versions = {r.version: r for r in rows(project, s.segments)}
    assert versions[1].status == s.SUPERSEDED  # kept in the history, no longer accepted
    assert versions[2].status == s.PENDING and versions[2].tool == "brush"
    assert Mask.from_bytes(versions[2].mask_kind, versions[2].mask, 90, 120).iou(corrected) == 1.0
    (instance,) = rows(project, s.instances)
    assert instance.status == s.SEGMENTED
    (item,) = pending(project, VERIFICATION)
    assert item.id in done.verification_items and item.segment_id == done.segment_id
    editor = project.annotator("editor")
    assert item.excluded_annotator == editor.id  # nobody verifies their own correction
    (event,) = rows(project, s.events, s.events.c.action == CORRECTION)
    assert (event.annotator_id, event.duration_s, event.clicks) == (editor.id, 7.5, 9)
    assert event.payload["correction"]["segment_id"] == done.segment_id
    # not a positive until verified, and the stored states stay consistent
    assert project_labels(project)[image_id].positive_category_ids == frozenset()
    assert (rows(project, s.image_categories)[0].exhaustive) is None
    assert not project_violations(project)

    verify = service.next_item(VERIFICATION, "verifier")
    assert verify.segment.id == done.segment_id
    service.answer(verify, VerifyAnswer(True))
    (instance,) = rows(project, s.instances)
    assert instance.status == s.ACCEPTED
    assert project_labels(project)[image_id].positive_category_ids == {cat}
    assert len(pending(project, EXHAUSTIVE)) == 1  # the pair is asked again
    assert not project_violations(project)


def test_a_rejected_correction_sends_the_instance_back_to_segmentation(accepted):
    project, service, _, _, instance_id = accepted
    correct_mask(project, instance_id, box_mask(0, 0, 100, 80), "editor")
    verify = service.next_item(VERIFICATION, "verifier")
    service.answer(verify, VerifyAnswer(False, "covers the whole picture"))
    (instance,) = rows(project, s.instances)
    assert instance.status == s.REDO
    (redo,) = pending(project, SEGMENTATION)
    assert redo.instance_id == instance_id
    item = service.next_item(SEGMENTATION, "drawer")
    assert [a.segment.version for a in item.attempts] == [1, 2]  # the history is shown
    assert not project_violations(project)


def test_correcting_a_pending_mask_replaces_it_and_its_verification_items(tmp_path):
    with make_project(tmp_path, images=1, spot_done_after=1) as project:
        service = Pipeline(project)
        service.seed()
        confirmed_pair(service, category_ids(project), [(10, 10, 30, 30)])
        item = service.next_item(SEGMENTATION, "drawer")
        from pipeline.stages import SegmentAnswer

        service.answer(item, SegmentAnswer(box_mask(10, 10, 30, 30)))
        (old_item,) = pending(project, VERIFICATION)
        done = correct_mask(project, item.instance.id, box_mask(11, 11, 28, 28), "editor")
        assert done.cancelled_items == 1 and not done.exhaustive_cleared
        (new_item,) = pending(project, VERIFICATION)
        assert new_item.id != old_item.id and new_item.segment_id == done.segment_id
        statuses = sorted(r.status for r in rows(project, s.segments))
        assert statuses == [s.PENDING, s.SUPERSEDED]
        assert not project_violations(project)


@pytest.mark.parametrize(
    ("case", "change", "error", "message"),
    [
        ("unknown instance", "instance", NotFoundError, "instance 999 does not exist"),
        ("mask of another size", "size", LongtailError, "the mask is 60x40 but image"),
        ("empty mask", "empty", LongtailError, "instance [0-9]+: the mask is empty"),
        ("crowd region", "crowd", ConflictError, "is a crowd region"),
        ("rejected category", "rejected", ConflictError, "the pair's state is rejected"),
    ],
)
def test_bad_corrections_are_refused_with_a_located_message_and_change_nothing(
    accepted, case, change, error, message
):
    project, _, _, _, instance_id = accepted
    mask = box_mask(12, 12, 20, 20)
    if change == "instance":
        instance_id = 999
    elif change == "size":
        mask = Mask.from_box((1, 1, 10, 10), 40, 60)
    elif change == "empty":
        mask = Mask.from_bitmap(mask.to_bitmap() * 0)
    elif change == "crowd":
        with project.write() as conn:
            conn.execute(s.instances.update().values(is_crowd=True))
    elif change == "rejected":
        with project.write() as conn:
            conn.execute(s.image_categories.update().values(state=s.REJECTED, exhaustive=None))
    before = project.counts()
    with pytest.raises(error, match=message):
        correct_mask(project, instance_id, mask, "editor")
    after = project.counts()
    assert {k: v for k, v in after.items() if k != "annotators"} == {
        k: v for k, v in before.items() if k != "annotators"
    }


def test_corrections_count_in_the_effort_statistics_apart_from_answers(accepted):
    project, _, _, _, instance_id = accepted
    correct_mask(project, instance_id, box_mask(12, 12, 26, 26), "editor", effort=Effort(4.0, 3))
    effort = compute_stats(project).effort
    assert (effort.corrections.answers, effort.corrections.total_s) == (1, 4.0)
    assert effort.by_stage[SEGMENTATION].answers == 1  # the original drawing only

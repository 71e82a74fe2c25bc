"""Stage 4, segment verification: k verifiers, the reject threshold, the redo loop."""

from __future__ import annotations

import pytest
from stages_support import box_mask, category_ids, confirmed_pair, make_project, pending, rows

from pipeline.errors import ConflictError
from pipeline.stages import (
    EXHAUSTIVE,
    SEGMENTATION,
    VERIFICATION,
    Pipeline,
    SegmentAnswer,
    VerifyAnswer,
)
from pipeline.store import schema as s


def setup(tmp_path, boxes=((10, 10, 30, 20),), **settings):
    project = make_project(tmp_path, images=1, negatives_per_category=0, **settings)
    service = Pipeline(project)
    service.seed()
    confirmed_pair(service, category_ids(project), list(boxes))
    return project, service


def draw(service, who="drawer", mask=None):
    item = service.next_item(SEGMENTATION, who)
    service.answer(item, SegmentAnswer(mask or box_mask(*item.instance.box)))
    return item


def segment_statuses(project):
    return [(r.version, r.status) for r in rows(project, s.segments)]


def test_the_author_does_not_verify_their_own_segment(tmp_path):
    project, service = setup(tmp_path)
    with project:
        draw(service, "alice")
        assert service.next_item(VERIFICATION, "alice") is None
        item = service.next_item(VERIFICATION, "bob")
        assert item.segment.version == 1 and item.quality_bar == 0.85
        assert item.instance.box == (10, 10, 30, 20) and item.category.name == "cat"


def test_self_verification_when_the_project_allows_it(tmp_path):
    project, service = setup(tmp_path, allow_self_verification=True)
    with project:
        draw(service, "alice")
        item = service.next_item(VERIFICATION, "alice")
        service.answer(item, VerifyAnswer(True))
        assert segment_statuses(project) == [(1, "accepted")]


def test_reject_redo_accept_loop(tmp_path):
    project, service = setup(tmp_path)
    with project:
        draw(service, "alice", box_mask(0, 0, 80, 80))
        result = service.answer(
            service.next_item(VERIFICATION, "bob"), VerifyAnswer(False, "loose")
        )
        assert result.opened[SEGMENTATION] == 1
        assert rows(project, s.instances)[0].status == s.REDO
        redo = pending(project, SEGMENTATION)[0]
        assert redo.priority < 0  # ahead of first attempts
        draw(service, "alice")
        assert segment_statuses(project) == [(1, "rejected"), (2, "pending")]
        result = service.answer(service.next_item(VERIFICATION, "bob"), VerifyAnswer(True))
        assert segment_statuses(project) == [(1, "rejected"), (2, "accepted")]
        assert rows(project, s.instances)[0].status == s.ACCEPTED
        # the pair's only instance is accepted: the pair enters stage 5
        assert result.opened[EXHAUSTIVE] == 1
        verdicts = rows(project, s.verdicts)
        assert [(v.accept, v.reason) for v in verdicts] == [(False, "loose"), (True, None)]


def test_stage_5_waits_for_every_instance_of_the_pair(tmp_path):
    project, service = setup(tmp_path, boxes=((10, 10, 30, 20), (60, 40, 20, 30)))
    with project:
        draw(service)
        draw(service)
        first = service.answer(service.next_item(VERIFICATION, "v"), VerifyAnswer(True))
        assert first.opened[EXHAUSTIVE] == 0
        second = service.answer(service.next_item(VERIFICATION, "v"), VerifyAnswer(True))
        assert second.opened[EXHAUSTIVE] == 1


def test_majority_of_three_decides_early_and_cancels_the_last_item(tmp_path):
    project, service = setup(tmp_path, verifiers_per_segment=3, reject_votes_to_redo=2)
    with project:
        draw(service, "alice")
        a = service.next_item(VERIFICATION, "v1")
        b = service.next_item(VERIFICATION, "v2")
        c = service.next_item(VERIFICATION, "v3")
        assert len({a.id, b.id, c.id}) == 3
        service.answer(a, VerifyAnswer(True))
        assert segment_statuses(project) == [(1, "pending")]
        service.answer(b, VerifyAnswer(True))  # 2 accepts: one more reject cannot reach 2
        assert segment_statuses(project) == [(1, "accepted")]
        with pytest.raises(ConflictError, match="no longer needed"):
            service.answer(c, VerifyAnswer(False, "late"))
        assert len(rows(project, s.verdicts)) == 2


def test_reject_threshold_one_of_three(tmp_path):
    project, service = setup(tmp_path, verifiers_per_segment=3, reject_votes_to_redo=1)
    with project:
        draw(service, "alice")
        service.answer(service.next_item(VERIFICATION, "v1"), VerifyAnswer(True))
        service.answer(service.next_item(VERIFICATION, "v2"), VerifyAnswer(False, "edge"))
        assert segment_statuses(project) == [(1, "rejected")]
        assert not pending(project, VERIFICATION)  # the third item was cancelled


def test_one_verifier_never_holds_or_judges_a_segment_twice(tmp_path):
    project, service = setup(tmp_path, verifiers_per_segment=3, reject_votes_to_redo=2)
    with project:
        draw(service, "alice")
        first = service.next_item(VERIFICATION, "bob")
        assert service.next_item(VERIFICATION, "bob") is None  # holds one of its items
        service.answer(first, VerifyAnswer(True))
        assert service.next_item(VERIFICATION, "bob") is None  # has judged it
        assert service.next_item(VERIFICATION, "carol") is not None


def test_raising_verifiers_per_segment_midway_opens_another_item(tmp_path):
    project, service = setup(tmp_path)
    with project:
        draw(service, "alice")
        item = service.next_item(VERIFICATION, "bob")
        project.update_settings(verifiers_per_segment=2)
        result = service.answer(item, VerifyAnswer(True))
        assert result.opened[VERIFICATION] == 1
        assert segment_statuses(project) == [(1, "pending")]
        service.answer(service.next_item(VERIFICATION, "carol"), VerifyAnswer(True))
        assert segment_statuses(project) == [(1, "accepted")]

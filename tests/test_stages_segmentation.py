"""Stage 3, instance segmentation: one item per marked instance, a version per attempt."""

from __future__ import annotations

import numpy as np
import pytest
from stages_support import (
    box_mask,
    category_ids,
    confirmed_pair,
    make_project,
    pending,
    rows,
)

from pipeline.errors import LongtailError
from pipeline.masks.geometry import Mask
from pipeline.stages import (
    SEGMENTATION,
    VERIFICATION,
    Pipeline,
    SegmentAnswer,
    VerifyAnswer,
)
from pipeline.store import schema as s


@pytest.fixture
def setup(tmp_path):
    with make_project(tmp_path, images=1, negatives_per_category=0, verifiers_per_segment=2) as p:
        service = Pipeline(p)
        service.seed()
        cats = category_ids(p)
        confirmed_pair(service, cats, [(10, 10, 30, 20), (60, 40, 20, 30)])
        yield p, service


def test_the_view_shows_the_mark_and_the_other_instances(setup):
    project, service = setup
    item = service.next_item(SEGMENTATION, "drawer")
    assert item.instance.box == (10, 10, 30, 20) and (item.instance.x, item.instance.y) == (11, 11)
    assert [o.box for o in item.others] == [(60, 40, 20, 30)]
    assert item.attempts == () and item.category.name == "cat"


def test_a_segment_is_a_pending_version_with_verification_items_excluding_its_author(setup):
    project, service = setup
    item = service.next_item(SEGMENTATION, "drawer")
    result = service.answer(item, SegmentAnswer(box_mask(10, 10, 30, 20), tool="polygon"))
    assert result.opened[VERIFICATION] == 2
    (segment,) = rows(project, s.segments)
    assert (segment.version, segment.status, segment.tool, segment.area) == (
        1,
        "pending",
        "polygon",
        600,
    )
    instance = rows(project, s.instances, s.instances.c.id == segment.instance_id)[0]
    assert instance.status == s.SEGMENTED
    slots = pending(project, VERIFICATION)
    assert len(slots) == 2
    assert {r.excluded_annotator for r in slots} == {item.annotator.id}


def test_a_redo_shows_the_earlier_versions_and_their_reasons(setup):
    project, service = setup
    item = service.next_item(SEGMENTATION, "drawer")
    service.answer(item, SegmentAnswer(box_mask(0, 0, 60, 60)))
    service.answer(service.next_item(VERIFICATION, "v1"), VerifyAnswer(False, "far too big"))
    redo = service.next_item(SEGMENTATION, "drawer")  # a redo goes ahead of first attempts
    assert redo.instance.id == item.instance.id and redo.instance.status == s.REDO
    (attempt,) = redo.attempts
    assert attempt.segment.version == 1 and attempt.segment.status == s.SEGMENT_REJECTED
    assert [(v.accept, v.reason) for v in attempt.verdicts] == [(False, "far too big")]
    service.answer(redo, SegmentAnswer(box_mask(10, 10, 30, 20)))
    versions = rows(project, s.segments, s.segments.c.instance_id == item.instance.id)
    assert [(v.version, v.status) for v in versions] == [(1, "rejected"), (2, "pending")]


def test_wrong_size_and_empty_masks_are_refused(setup):
    project, service = setup
    item = service.next_item(SEGMENTATION, "drawer")
    with pytest.raises(LongtailError, match="the mask is 50x50 but image [0-9]+ is 120x90"):
        service.answer(item, SegmentAnswer(Mask.from_box((1, 1, 5, 5), 50, 50)))
    with pytest.raises(LongtailError, match="empty"):
        service.answer(item, SegmentAnswer(Mask.from_bitmap(np.zeros((90, 120), np.uint8))))
    assert not rows(project, s.segments)

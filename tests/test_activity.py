"""Throughput and agreement from the event log."""

from __future__ import annotations

import pytest
from stages_support import box_mask, category_ids, confirmed_pair, make_project

from pipeline.activity import project_activity
from pipeline.events import Effort
from pipeline.stages import (
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
    Pipeline,
    SegmentAnswer,
    VerifyAnswer,
)


@pytest.fixture
def report(tmp_path):
    with make_project(
        tmp_path, images=1, negatives_per_category=0, verifiers_per_segment=2
    ) as project:
        service = Pipeline(project)
        service.seed()
        confirmed_pair(service, category_ids(project), [(10, 10, 30, 20), (60, 40, 20, 30)])
        for _ in range(2):
            item = service.next_item(SEGMENTATION, "drawer")
            service.answer(
                item, SegmentAnswer(box_mask(*item.instance.box)), effort=Effort(20.0, 8)
            )
        # segment 1: both accept; segment 2: v1 accepts, v2 rejects (r = 1: rejected)
        for who, verdicts in (("v1", [True, True]), ("v2", [True, False])):
            for accept in verdicts:
                item = service.next_item(VERIFICATION, who)
                service.answer(item, VerifyAnswer(accept), effort=Effort(2.0, 1))
        # an undone answer does not count; a skip does, as a skip
        item = service.next_item(SEGMENTATION, "drawer")
        service.answer(item, SegmentAnswer(box_mask(0, 0, 5, 5)), effort=Effort(99.0, 99))
        service.undo_last("drawer")
        service.skip(service.held("drawer")[0])
        yield project_activity(project)


def test_per_stage_throughput(report):
    stages = {a.stage: a for a in report.stages}
    seg = stages[SEGMENTATION]
    assert (seg.answers, seg.total_s, seg.clicks, seg.median_s) == (2, 40.0, 16, 20.0)
    assert (seg.undos, seg.skips, seg.annotators) == (1, 1, 1)
    assert seg.answers_per_hour == pytest.approx(180.0)
    ver = stages[VERIFICATION]
    assert (ver.answers, ver.annotators, ver.total_s) == (4, 2, 8.0)
    assert stages[SPOTTING].answers == 1 and stages[SPOTTING].answers_per_hour is None


def test_agreement_and_per_annotator_figures(report):
    agreement = report.agreement
    assert agreement.verification_accept_rate == pytest.approx(0.75)
    assert agreement.verifier_pair_agreement == pytest.approx(0.5)
    assert agreement.category_fit_rate == 1.0
    people = {a.name: a for a in report.annotators}
    assert people["v1"].agreement == pytest.approx(0.5) and people["v2"].agreement == 1.0
    assert people["v1"].accept_rate == 1.0 and people["v2"].accept_rate == 0.5
    drawer = people["drawer"]
    assert drawer.answers[SEGMENTATION] == 2 and drawer.total_answers == 2
    assert drawer.segments_decided == 2 and drawer.segments_accepted_rate == 0.5
    assert report.as_dict()["agreement"]["verifier_pair_agreement"] == pytest.approx(0.5)

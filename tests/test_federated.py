"""Federated labels derived from the answers, their invariants, and the status report."""

from __future__ import annotations

import json

import pytest
from stages_support import (
    all_segmented,
    category_ids,
    confirmed_pair,
    image_ids,
    make_project,
    segment_and_accept,
)

from app.cli import main
from pipeline.federated import (
    federated_labels,
    label_counts,
    project_labels,
    project_violations,
)
from pipeline.stages import EXHAUSTIVE, ExhaustiveAnswer, Pipeline
from pipeline.status import project_status
from pipeline.store import schema as s
from pipeline.store.database import now


def put_pair(project, image_id, category_id, state, exhaustive=None):
    with project.write() as conn:
        conn.execute(
            s.image_categories.insert().values(
                image_id=image_id,
                category_id=category_id,
                state=state,
                exhaustive=exhaustive,
                source=s.SOURCE_PIPELINE,
                updated_at=now(),
            )
        )


@pytest.fixture
def labelled(tmp_path):
    """Image 1: cat positive (exhaustive), dog negative, bird spotted; image 2: nothing."""
    with make_project(tmp_path, images=2, negatives_per_category=0) as project:
        service = Pipeline(project)
        service.seed()
        cats = category_ids(project)
        image, cat = confirmed_pair(service, cats, [(10, 10, 30, 20)])
        segment_and_accept(service)
        all_segmented(service)
        put_pair(project, image, cats["dog"], s.NEGATIVE)
        put_pair(project, image, cats["bird"], s.SPOTTED)
        yield project, cats, image


def test_positives_negatives_and_unverified_pairs(labelled):
    project, cats, image = labelled
    labels = project_labels(project)
    assert set(labels) == set(image_ids(project))
    first = labels[image]
    assert first.positive_category_ids == {cats["cat"]}
    assert first.negative_category_ids == {cats["dog"]}
    assert first.not_exhaustive_category_ids == frozenset()
    # bird is spotted only: neither positive nor negative
    assert cats["bird"] not in first.positive_category_ids | first.negative_category_ids
    other = labels[max(labels)]
    assert other.positive_category_ids == other.negative_category_ids == frozenset()
    assert first.as_dict()["neg_category_ids"] == [cats["dog"]]
    with project.read() as conn:
        assert federated_labels(conn, [image]).keys() == {image}
        counts = label_counts(conn)
    assert (counts.positive_pairs, counts.negative_pairs, counts.exhaustive_pairs) == (1, 1, 1)
    assert (counts.unverified_pairs, counts.positive_images) == (1, 1)
    assert not project_violations(project)


def test_not_exhaustive_is_a_subset_of_positives(tmp_path):
    with make_project(tmp_path, images=1, negatives_per_category=0) as project:
        service = Pipeline(project)
        service.seed()
        cats = category_ids(project)
        image, cat = confirmed_pair(service, cats, [(10, 10, 30, 20)])
        segment_and_accept(service)
        service.answer(service.next_item(EXHAUSTIVE, "c"), ExhaustiveAnswer(False))
        labels = project_labels(project)[image]
        assert labels.not_exhaustive_category_ids == {cat} <= labels.positive_category_ids
        assert not project_violations(project)


def rules(project):
    return sorted({v.rule for v in project_violations(project)})


def test_a_negative_pair_with_an_accepted_instance_is_reported(labelled):
    project, cats, image = labelled
    with project.write() as conn:
        conn.execute(
            s.image_categories.update()
            .where(s.image_categories.c.category_id == cats["cat"])
            .values(state=s.NEGATIVE, exhaustive=None)
        )
    assert "negative-and-positive" in rules(project)
    assert "instance-without-confirmed-pair" in rules(project)


def test_a_not_exhaustive_flag_on_a_non_positive_is_reported(labelled):
    project, cats, image = labelled
    with project.write() as conn:
        conn.execute(
            s.image_categories.update()
            .where(s.image_categories.c.category_id == cats["bird"])
            .values(exhaustive=False)
        )
    (violation,) = project_violations(project)
    assert violation.rule == "not-exhaustive-not-positive"
    assert (violation.image_id, violation.category_id) == (image, cats["bird"])
    assert "not exhaustive" in str(violation)


def test_segment_bookkeeping_and_duplicate_work_are_reported(labelled):
    project, cats, image = labelled
    with project.write() as conn:
        conn.execute(s.segments.update().values(status=s.PENDING))
        conn.execute(
            s.work_items.insert(),
            [
                {
                    "stage": 5,
                    "image_id": image,
                    "category_id": cats["cat"],
                    "status": s.OPEN,
                    "priority": 0.0,
                    "attempts": 0,
                    "created_at": now(),
                }
            ]
            * 2,
        )
    assert rules(project) == ["accepted-instance-segments", "duplicate-stage-5-item"]
    # a pair whose only instance lost its accepted mask is no positive any more
    assert project_labels(project)[image].positive_category_ids == frozenset()


def test_status_reports_queues_and_federated_counts(labelled, capsys):
    project, cats, image = labelled
    status = project_status(project)
    assert status["labels"]["positive_pairs"] == 1
    assert status["labels"]["negative_pairs"] == 1
    assert status["labels"]["unverified_pairs"] == 1
    assert status["labels"]["spotted_pairs"] == 1 and status["labels"]["confirmed_pairs"] == 1
    assert status["stages"]["5"]["done"] == 1
    assert status["spotting"] == {"finished_images": 0, "declared_spotted": 0}
    folder = str(project.folder)
    assert main(["status", folder, "--json", "--no-file-check", "--activity"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["labels"] == status["labels"]
    assert printed["activity"]["stages"][3]["answers"] == 1
    assert main(["status", folder, "--no-file-check", "--activity"]) == 0
    text = capsys.readouterr().out
    assert "federated labels: 1 positive pairs" in text
    assert "verification accept rate 1.00" in text

"""Dataset statistics (pipeline.stats): each number of a small hand-made project equals
its hand count; on tiny_coco after a simulated run, instances per category equal
pycocotools' counts of the truth."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from stages_support import HEIGHT, WIDTH, make_project, pending
from stats_support import build_hand_made, simulated_tiny_coco_folder
from team_support import fresh_database, needs_postgres

from pipeline.events import Effort
from pipeline.stages import (
    EXHAUSTIVE,
    NEGATIVES,
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
    VerifyAnswer,
)
from pipeline.stats import (
    COMMON_FROM,
    FREQUENT_FROM,
    compute_stats,
    frequency_group,
    frequency_groups,
)
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.transfer import migrate
from pipeline.team import roles


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory):
    made = build_hand_made(tmp_path_factory.mktemp("hand"))
    yield made
    made.project.close()


@needs_postgres
def test_every_statistic_on_postgresql_equals_the_one_on_sqlite(hand_made, monkeypatch):
    """The same project copied into PostgreSQL: its reads there (string_agg, floor, the
    JSON path of the payloads) give every number that SQLite's give."""
    monkeypatch.delenv(roles.ACTOR_VARIABLE, raising=False)
    project = hand_made.project
    here = compute_stats(project, cache=False).as_dict()
    with fresh_database() as url:
        migrate(project.folder, url)
        with Project.open(url) as server:
            there = compute_stats(server).as_dict()
    for figures in (here, there):
        for key in ("project", "computed_at", "seconds"):
            figures.pop(key)
    assert sum(there["shape"]["relative_mask_size"]["instances"]) == 4  # the accepted masks
    assert there == here


# ---------------------------------------------------------------- the r/c/f rule


def test_frequency_groups_follow_the_lvis_thresholds():
    assert (COMMON_FROM, FREQUENT_FROM) == (11, 101)
    assert [frequency_group(n) for n in (1, 10, 11, 100, 101, 5000)] == list("rrccff")


def test_a_project_without_train_data_keeps_its_vocabularys_groups(tmp_path):
    project = make_project(tmp_path, images=1)
    with project.write() as conn:
        conn.execute(s.categories.update().values(frequency="f"))
    with project.read() as conn:
        assert set(frequency_groups(conn).values()) == {"f"}
    project.close()


# ---------------------------------------------------------------- hand counts


def test_instances_per_category_are_the_accepted_instances_sorted_with_their_group(hand_made):
    project, cats, *_ = hand_made
    stats = compute_stats(project)
    top = [
        (c.name, c.instances, c.images, c.train_images, c.frequency) for c in stats.shape.categories
    ]
    assert top[:2] == [("cat", 3, 2, 2, "r"), ("dog", 1, 1, 1, "r")]
    assert all(c[1] == 0 for c in top[2:])
    assert stats.shape.instances == 4
    assert stats.shape.group_counts() == {"r": 2, "c": 0, "f": 0}


def test_categories_per_image_count_the_positive_categories(hand_made):
    project, *_ = hand_made
    shape = compute_stats(project).shape
    assert shape.categories_per_image == {2: 1, 1: 1, 0: 1}
    assert shape.mean_categories_per_image() == pytest.approx(1.0)


def test_relative_mask_sizes_are_sqrt_of_mask_area_over_image_area(hand_made):
    project, _, _, _, _, masks, _ = hand_made
    sizes = np.sort(compute_stats(project).shape.mask_sizes)
    expected = sorted(math.sqrt(m.area / (WIDTH * HEIGHT)) for m in masks)
    assert sizes == pytest.approx(expected)
    edges, counts = compute_stats(project).shape.size_histogram()
    assert counts.sum() == 4 and len(edges) == 21


def test_coverage_counts_positives_negatives_and_not_exhaustive_pairs(hand_made):
    project, cats, _, negatives, *_ = hand_made
    cover = compute_stats(project).coverage
    by_name = {c.name: c for c in cover.categories}
    assert (by_name["cat"].positives, by_name["cat"].not_exhaustive) == (2, 0)
    assert (by_name["dog"].positives, by_name["dog"].not_exhaustive) == (1, 1)
    for name, cid in cats.items():
        assert by_name[name].negatives == negatives.get(cid, 0)
    assert cover.negatives_quota == 2
    under = {c.name for c in cover.under_quota}
    assert under == {name for name, cid in cats.items() if negatives.get(cid, 0) < 2}
    assert "cat" in under  # only img02 can be a negative of cat: one short of the quota


def test_effort_by_stage_annotator_and_tool_equals_the_answers_given(hand_made):
    project, _, rec, *_ = hand_made
    effort = compute_stats(project).effort
    for stage in s.STAGES:
        given = [e for _, st, e, _ in rec.answers if st == stage]
        row = effort.by_stage[stage]
        assert row.answers == len(given)
        assert row.total_s == pytest.approx(sum(e.duration_s for e in given))
        assert row.clicks == sum(e.clicks for e in given)
    # the undone answer (99 s, 99 clicks) is left out
    assert effort.by_stage[NEGATIVES].mean_s == pytest.approx(1.5)
    tools = {t: (r.answers, r.mean_s, r.mean_clicks) for t, r in effort.by_tool.items()}
    assert tools == {"polygon": (3, 10.0, 8.0), "proposal": (1, 2.0, 2.0), "brush": (1, 6.0, 20.0)}
    people = {
        (effort.names[who], stage): r.answers for (who, stage), r in effort.by_annotator.items()
    }
    assert people[("drawer", SEGMENTATION)] == 5
    assert people[("verifier", VERIFICATION)] == 5
    assert people[("checker", EXHAUSTIVE)] == 3


def test_agreement_gives_reject_and_some_missing_rates(hand_made):
    project, *_ = hand_made
    agree = compute_stats(project).agreement
    people = {a.name: a for a in agree.annotators}
    assert (people["verifier"].verdicts, people["verifier"].rejects) == (5, 1)
    assert people["verifier"].reject_rate == pytest.approx(0.2)
    assert (people["checker"].exhaustive_checks, people["checker"].some_missing) == (3, 1)
    assert agree.some_missing_rate == pytest.approx(1 / 3)
    assert "drawer" not in people  # no verdicts or exhaustive checks of theirs


def test_burn_down_ends_with_what_is_still_open_in_each_stage(hand_made):
    project, _, rec, *_ = hand_made
    burn = compute_stats(project).burn_down
    assert burn.times == tuple(sorted(burn.times))
    for stage in burn.stages:
        assert list(stage.opened) == sorted(stage.opened)  # cumulative
        assert stage.answered[-1] == sum(1 for _, st, _, _ in rec.answers if st == stage.stage)
        assert stage.remaining[-1] == len(pending(project, stage.stage))
    spotting = burn.stages[0]
    assert spotting.opened[-1] == 3 + 2  # one per image, and a second visit to the spotted two


def test_burn_down_bins_answers_at_their_times(hand_made, tmp_path):
    project, *_ = hand_made
    copy = tmp_path / "copy"
    shutil.copytree(project.folder, copy)
    from pipeline.stats import burn_down

    with Project.open(copy) as other:
        with other.write() as conn:
            conn.execute(s.work_items.update().values(created_at=1000.0))
            done = s.work_items.c.done_at.is_not(None)
            spotting = s.work_items.c.stage == SPOTTING
            conn.execute(s.work_items.update().where(done, spotting).values(done_at=1050.0))
            conn.execute(s.work_items.update().where(done, ~spotting).values(done_at=2000.0))
            conn.execute(
                s.events.update().where(s.events.c.stage == SPOTTING).values(at=1000.0 + 50)
            )
            conn.execute(s.events.update().where(s.events.c.stage != SPOTTING).values(at=2000.0))
        with other.read() as conn:
            burn = burn_down(conn, bins=10)
    assert burn.times[0] == pytest.approx(1100.0) and burn.times[-1] == pytest.approx(2000.0)
    spotting = burn.stages[0]
    assert spotting.answered[0] == spotting.answered[-1] == 5
    marking = burn.stages[1]
    assert marking.answered[0] == 0 and marking.answered[-1] == 3
    assert marking.remaining[0] == marking.opened[-1] == 3


def test_stats_as_json_is_plain_json(hand_made):
    project, *_ = hand_made
    document = json.loads(json.dumps(compute_stats(project).as_dict()))
    assert document["shape"]["categories"][0]["name"] == "cat"
    assert document["agreement"]["reject_rate"] == pytest.approx(0.2)
    assert document["coverage"]["negatives_quota"] == 2


def test_an_empty_project_has_statistics_too(empty_project):
    stats = compute_stats(empty_project)
    assert stats.shape.instances == 0 and stats.burn_down.times == ()
    assert stats.agreement.reject_rate is None


# ---------------------------------------------------------------- tiny_coco


def test_instances_per_category_after_a_simulated_run_equal_pycocotools_counts(tmp_path, tiny_coco):
    from pycocotools import coco as pycocotools

    # the "sloppy" profile draws bad masks that verifiers reject; every instance is
    # redrawn until accepted, so the accepted counts still equal the truth's
    folder = simulated_tiny_coco_folder(tiny_coco)
    truth = folder.parent / "truth.json"
    with Project.open(folder) as project:
        stats = compute_stats(project)
    coco = pycocotools.COCO(str(truth))
    expected = {}
    for category in coco.loadCats(coco.getCatIds()):
        n = len(coco.getAnnIds(catIds=[category["id"]], iscrowd=False))
        if n:
            expected[category["name"]] = n
    got = {c.name: c.instances for c in stats.shape.categories if c.instances}
    assert got == expected
    assert sum(expected.values()) > 10
    sorted_counts = [c.instances for c in stats.shape.categories]
    assert sorted_counts == sorted(sorted_counts, reverse=True)


def _effort_numbers(effort):
    return (
        {k: r.as_dict() for k, r in effort.by_stage.items()},
        {k: r.as_dict() for k, r in effort.by_annotator.items()},
        {k: r.as_dict() for k, r in effort.by_tool.items()},
        effort.corrections.as_dict(),
    )


def test_kept_effort_sums_catch_up_with_new_answers_undos_and_corrections(tmp_path):
    from stages_support import box_mask, rows

    from pipeline.corrections import correct_mask
    from pipeline.stats import eventcache

    made = build_hand_made(tmp_path)
    project = made.project
    first = compute_stats(project).effort  # fills the kept sums
    assert (project.folder / eventcache.CACHE_NAME).is_file()
    # an answer summed above is taken back; a correction and its verification follow
    made.rec.service.undo_last("negator")
    instance = rows(project, s.instances)[0]
    correct_mask(project, instance.id, box_mask(11, 11, 18, 18), "editor", effort=Effort(5.0, 4))
    verify = made.rec.service.next_item(VERIFICATION, "verifier")
    made.rec.service.answer(verify, VerifyAnswer(True), effort=Effort(2.5, 1))
    caught_up = compute_stats(project).effort
    assert _effort_numbers(caught_up) == _effort_numbers(compute_stats(project, cache=False).effort)
    assert caught_up.by_stage[NEGATIVES].answers == first.by_stage[NEGATIVES].answers - 1
    assert caught_up.corrections.answers == 1
    # a new process reads the file; a different log (here: none kept) is read afresh
    eventcache._MEMORY.clear()
    assert _effort_numbers(compute_stats(project).effort) == _effort_numbers(caught_up)
    (project.folder / eventcache.CACHE_NAME).write_bytes(
        eventcache.EventSums(
            last_id=2, last_at=-1.0, groups={("answer", 1, 1, None): [99, 0, 0, 0, 0]}
        ).to_json()
    )
    eventcache._MEMORY.clear()
    assert _effort_numbers(compute_stats(project).effort) == _effort_numbers(caught_up)
    project.close()


def test_crowd_regions_are_not_counted_as_instances(hand_made, tmp_path):
    project, cats, *_ = hand_made
    copy = tmp_path / "copy"
    shutil.copytree(project.folder, copy)
    with Project.open(copy) as other:
        with other.write() as conn:
            first = conn.execute(
                s.instances.select().where(s.instances.c.category_id == cats["cat"]).limit(1)
            ).first()
            conn.execute(
                s.instances.update().where(s.instances.c.id == first.id).values(is_crowd=True)
            )
        shape = compute_stats(other).shape
    counts = {c.name: (c.instances, c.in_progress) for c in shape.categories}
    assert counts["cat"] == (2, 0) and counts["dog"] == (1, 0)
    assert len(shape.mask_sizes) == 3


def test_a_large_log_is_read_stage_by_stage_side_by_side_with_the_same_sums(
    hand_made, tmp_path, monkeypatch
):
    from pipeline.stats import eventcache

    project, *_ = hand_made
    copy = tmp_path / "copy"
    shutil.copytree(project.folder, copy)
    (copy / eventcache.CACHE_NAME).unlink(missing_ok=True)
    monkeypatch.setattr(eventcache, "SIDE_BY_SIDE_FROM", 0)  # every read splits by stage
    with Project.open(copy) as other:
        eventcache.forget(other)
        split = compute_stats(other).effort
        whole = compute_stats(other, cache=False).effort
    assert _effort_numbers(split) == _effort_numbers(whole)
    assert split.by_stage[SEGMENTATION].answers == 5

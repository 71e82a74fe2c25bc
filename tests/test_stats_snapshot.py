"""The effort sums read side by side stay in the caller's snapshot: a stage thread opens
its transaction later than the caller, so an undo committed in between must not take
an answer out of sums that are bounded by the caller's last event id (the caller's
next refresh subtracts that answer when it reads the undo)."""

from __future__ import annotations

import importlib

from sqlalchemy import select
from stats_support import build_hand_made

from pipeline.store import schema as s

eventcache = importlib.import_module("pipeline.stats.eventcache")
ev = s.events


def _answers_of(groups, stage: int) -> int:
    return sum(g.answers for g in groups if g.action == "answer" and g.stage == stage)


def test_stage_threads_bounded_by_an_earlier_snapshot_ignore_later_undos(tmp_path, monkeypatch):
    made = build_hand_made(tmp_path / "hand")
    project = made.project
    with project.read() as conn:
        undo_id, undone_id = conn.execute(
            select(ev.c.id, ev.c.undoes).where(ev.c.undoes.is_not(None))
        ).one()
        stage = conn.execute(select(ev.c.stage).where(ev.c.id == undone_id)).scalar_one()
        # by hand: the answers of that stage logged before the undo (none was undone yet)
        before_undo = len(
            conn.execute(
                select(ev.c.id).where(
                    ev.c.action == "answer", ev.c.stage == stage, ev.c.id < undo_id
                )
            ).all()
        )
        monkeypatch.setattr(eventcache, "SIDE_BY_SIDE_FROM", 0)  # one thread per stage
        # the caller's snapshot ended just before the undo; the threads see the undo
        bounded = eventcache.read_groups(conn, project, 0, undo_id - 1)
        everything = eventcache.read_groups(conn, project, 0, None)
    assert _answers_of(bounded, stage) == before_undo
    # read unbounded, the undo takes its answer out
    with project.read() as conn:
        total_kept = len(
            conn.execute(
                select(ev.c.id).where(
                    ev.c.action == "answer", ev.c.stage == stage, ev.c.id != undone_id
                )
            ).all()
        )
    assert _answers_of(everything, stage) == total_kept

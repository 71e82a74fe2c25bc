"""Helpers for the team-mode tests: a fresh PostgreSQL database per test.

PostgreSQL tests run when LONGTAIL_TEST_POSTGRES_URL names a server (``.ci/run`` starts
the machine's PostgreSQL and sets it); elsewhere they are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import skips

from pipeline.store.settings import ProjectSettings
from pipeline.team import roles

POSTGRES = os.environ.get("LONGTAIL_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES, reason=skips.POSTGRES)


def _admin_engine():
    from sqlalchemy import create_engine

    assert POSTGRES is not None
    return create_engine(
        POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server (dropped afterwards)."""
    pytest.importorskip("psycopg")
    from sqlalchemy import text

    name = f"longtail_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            drop_database(conn, name)
        admin.dispose()


def drop_database(conn, name: str) -> None:
    """Drop a test database and the project's group roles, which live on the server
    (``lt<oid>_annotator`` / ``_verifier`` / ``_admin``, pipeline/store/schema.py)."""
    from sqlalchemy import text

    oid = conn.execute(text("SELECT oid FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    for role in ("admin", "verifier", "annotator"):
        conn.execute(text(f'DROP ROLE IF EXISTS "lt{oid}_{role}"'))


@contextmanager
def throwaway_role(password: str) -> Iterator[str]:
    """A login role of its own with ``password`` (the test server's user needs CREATEROLE,
    which .ci/run gives it), allowed to create databases; yields its name."""
    pytest.importorskip("psycopg")
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    name = f"longtail_role_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE ROLE {name} LOGIN CREATEDB PASSWORD '{password}'"))
    except ProgrammingError as exc:
        admin.dispose()
        pytest.fail(f"the test server's user cannot create roles (give it CREATEROLE): {exc}")
    try:
        yield name
    finally:
        _drop_role(admin, name, password)
        admin.dispose()


def _drop_role(admin, name: str, password: str) -> None:
    """Drop the role's databases as the role (their owner), then the role."""
    import psycopg
    from sqlalchemy import text

    host = POSTGRES.split("@", 1)[1].split("/", 1)[0]
    with admin.connect() as conn:
        owned = (
            conn.execute(
                text(
                    "SELECT datname FROM pg_database "
                    "WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = :r)"
                ),
                {"r": name},
            )
            .scalars()
            .all()
        )
    if owned:
        as_role = f"postgresql://{name}:{password}@{host}/postgres"
        with psycopg.connect(as_role, autocommit=True) as conn:
            for db in owned:
                conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
    with admin.connect() as conn:
        conn.execute(text(f"DROP ROLE {name}"))


# ---------------------------------------------------------------- a scripted team member


@dataclass
class MemberLog:
    """What one worker process did."""

    name: str
    answered: list[int] = field(default_factory=list)  # work item ids, in order
    claim_s: list[float] = field(default_factory=list)
    conflicts: int = 0


def simple_answer(item: Any) -> Any:
    """A plausible answer for any item, needing no ground truth: one spot of the first
    category, then "nothing new"; one mark with a box; the box as the mask; accept."""
    from pipeline.masks.geometry import Mask
    from pipeline.stages import (
        ExhaustiveAnswer,
        Mark,
        MarkAnswer,
        SegmentAnswer,
        Spot,
        SpotAnswer,
        VerifyAnswer,
    )
    from pipeline.store import schema as s

    w, h = item.image.width, item.image.height
    box = (w / 4, h / 4, w / 2, h / 2)
    if item.stage == s.SPOTTING:
        if item.known:
            return SpotAnswer(nothing_new=True)
        return SpotAnswer((Spot(1, w / 2, h / 2),))
    if item.stage == s.MARKING:
        return MarkAnswer(True, (Mark(w / 2, h / 2, box),))
    if item.stage == s.SEGMENTATION:
        return SegmentAnswer(Mask.from_box(box, h, w))
    if item.stage == s.VERIFICATION:
        return VerifyAnswer(True)
    if item.stage == s.EXHAUSTIVE:
        return ExhaustiveAnswer(True)
    raise AssertionError(f"no simple answer for stage {item.stage}")


def team_member(target: str, name: str, idle_timeout_s: float = 20.0) -> MemberLog:
    """Work every stage (downstream first) this member's role allows, until no stage
    has open or leased work left; every claim is timed."""
    import time

    from pipeline.errors import ConflictError
    from pipeline.stages import Pipeline
    from pipeline.store.database import Project
    from pipeline.team import roles

    log = MemberLog(name)
    with Project.open(target) as project:
        service = Pipeline(project)
        who = service.annotator(name)
        settings = project.settings()
        role = next(m.role for m in roles.team(project) if m.name == name)
        if not roles.has_admin(project):
            role = roles.ADMIN
        stages = [st for st in (5, 4, 3, 2, 1) if roles.may(role, roles.stage_role(st, settings))]
        idle_since = time.monotonic()
        while True:
            worked = False
            for stage in stages:
                started = time.perf_counter()
                item = service.next_item(stage, who)
                if item is None:
                    continue
                log.claim_s.append(time.perf_counter() - started)
                try:
                    service.answer(item, simple_answer(item))
                    log.answered.append(item.id)
                except ConflictError:
                    log.conflicts += 1
                worked = True
                break
            if worked:
                idle_since = time.monotonic()
                continue
            if not any(p.remaining for p in service.progress().values()):
                return log
            if time.monotonic() - idle_since > idle_timeout_s:
                return log
            time.sleep(0.02)


# ---------------------------------------------------------------- eight members at once

# Every stage but 6, one spot and one instance per image: short, and every stage's claim
# runs (stage 6 needs no roles and is covered by tests/test_concurrency.py).
QUICK_STAGES = ProjectSettings(
    spot_done_after=1, negatives_per_category=0, negative_candidates_per_image=0
)
EIGHT_MEMBERS = {
    "boss": roles.ADMIN,
    "vera": roles.VERIFIER,
    "vince": roles.VERIFIER,
    **{f"ann{k}": roles.ANNOTATOR for k in range(1, 6)},
}


def run_members(members: list[tuple[str, str]]) -> list[MemberLog]:
    """Run :func:`team_member` for each (project target, name) at once, a forked process
    each; their logs, in order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(members), mp_context=context) as pool:
        futures = [pool.submit(team_member, target, name) for target, name in members]
        return [f.result(timeout=240) for f in futures]


def check_queues_drained(project: Any, logs: list[Any]) -> dict[int, str]:
    """What workers that emptied every queue of ``project`` must leave, read from the
    store: no item answered twice, nothing open or leased, every answer a done item, and
    one answer event per done item by whoever did it. ``logs``: each worker's ``name``
    and ``answered`` item ids. Returns the annotators' names by id."""
    from collections import Counter

    from sqlalchemy import select

    from pipeline.store import schema as s

    answered = [i for log in logs for i in log.answered]
    assert len(answered) == len(set(answered)), "an item was answered twice"
    with project.read() as conn:
        wi, ev = s.work_items, s.events
        statuses = Counter(conn.execute(select(wi.c.status)).scalars())
        done = dict(conn.execute(select(wi.c.id, wi.c.done_by).where(wi.c.status == s.DONE)).all())
        answers = conn.execute(
            select(ev.c.work_item_id, ev.c.annotator_id).where(ev.c.action == "answer")
        ).all()
        names = dict(conn.execute(select(s.annotators.c.id, s.annotators.c.name)).all())
    # none lost: nothing open or leased is left, every answer made a done item
    assert statuses[s.OPEN] == statuses[s.LEASED] == 0
    assert set(done) == set(answered)
    # the event log is complete: one answer event per done item, by whoever did it
    assert len(answers) == len(done)
    assert {a.work_item_id: a.annotator_id for a in answers} == done
    assert Counter(names[a] for a in done.values()) == Counter(
        {log.name: len(log.answered) for log in logs if log.answered}
    )
    return names


def check_team_finished(project: Any, logs: list[MemberLog], images: int, login: Any = str) -> None:
    """What a team of :data:`EIGHT_MEMBERS` working every stage but 6 of ``images``
    images must leave in ``project``: the queues drained (:func:`check_queues_drained`),
    every stage's items done, and the roles held. ``login``: a member's short name -> the
    annotator name the store knows them by."""
    from collections import Counter

    from sqlalchemy import select

    from pipeline.store import schema as s

    names = check_queues_drained(project, logs)
    assert sum(len(log.answered) for log in logs) >= images * 6  # every stage but 6
    with project.read() as conn:
        verdicts = conn.execute(
            select(s.verdicts.c.annotator_id, s.segments.c.annotator_id).join(
                s.segments, s.segments.c.id == s.verdicts.c.segment_id
            )
        ).all()
        checkers = set(conn.execute(select(s.exhaustive_checks.c.annotator_id)).scalars())
        instances = Counter(conn.execute(select(s.instances.c.status)).scalars())
    # the roles held: verifiers verified and checked, nobody their own segment, all accepted
    verifying = {login(n) for n, role in EIGHT_MEMBERS.items() if role != roles.ANNOTATOR}
    assert {names[v] for v, _ in verdicts} <= verifying and verdicts
    assert all(v != author for v, author in verdicts)
    assert {names[c] for c in checkers} <= verifying and checkers
    assert instances == Counter({s.ACCEPTED: images})
    assert sum(len(log.answered) for log in logs if log.name.startswith("ann")) > 0

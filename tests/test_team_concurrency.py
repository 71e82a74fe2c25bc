"""Many annotators on one project: 8 worker processes with roles, on SQLite and on
PostgreSQL (when LONGTAIL_TEST_POSTGRES_URL names a server), and a client killed while
it holds leases."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import skips
from conftest import make_image
from sqlalchemy import select
from team_support import POSTGRES, fresh_database, team_member

from pipeline.images import add_image_folder
from pipeline.stages import SPOTTING, Pipeline
from pipeline.store import credentials
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.settings import ProjectSettings
from pipeline.team import roles
from pipeline.vocabulary import Category, add_categories

REPO = Path(__file__).resolve().parents[1]
HOLDER = Path(__file__).parent / "scripts" / "lease_holder.py"

# Every stage but 6, one spot and one instance per image: short, and every stage's
# claim runs (stage 6 needs no roles and is covered by tests/test_concurrency.py).
SETTINGS = ProjectSettings(
    spot_done_after=1, negatives_per_category=0, negative_candidates_per_image=0
)
IMAGES = 8
TEAM = {
    "boss": roles.ADMIN,
    "vera": roles.VERIFIER,
    "vince": roles.VERIFIER,
    **{f"ann{k}": roles.ANNOTATOR for k in range(1, 6)},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """A project folder or a fresh server database (the server's password from the
    test URL stays in this process; workers get it the way a child process would)."""
    if request.param == "sqlite":
        yield str(tmp_path / "project")
        return
    if not POSTGRES:
        pytest.skip(skips.POSTGRES)
    with fresh_database() as url:
        yield url


def make_team_project(target: str, folder: Path, images: int, **settings) -> Project:
    for i in range(images):
        make_image(folder / f"im{i:02d}.png", 80, 60, color=(i * 9 % 255, 90, 140))
    project = Project.create(target, settings=SETTINGS.updated(**settings))
    add_categories(project, [Category("cat"), Category("dog")])
    add_image_folder(project, folder)
    return project


def test_eight_members_claim_every_item_once_and_log_every_answer(target, tmp_path, monkeypatch):
    with make_team_project(target, tmp_path / "images", IMAGES) as project:
        for name, role in TEAM.items():
            roles.add_member(project, name, role, by="boss")
        Pipeline(project).seed(by="boss")
        for name, value in credentials.child_environment(target).items():
            monkeypatch.setenv(name, value)  # a server's password, for the workers
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(TEAM), mp_context=context) as pool:
            futures = [
                pool.submit(team_member, project.url if project.folder is None else target, n)
                for n in TEAM
            ]
            logs = [f.result(timeout=240) for f in futures]

        answered = [i for log in logs for i in log.answered]
        assert len(answered) == len(set(answered)), "an item was answered twice"
        with project.read() as conn:
            wi, ev = s.work_items, s.events
            statuses = Counter(conn.execute(select(wi.c.status)).scalars())
            done = dict(
                conn.execute(select(wi.c.id, wi.c.done_by).where(wi.c.status == s.DONE)).all()
            )
            answers = conn.execute(
                select(ev.c.work_item_id, ev.c.annotator_id).where(ev.c.action == "answer")
            ).all()
            names = dict(conn.execute(select(s.annotators.c.id, s.annotators.c.name)).all())
            verdicts = conn.execute(
                select(s.verdicts.c.annotator_id, s.segments.c.annotator_id).join(
                    s.segments, s.segments.c.id == s.verdicts.c.segment_id
                )
            ).all()
            checkers = set(conn.execute(select(s.exhaustive_checks.c.annotator_id)).scalars())
            instances = Counter(conn.execute(select(s.instances.c.status)).scalars())
        # none lost: nothing open or leased is left, every answer made a done item
        assert statuses[s.OPEN] == statuses[s.LEASED] == 0 and statuses[s.DONE] >= IMAGES * 6
        assert set(done) == set(answered)
        # the event log is complete: one answer event per done item, by whoever did it
        assert len(answers) == len(done)
        assert {a.work_item_id: a.annotator_id for a in answers} == done
        assert Counter(names[a] for a in done.values()) == Counter(
            {log.name: len(log.answered) for log in logs if log.answered}
        )
        # the roles held: verifiers verified, nobody their own segment, and all is accepted
        verifying = {n for n, r in TEAM.items() if r != roles.ANNOTATOR}
        assert {names[v] for v, _ in verdicts} <= verifying and verdicts
        assert all(v != author for v, author in verdicts)
        assert {names[c] for c in checkers} <= verifying and checkers
        assert instances == Counter({s.ACCEPTED: IMAGES})
        assert sum(len(log.answered) for log in logs if log.name.startswith("ann")) > 0


def test_a_killed_clients_items_return_when_their_leases_run_out(target, tmp_path):
    lease = 2.0
    with make_team_project(target, tmp_path / "images", 3, lease_seconds=lease) as project:
        Pipeline(project).seed()
        env = {**credentials.child_environment(target), "PYTHONPATH": str(REPO)}
        holder = subprocess.Popen(
            [sys.executable, str(HOLDER), project.url if project.folder is None else target, "3"],
            stdout=subprocess.PIPE,
            env={**os.environ, **env},
        )
        try:
            line = holder.stdout.readline()
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        held = sorted(int(i) for i in line.split())
        assert len(held) == 3
        service = Pipeline(project)
        with project.read() as conn:
            expiry = max(
                conn.execute(
                    select(s.work_items.c.lease_expires).where(s.work_items.c.id.in_(held))
                ).scalars()
            )
        if time.time() < expiry - 0.5:  # (a slow machine may reach expiry before this)
            assert service.next_item(SPOTTING, "survivor") is None
            assert service.progress()[SPOTTING].leased == 3
        time.sleep(max(0.0, expiry - time.time()) + 0.1)
        assert service.progress()[SPOTTING].open == 3  # expired leases count as open
        back = service.next_items(SPOTTING, "survivor", 5)
        assert sorted(item.id for item in back) == held
        assert all(item.work_item.attempts == 2 for item in back)

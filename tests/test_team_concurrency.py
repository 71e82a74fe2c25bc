"""Many annotators on one project: 8 worker processes with roles, on SQLite and on
PostgreSQL (when LONGTAIL_TEST_POSTGRES_URL names a server), and a client killed while
it holds leases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import skips
from conftest import make_image
from sqlalchemy import select
from team_support import (
    EIGHT_MEMBERS,
    POSTGRES,
    QUICK_STAGES,
    check_team_finished,
    fresh_database,
    run_members,
)

from pipeline.images import add_image_folder
from pipeline.stages import SPOTTING, Pipeline
from pipeline.store import credentials
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.team import roles
from pipeline.vocabulary import Category, add_categories

REPO = Path(__file__).resolve().parents[1]
HOLDER = Path(__file__).parent / "scripts" / "lease_holder.py"

IMAGES = 8


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
    project = Project.create(target, settings=QUICK_STAGES.updated(**settings))
    add_categories(project, [Category("cat"), Category("dog")])
    add_image_folder(project, folder)
    return project


def test_eight_members_claim_every_item_once_and_log_every_answer(target, tmp_path, monkeypatch):
    with make_team_project(target, tmp_path / "images", IMAGES) as project:
        for name, role in EIGHT_MEMBERS.items():
            roles.add_member(project, name, role, by="boss")
        Pipeline(project).seed(by="boss")
        for name, value in credentials.child_environment(target).items():
            monkeypatch.setenv(name, value)  # a server's password, for the workers
        url = project.url if project.folder is None else target
        logs = run_members([(url, name) for name in EIGHT_MEMBERS])
        check_team_finished(project, logs, IMAGES)


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

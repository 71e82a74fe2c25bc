"""Live updates (pipeline/store/notify.py): LISTEN/NOTIFY on PostgreSQL, polling on SQLite."""

from __future__ import annotations

import queue
import time

import pytest
from sqlalchemy import text
from stages_support import make_project
from team_support import fresh_database, needs_postgres

from pipeline.stages import SPOTTING, Pipeline, SpotAnswer
from pipeline.store import notify
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.notify import Change, watch


def collector() -> tuple[queue.Queue[Change], callable]:
    changes: queue.Queue[Change] = queue.Queue()
    return changes, changes.put


def next_change(changes: queue.Queue[Change], kind: str, timeout: float = 10.0) -> Change:
    """The next change of ``kind`` (others are passed over)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            change = changes.get(timeout=left)
        except queue.Empty:
            break
        if change.kind == kind:
            return change
    raise AssertionError(f"no {kind!r} change within {timeout} s")


def answer_one(target, who: str = "other") -> int:
    """Another session (its own engine) answers one spotting item; returns the item id."""
    with Project.open(target) as project:
        service = Pipeline(project)
        item = service.next_item(SPOTTING, who)
        service.answer(item, SpotAnswer(nothing_new=True))
        return item.id


def test_sqlite_watchers_hear_another_sessions_answer(tmp_path):
    with make_project(tmp_path, images=2) as project:
        Pipeline(project).seed()
        changes, put = collector()
        with watch(project, put, interval=0.05):
            item_id = answer_one(project.folder)
            change = next_change(changes, "answer")
        assert change.stage == s.SPOTTING and change.work_item_id == item_id
        assert change.annotator_id == project.annotator("other").id


def test_sqlite_watchers_hear_new_work_items(tmp_path):
    with make_project(tmp_path, images=2) as project:
        changes, put = collector()
        with watch(project, put, interval=0.05):
            Pipeline(project).seed()
            next_change(changes, notify.QUEUES)


def test_a_failing_callback_does_not_stop_the_watching(tmp_path):
    with make_project(tmp_path, images=2) as project:
        Pipeline(project).seed()
        changes: queue.Queue[Change] = queue.Queue()

        def fragile(change: Change) -> None:
            changes.put(change)
            raise RuntimeError("a view that broke")

        with watch(project, fragile, interval=0.05) as watcher:
            answer_one(project.folder, "a")
            next_change(changes, "answer")
            answer_one(project.folder, "b")
            next_change(changes, "answer")
            assert watcher.alive


def test_after_stop_no_callback_runs(tmp_path):
    with make_project(tmp_path, images=2) as project:
        Pipeline(project).seed()
        changes, put = collector()
        watcher = watch(project, put, interval=0.05)
        watcher.stop()
        assert not watcher.alive
        answer_one(project.folder)
        time.sleep(0.2)
        assert changes.empty()


@pytest.fixture
def server_project(tmp_path):
    from conftest import make_image

    from pipeline.images import add_image_folder
    from pipeline.vocabulary import Category, add_categories

    with fresh_database() as url:
        for i in range(3):
            make_image(tmp_path / "images" / f"im{i}.png", color=(50 * i, 10, 10))
        with Project.create(url) as project:
            add_categories(project, [Category("cat")])
            add_image_folder(project, tmp_path / "images")
            yield project


@needs_postgres
def test_postgresql_watchers_hear_answers_through_notify(server_project):
    changes, put = collector()
    with watch(server_project, put) as watcher:
        assert watcher.wait_ready()
        Pipeline(server_project).seed()
        next_change(changes, notify.QUEUES, timeout=5)
        started = time.monotonic()
        item_id = answer_one(server_project.url)
        change = next_change(changes, "answer", timeout=5)
        assert change.work_item_id == item_id and change.stage == s.SPOTTING
        assert time.monotonic() - started < 5


@needs_postgres
def test_a_rolled_back_change_is_never_announced(server_project):
    changes, put = collector()
    with watch(server_project, put) as watcher:
        assert watcher.wait_ready()
        with pytest.raises(RuntimeError), server_project.write() as conn:
            notify.announce(conn, "answer", stage=1)
            raise RuntimeError("the answer failed")
        with server_project.write() as conn:
            notify.announce(conn, "undo", stage=2)
        assert next_change(changes, "undo", timeout=5).stage == 2
        assert changes.empty()


@needs_postgres
def test_a_watcher_that_lost_its_connection_reconnects_and_says_so(server_project, monkeypatch):
    monkeypatch.setattr(notify, "RECONNECT_S", 0.1)
    changes, put = collector()
    with watch(server_project, put) as watcher:
        assert watcher.wait_ready()
        with server_project.write() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                )
            )
        next_change(changes, notify.RECONNECTED, timeout=10)
        Pipeline(server_project).seed()
        next_change(changes, notify.QUEUES, timeout=5)

"""Two annotators in two windows on one project never see the same item, and the items
of a window that was killed come back to the others once their lease runs out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from gui_scripted_user import GuiAnnotator
from gui_stage_support import coco_project, rows, show_view, use_grabcut_worker
from gui_support import open_and_wait

from app.gui.session import Session
from app.gui.stages.spotting import SpottingView
from pipeline.stages import SPOTTING
from pipeline.store import schema as s

pytest_plugins = ["gui_support"]  # fixtures: settings_sandbox, window


def held_ids(win) -> set[int]:
    view = win.views.get(win.current_stage)
    return {item.id for item in view.items} if view is not None else set()


@pytest.mark.slow
def test_two_windows_with_two_annotators_never_show_the_same_item(
    qtbot, settings_sandbox, tiny_coco, tmp_path
):
    from app.gui.main_window import MainWindow

    work = coco_project(
        tiny_coco,
        tmp_path,
        images=3,
        min_area=1500,
        spot_done_after=1,
        negatives_per_category=1,
        negative_candidates_per_image=2,
    )
    names = {r.id: r.name for r in rows(work.project, s.categories)}
    users, workers = [], []
    for who in ("alice", "bob"):
        win = MainWindow(annotator=who, remember_annotator=False)
        qtbot.addWidget(win)
        win.resize(1200, 820)
        win.show()
        qtbot.waitExposed(win)
        open_and_wait(qtbot, win, work.project.folder)
        workers.append(use_grabcut_worker(win.session))
        users.append(GuiAnnotator(qtbot, win, work.truth, names=names))
    alice, bob = users
    overlaps, shown_together = [], 0
    try:
        for _ in range(12):  # rounds over the six stages, both windows in each
            answered = 0
            for stage in range(1, 7):
                alice.go(stage)
                bob.go(stage)
                for _ in range(200):
                    a, b = held_ids(alice.win), held_ids(bob.win)
                    overlaps.extend(a & b)
                    shown_together += bool(a and b)
                    step = alice.answer_one(stage) + bob.answer_one(stage)
                    if not step:
                        break
                    answered += step
            if not answered:
                break
    finally:
        for worker in workers:
            worker.close()
        for user in users:
            user.win.close_project()
    assert not overlaps
    assert shown_together > 10  # the windows really worked side by side
    seen_a = {i for _, i in alice.clicked.seen_items}
    seen_b = {i for _, i in bob.clicked.seen_items}
    assert seen_a and seen_b
    # an item is answered in one window only (a rejected segment's redo is a new item)
    assert not seen_a & seen_b
    progress = work.service.progress()
    assert all(p.remaining == 0 for p in progress.values()), progress
    # nobody verified their own segment
    for verdict in rows(work.project, s.verdicts):
        (segment,) = rows(work.project, s.segments, s.segments.c.id == verdict.segment_id)
        assert segment.annotator_id != verdict.annotator_id


HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from PySide6.QtWidgets import QApplication
    from app.gui.session import Session
    from app.gui.stages.verification import VerificationView
    from app.gui.stages.spotting import SpottingView
    from pipeline.store.database import Project

    app = QApplication([])
    project = Project.open(sys.argv[1])
    session = Session(project, "carol")
    view = SpottingView(session)
    view.resize(900, 600)
    view.show()
    view.activate()
    print(json.dumps([item.id for item in view.items]), flush=True)
    while True:  # holds its item, heartbeat and all, until it is killed
        app.processEvents()
        time.sleep(0.05)
    """
)


def test_a_killed_windows_items_come_back_once_their_lease_expires(qtbot, tiny_coco, tmp_path):
    lease = 3.0
    work = coco_project(tiny_coco, tmp_path, images=1, lease_seconds=lease)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(work.project.folder)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=os.getcwd(),
        text=True,
    )
    try:
        held = json.loads(holder.stdout.readline())
        assert len(held) == 1
        session = Session(work.project, "dave")
        view = SpottingView(session)
        show_view(qtbot, view)
        assert view.showing_empty()  # the only image is held by the other window
        time.sleep(lease * 0.8)
        view.load_next()  # the other window's heartbeat keeps its lease
        assert view.showing_empty()
        holder.send_signal(signal.SIGKILL)  # killed: no release, no heartbeat
        holder.wait(10)
        # the empty view looks again as progress refreshes (every few seconds)
        qtbot.waitUntil(lambda: bool(view.items), timeout=int((lease + 8) * 1000))
        assert [item.id for item in view.items] == held
        (row,) = rows(work.project, s.work_items, s.work_items.c.id == held[0])
        assert (
            row.stage == SPOTTING
            and row.status == s.LEASED
            and row.lease_owner == view.items[0].annotator.id
        )
        view.deactivate()
        session.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)

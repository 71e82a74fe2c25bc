"""Issue 20, "Why" 11: ``simulate`` tells "leased by someone else" from "nobody may take
it", and waits for others' leases instead of declaring a stall."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from test_simulate import coco_project, coco_subset

from pipeline.simulate import run_annotators
from pipeline.stages import SPOTTING, Pipeline, SpotAnswer

ROOT = Path(__file__).resolve().parent.parent


def test_a_run_waits_for_an_item_someone_else_holds(tmp_path, tiny_coco):
    images, truth_path = coco_subset(tiny_coco, "val2017", 2, tmp_path)
    project = coco_project(tmp_path / "p", images, negatives_per_category=1)
    with project:
        person = Pipeline(project)
        person.seed()
        held = person.next_item(SPOTTING, "person")  # a person's lease, live for minutes
        assert held is not None

        def answer_last() -> None:
            # once the held item is the only work left, give the run time to give up
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if sum(p.remaining for p in person.progress().values()) == 1:
                    break
                time.sleep(0.05)
            time.sleep(1.0)
            person.answer(held, SpotAnswer(nothing_new=True))

        answering = threading.Thread(target=answer_last)
        answering.start()
        outcome = run_annotators(project, truth_path, annotators=2)
        summary = outcome.summary(project)  # as the run ended, before the person is awaited
        answering.join()
    assert summary.finished, summary.lines()
    assert summary.leased_elsewhere == 0 and not any(summary.stalled.values())


def test_two_simulate_runs_at_once_both_finish(tmp_path, tiny_coco):
    images, truth_path = coco_subset(tiny_coco, "val2017", 3, tmp_path)
    coco_project(tmp_path / "p", images, negatives_per_category=1).close()
    command = [
        sys.executable, "-m", "app", "simulate", str(tmp_path / "p"),
        "--truth", str(truth_path), "--annotators", "2",
    ]  # fmt: skip
    runs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    for code, out, err in results:
        assert code == 0, (out.decode(), err.decode())
        assert b"stalled" not in out

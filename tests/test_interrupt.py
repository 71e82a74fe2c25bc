"""Ctrl-C: every long command stops within about two seconds of SIGINT, keeps what it
committed, and exits 130 with one line, even when the work sits inside a long C call.

Real processes and real signals: each command runs as ``python -m app`` and gets
SIGINT while it is busy (known from its database or from the CPU time it has spent
past its start-up), and the test measures how long it takes to stop.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.formats import import_coco
from pipeline.store.database import Project

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="needs /proc to see when a process is busy"
)

# Far beyond the ~1-2 s the design allows (the grace period is 1 s), far below the
# 35-65 s Ctrl-C took before: a loaded test machine must not make this flaky.
STOP_BOUND_S = 12.0


@dataclass
class Stopped:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # from SIGINT to the process's end


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


@pytest.fixture(scope="module")
def startup_cpu() -> float:
    """CPU seconds a command spends before it starts its work, at most: ``--version``
    imports every command's module and builds every parser, and main() installs the
    Ctrl-C handling right after its parser."""
    return command_startup_cpu("--version")


def command_startup_cpu(*args: str) -> float:
    """CPU seconds one command spends before its work (``import --help``: ``longtail
    import`` builds only its own parser, so it starts sooner than ``--version``)."""
    proc = subprocess.Popen(_command(*args), cwd=REPO, stdout=subprocess.DEVNULL)
    used = 0.0
    while proc.poll() is None:
        try:
            used = max(used, _cpu_seconds(proc.pid))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            break
        time.sleep(0.01)
    return used


def interrupt_when(cmd: list[str], busy: Callable[[int], bool], timeout: float = 120) -> Stopped:
    """Start ``cmd``, send SIGINT once ``busy(pid)`` says it is at work, wait for its end."""
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + timeout
    try:
        while not busy(proc.pid):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the command ended before it could be interrupted: {err or out}")
            if time.monotonic() > deadline:
                pytest.fail("the command never got busy")
            time.sleep(0.02)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        return Stopped(proc.returncode, out, err, time.monotonic() - sent)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def cpu_past(threshold: float) -> Callable[[int], bool]:
    def busy(pid: int) -> bool:
        try:
            return _cpu_seconds(pid) >= threshold
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False

    return busy


def inside_after(ready: Path, cpu_s: float = 0.3) -> Callable[[int], bool]:
    """Busy once ``ready`` exists and the process has spent ``cpu_s`` more CPU since:
    by then it is inside the call that follows."""
    start: list[float] = []

    def busy(pid: int) -> bool:
        if not ready.exists():
            return False
        used = _cpu_seconds(pid)
        if not start:
            start.append(used)
        return used - start[0] >= cpu_s

    return busy


def assert_cancelled_in_one_line(stopped: Stopped) -> None:
    lines = stopped.stderr.strip().splitlines()
    assert stopped.returncode == 130, stopped.stderr
    assert len(lines) == 1 and lines[0].startswith("longtail: cancelled"), stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert stopped.seconds < STOP_BOUND_S
    print(f"stopped {stopped.seconds:.2f} s after SIGINT")  # the figure, shown with -s


# ---------------------------------------------------------------- the mechanism


@pytest.mark.parametrize(
    "stuck",
    [
        # SQLite never looks at Python's signals: one statement runs to its end
        "import sqlite3\n"
        "sqlite3.connect(':memory:').execute('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
        "SELECT x + 1 FROM c) SELECT count(*) FROM (SELECT x FROM c LIMIT 10000000000)')",
        # the kind of OpenCV call that stalled `simulate --noise sloppy` (GIL released)
        "import cv2, numpy as np\n"
        "image = (np.random.default_rng(0).random((2000, 2000)) > 0.5).astype(np.uint8)\n"
        "cv2.dilate(image, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (1001, 1001)))",
    ],
    ids=["sqlite statement", "opencv dilate"],
)
def test_ctrl_c_ends_a_command_stuck_in_a_long_c_call(stuck, tmp_path):
    """Python's KeyboardInterrupt waits for a C call to return: minutes here."""
    ready = tmp_path / "ready"
    # The set-up (imports, data) runs before "ready", so that the signal lands in the call.
    *setup, call = stuck.splitlines()
    body = "\n".join("        " + line for line in setup)
    script = (
        "import sys\n"
        "from app import interrupt\n"
        "try:\n"
        "    with interrupt.handling_interrupts():\n"
        f"{body}\n"
        f"        open({str(ready)!r}, 'w').close()\n"
        f"        {call}\n"
        "except KeyboardInterrupt:\n"
        "    interrupt.announce('by Python')\n"
        "    sys.exit(interrupt.EXIT_STATUS)\n"
    )
    stopped = interrupt_when([sys.executable, "-c", script], inside_after(ready))
    assert_cancelled_in_one_line(stopped)
    assert "by Python" not in stopped.stderr  # the watcher ended it, not the call's end


def test_a_command_that_stops_by_itself_says_so_once(tmp_path):
    ready = tmp_path / "ready"
    script = (
        "import sys, time\n"
        "from app import interrupt\n"
        "try:\n"
        "    with interrupt.handling_interrupts():\n"
        f"        open({str(ready)!r}, 'w').close()\n"
        "        while True: time.sleep(0.01)\n"
        "except KeyboardInterrupt:\n"
        "    interrupt.announce('3 steps saved')\n"
        "    sys.exit(interrupt.EXIT_STATUS)\n"
    )
    stopped = interrupt_when([sys.executable, "-c", script], lambda pid: ready.exists())
    assert_cancelled_in_one_line(stopped)
    assert "(3 steps saved)" in stopped.stderr


def test_a_command_may_ask_for_a_longer_grace_and_say_it_in_its_own_words(tmp_path):
    """Training stops at its next iteration and writes a checkpoint: longer than 1 s."""
    ready = tmp_path / "ready"
    script = (
        "import signal, sys, time\n"
        "from app import interrupt\n"
        "stop = []\n"
        "with interrupt.handling_interrupts():\n"
        "    interrupt.set_grace(5)\n"
        "    signal.signal(signal.SIGINT, lambda *_: stop.append(time.monotonic()))\n"
        f"    open({str(ready)!r}, 'w').close()\n"
        "    while not stop or time.monotonic() - stop[0] < 1.5: time.sleep(0.01)\n"
        "interrupt.announce(line='longtail: training cancelled at iteration 7')\n"
        "sys.exit(interrupt.EXIT_STATUS)\n"
    )
    stopped = interrupt_when([sys.executable, "-c", script], lambda pid: ready.exists())
    assert stopped.returncode == 130
    assert stopped.stderr.strip().splitlines() == ["longtail: training cancelled at iteration 7"]
    assert 1.4 < stopped.seconds < STOP_BOUND_S


# ---------------------------------------------------------------- the long commands


def _generated_coco(path: Path, images: int, per_image: int, seed: int = 0) -> Path:
    """A COCO file of many polygon annotations on images that need not exist."""
    rng = random.Random(seed)
    doc = {"images": [], "annotations": [], "categories": []}
    doc["categories"] = [{"id": c, "name": f"thing {c}"} for c in range(1, 41)]
    aid = 1
    for i in range(1, images + 1):
        doc["images"].append({"id": i, "file_name": f"im{i:05d}.jpg", "width": 640, "height": 480})
        for _ in range(per_image):
            x, y = rng.uniform(0, 500), rng.uniform(0, 380)
            w, h = rng.uniform(10, 120), rng.uniform(10, 90)
            polygon = [x, y, x + w, y, x + w, y + h, x + w / 2, y + h, x, y + h]
            doc["annotations"].append(
                {"id": aid, "image_id": i, "category_id": 1 + aid % 40, "segmentation": [polygon],
                 "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
            aid += 1
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def big_coco(tmp_path_factory) -> Path:
    return _generated_coco(tmp_path_factory.mktemp("big") / "instances_big.json", 600, 60)


def test_ctrl_c_stops_an_import_and_leaves_the_project_as_it_was(big_coco, startup_cpu, tmp_path):
    Project.create(tmp_path / "p").close()
    with Project.open(tmp_path / "p") as project:
        before = project.counts()
    start = command_startup_cpu("import", "--help")
    stopped = interrupt_when(
        _command("import", str(tmp_path / "p"), str(big_coco), "--format", "coco",
                 "--reference-only"),
        cpu_past(start + 0.6),
    )  # fmt: skip
    assert_cancelled_in_one_line(stopped)
    with Project.open(tmp_path / "p") as project:
        assert project.counts() == before


def test_ctrl_c_stops_an_export_and_writes_no_file(big_coco, startup_cpu, tmp_path):
    with Project.create(tmp_path / "p") as project:
        import_coco(project, big_coco, reference_only=True)
        before = project.counts()
    out = tmp_path / "out.json"
    start = startup_cpu
    stopped = interrupt_when(
        _command("export", str(tmp_path / "p"), str(out), "--format", "lvis", "--masks", "rle"),
        cpu_past(start + 0.6),
    )
    assert_cancelled_in_one_line(stopped)
    assert not out.exists()
    with Project.open(tmp_path / "p") as project:
        assert project.counts() == before


def test_ctrl_c_stops_an_evaluation(big_coco, startup_cpu, tmp_path):
    truth = json.loads(big_coco.read_text())
    rng = random.Random(1)
    results = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "score": rng.random(),
         "bbox": [v + rng.uniform(-3, 3) for v in a["bbox"]]}
        for a in truth["annotations"] for _ in range(10)
    ]  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    start = startup_cpu
    stopped = interrupt_when(
        _command("evaluate", str(big_coco), str(path), "--type", "bbox", "--metric", "lvis"),
        cpu_past(start + 0.6),
    )
    assert_cancelled_in_one_line(stopped)


def test_ctrl_c_stops_a_simulation_and_keeps_every_answer(tiny_coco, tmp_path):
    from pipeline.images import add_image_folder
    from pipeline.vocabulary import add_categories, shipped_vocabulary

    with Project.create(tmp_path / "p") as project:
        add_categories(project, shipped_vocabulary("coco"))
        add_image_folder(project, tiny_coco / "val2017")
    db = tmp_path / "p" / "longtail.db"

    def answers() -> int:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute("SELECT count(*) FROM events WHERE action = 'answer'").fetchone()[0]

    seen = 0

    def busy(pid: int) -> bool:
        nonlocal seen
        seen = answers()
        return seen >= 20

    truth = tiny_coco / "annotations" / "instances_val2017.json"
    stopped = interrupt_when(
        _command("simulate", str(tmp_path / "p"), "--truth", str(truth), "--noise", "sloppy"),
        busy,
    )
    assert_cancelled_in_one_line(stopped)
    assert "answers given and saved" in stopped.stderr or "what was saved" in stopped.stderr
    assert stopped.stdout.strip() == ""  # no summary: it would take a while to compute
    assert answers() >= seen  # every committed answer is kept

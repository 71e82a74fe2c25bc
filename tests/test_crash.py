"""A process killed with SIGKILL loses nothing it reported as committed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from pipeline.store import schema as s
from pipeline.store.database import Project

WRITER = Path(__file__).parent / "scripts" / "crash_writer.py"
REPO = Path(__file__).resolve().parents[1]


def _collect(stream, lines: list[bytes]) -> None:
    lines.extend(iter(stream.readline, b""))


def test_sigkill_at_random_moments_loses_no_committed_write(tmp_path: Path):
    with Project.create(tmp_path / "p") as project, project.write() as conn:
        image_id = conn.execute(
            s.images.insert().values(
                path="a.png", file_name="a.png", width=64, height=48, split="train", created_at=0.0
            )
        ).inserted_primary_key[0]
        category_id = conn.execute(
            s.categories.insert().values(name="thing", synonyms=[], definition="", created_at=0.0)
        ).inserted_primary_key[0]
    rng = random.Random(1234)
    reported: list[int] = []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rounds = 12
    for _ in range(rounds):
        writer = subprocess.Popen(
            [sys.executable, str(WRITER), str(tmp_path / "p"), str(image_id), str(category_id)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert writer.stdout.readline().strip() == b"ready"
        lines: list[bytes] = []
        reader = threading.Thread(target=_collect, args=(writer.stdout, lines))
        reader.start()
        time.sleep(rng.uniform(0.02, 0.4))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        reader.join()
        # Only lines printed in full were reported as committed.
        reported += [int(x) for x in lines if x.endswith(b"\n")]

        with Project.open(tmp_path / "p") as project, project.read() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            stored = set(conn.execute(select(s.instances.c.id)).scalars())
            missing = [i for i in reported if i not in stored]
            assert not missing, f"committed writes lost: {missing[:10]}"
            # every instance has its segment and its event: no half-written action
            n_instances = conn.execute(select(func.count()).select_from(s.instances)).scalar()
            n_segments = conn.execute(select(func.count()).select_from(s.segments)).scalar()
            n_events = conn.execute(select(func.count()).select_from(s.events)).scalar()
            assert n_instances == n_segments == n_events
    assert len(reported) > rounds  # the writers did get work done between kills

"""Nothing lost: drafts are written off the GUI thread within a second of an edit and
come back when the same annotator reopens the item, even after a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import make_image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from sqlalchemy import event

from app.gui.autosave import AutoSaver
from app.gui.editor import MaskEditor
from pipeline.drafts import load_draft
from pipeline.images import add_image_folder
from pipeline.store import schema as s
from pipeline.store.database import Project, now

REPO = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).parent / "scripts" / "autosave_child.py"


@pytest.fixture
def held_item(tmp_path: Path):
    """A project with one 120x90 image and one work item on it."""
    make_image(tmp_path / "images" / "a.png", 120, 90)
    project = Project.create(tmp_path / "project")
    add_image_folder(project, tmp_path / "images")
    with project.write() as conn:
        image_id = conn.execute(s.images.select()).first().id
        item = conn.execute(
            s.work_items.insert().values(stage=3, image_id=image_id, created_at=now())
        ).inserted_primary_key[0]
    yield project, item, image_id, tmp_path / "images" / "a.png"
    project.close()


def _editor(qtbot, path: Path) -> MaskEditor:
    e = MaskEditor()
    qtbot.addWidget(e)
    e.resize(600, 450)
    e.show()
    qtbot.waitExposed(e)
    e.load(path)
    e.view.set_zoom(2.0, QPointF(60, 45))
    return e


def _square(e: MaskEditor) -> None:
    for x, y in [(10, 10), (80, 10), (80, 70), (10, 70)]:
        at = e.view.image_to_view(QPointF(x, y)).toPoint()
        QTest.mouseClick(e.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    QTest.keyClick(e.view, Qt.Key.Key_Return)


def test_a_draft_is_written_off_the_gui_thread_within_a_second_and_restored(qtbot, held_item):
    project, item, image_id, path = held_item
    writers: list[str] = []

    def on_execute(conn, cursor, statement, *args):
        if "drafts" in statement and statement.lstrip().upper().startswith("INSERT"):
            writers.append(threading.current_thread().name)

    event.listen(project.engine, "before_cursor_execute", on_execute)
    saver = AutoSaver(project, project.annotator("ann"))
    editor = _editor(qtbot, path)
    saver.watch(editor, item, image_id)
    started = time.perf_counter()
    with qtbot.waitSignal(saver.saved, timeout=3000):
        _square(editor)
    elapsed = time.perf_counter() - started
    print(f"\ndraft in the database {elapsed * 1000:.0f} ms after the edit", file=sys.stderr)
    assert writers and threading.main_thread().name not in writers
    stored = load_draft(project, item, project.annotator("ann").id)
    assert stored.mask.to_bytes() == editor.current_mask().to_bytes()
    assert stored.content["tool"] == "polygon"
    # Reopening the item (a new editor) the way a stage view does.
    again = _editor(qtbot, path)
    again.load(path, draft=saver.restore(item), draft_tool=saver.restored_tool(item))
    assert again.current_mask().to_bytes() == editor.current_mask().to_bytes()
    # Another annotator does not see it.
    assert AutoSaver(project, project.annotator("bob")).restore(item) is None


def test_a_burst_of_edits_is_written_once_and_the_last_state_wins(qtbot, held_item):
    project, item, image_id, path = held_item
    saver = AutoSaver(project, project.annotator("ann"))
    editor = _editor(qtbot, path)
    saver.watch(editor, item, image_id)
    saves = []
    saver.saved.connect(saves.append)
    _square(editor)
    editor.set_tool("brush")
    editor.radius.set(3)
    for x in (20, 40, 60):
        at = editor.view.image_to_view(QPointF(x, 80)).toPoint()
        QTest.mouseClick(editor.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert saver.flush()
    qtbot.waitUntil(lambda: len(saves) >= 1, timeout=2000)
    assert len(saves) == 1
    stored = load_draft(project, item, project.annotator("ann").id)
    assert stored.mask.to_bytes() == editor.current_mask().to_bytes()
    assert stored.content["tool"] == "polygon"  # the tool that began the mask


def test_discard_after_an_answer_removes_the_draft_and_pending_writes(qtbot, held_item):
    project, item, image_id, path = held_item
    saver = AutoSaver(project, project.annotator("ann"))
    editor = _editor(qtbot, path)
    saver.watch(editor, item, image_id)
    _square(editor)
    with qtbot.waitSignal(saver.discarded, timeout=3000):
        saver.discard(item)  # before the debounce fired: nothing may land afterwards
    assert saver.flush()
    assert load_draft(project, item, project.annotator("ann").id) is None
    # Content from a stage view that is not a mask.
    with qtbot.waitSignal(saver.saved, timeout=3000):
        saver.schedule(item, image_id, {"points": [[1, 2]]})
    assert saver.restore_content(item) == {"points": [[1, 2]]}
    assert saver.restore(item) is None


def test_a_drawing_survives_sigkill_of_the_app(held_item):
    project, item, image_id, path = held_item
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    args = [str(project.folder), str(item), str(image_id), str(path)]
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "draw", *args], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    try:
        line = b""
        deadline = time.monotonic() + 60
        while not line.startswith(b"SAVED") and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                break
        assert line.startswith(b"SAVED"), "the drawing session never saved its draft"
        _, drawn, seconds = line.decode().split()
        print(f"\ndraft saved {float(seconds) * 1000:.0f} ms after the last edit", file=sys.stderr)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    out = subprocess.run(
        [sys.executable, str(CHILD), "restore", *args],
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=True,
    ).stdout.decode()
    restored = next(line for line in out.splitlines() if line.startswith("RESTORED"))
    assert restored.split()[1:] == [drawn, "polygon"]

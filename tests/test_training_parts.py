"""The training run's shape: events torch-free, one entry point, no function over 80 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from model.training import events as ev

REPO = Path(__file__).resolve().parents[1]


def test_events_the_entry_point_and_the_child_launcher_import_no_torch():
    code = (
        "import sys\n"
        "import model.training.events, model.training.entry, model.training.isolate\n"
        "import model.training.__main__\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_event_goes_through_a_json_line_and_back():
    samples = [
        ev.Registered(3),
        ev.Progress(2, 10, 1.5, {"loss_mask": 0.5}, 0.01, 4, 2.0, 12.0, 1),
        ev.CheckpointSaved(2, "/p/models/3/checkpoint.pt"),
        ev.Evaluating(7),
        ev.EvaluationProgress(1, 7),
        ev.Evaluated({"images": 7}),
        ev.Ended(3, "finished", 10, "/p", None),
        ev.Cancelled(3, "cancelled", 2, "/p", None, stopped_at=4),
        ev.Failed("no masks"),
    ]
    for event in samples:
        assert ev.event_from_dict(event.as_dict()) == event
    assert ev.event_from_dict({"event": "something newer"}) is None
    assert ev.event_from_dict({"event": "progress"}) is None  # fields missing


def test_no_function_in_model_training_is_over_80_lines():
    long = []
    for path in sorted((REPO / "model" / "training").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long.append(f"{path.name}:{node.name} ({lines} lines)")
    assert not long, long

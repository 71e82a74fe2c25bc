"""Issue 21 item 5, kept: a COCO or LVIS file's way from ``longtail import`` to the first
image row visits at most 12 of the import's own modules (app.cli, pipeline.formats) and
comes back to at most 5 it had left (tools/import_walk.py traces it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_walk.py"


def _tool():
    spec = importlib.util.spec_from_file_location("import_walk", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["coco", "lvis"])
def test_the_import_walks_read_check_encode_write_through_few_modules(tmp_path, kind):
    walk = _tool().walk_file(tmp_path, kind)
    path = walk["path"]
    # The walk reached the writer: the trace covers the whole way, not a refusal.
    assert path["module_list"][0] == "app.cli.commands.importer"
    assert path["module_list"][-1] == "pipeline.formats.writer"
    assert path["modules"] <= 12, path["module_list"]
    assert path["returns"] <= 5, path["return_list"]

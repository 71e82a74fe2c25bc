"""The walk of one import through the tree: from ``longtail import`` to the first image row.

Issue 21 item 5 asks that a COCO file's way from the CLI's import command to the rows
visit few modules and come back to few it has already left. This traces it with
``sys.setprofile`` (a small generated COCO file, images by reference) and prints JSON:

- ``modules``: the in-tree modules (``app``, ``pipeline``, ``model``) entered, in order;
- ``returns``: the crossings from one module into another that the walk had already
  entered (and left, or called out of) before, each counted once per (from, to) pair,
  so that a loop over images counts a crossing once, as a reader of the code sees it;
- ``path``: the same two counts over the import's own modules only (``app.cli`` and
  ``pipeline.formats``), the store, team, vocabulary and image services left out: the
  figure issue 21 item 5 sets its target on (at most 12 modules, at most 5 returns).

The walk starts when the CLI's ``import`` command runs and ends at the first call of
``ImportWriter.images`` (the first image row written). Calls made from third-party code
(SQLAlchemy's events, say) count as made from the last in-tree frame below them.
Run: ``.venv/bin/python tools/import_walk.py [--format coco|lvis]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

IN_TREE = ("app", "pipeline", "model")
PATH = ("app.cli", "pipeline.formats")


class Stop(Exception):
    """Raised out of the profile hook's reach: the first image row is about to be written."""


def module_of(frame: FrameType, within: tuple[str, ...] = IN_TREE) -> str | None:
    """The module a frame runs in, if it lies in one of the packages ``within``."""
    name = frame.f_globals.get("__name__", "")
    if not isinstance(name, str) or not any(name == w or name.startswith(w + ".") for w in within):
        return None
    return name


class Walk:
    """The modules entered and the returns, over the modules in ``within``."""

    def __init__(self, within: tuple[str, ...], first: str) -> None:
        self.within = within
        self.modules = [first]
        self.crossings: set[tuple[str, str]] = set()
        self.returns: list[tuple[str, str]] = []

    def call(self, frame: FrameType) -> None:
        callee = module_of(frame, self.within)
        if callee is None:
            return
        caller = None
        back = frame.f_back
        while back is not None and caller is None:
            caller = module_of(back, self.within)
            back = back.f_back
        if caller is None or caller == callee or (caller, callee) in self.crossings:
            return
        self.crossings.add((caller, callee))
        if callee in self.modules:
            self.returns.append((caller, callee))
        else:
            self.modules.append(callee)

    def as_dict(self) -> dict[str, Any]:
        return {
            "modules": len(self.modules),
            "returns": len(self.returns),
            "module_list": self.modules,
            "return_list": [f"{a} -> {b}" for a, b in self.returns],
        }


def walk(argv: list[str]) -> dict[str, Any]:
    """Run ``longtail`` with ``argv`` under the trace; the walk as a dict."""
    from app.cli.main import main as cli_main
    from pipeline.formats.writer import ImportWriter

    stop_code = ImportWriter.images.__code__
    first = "app.cli.commands.importer"
    walks = [Walk(IN_TREE, first), Walk(PATH, first)]
    started = [False]

    def hook(frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        if not started[0]:
            started[0] = frame.f_code.co_name == "run" and module_of(frame) == first
            return
        if frame.f_code is stop_code:
            sys.setprofile(None)
            raise Stop
        for w in walks:
            w.call(frame)

    sys.setprofile(hook)
    try:
        cli_main(argv)
    except Stop:
        pass
    finally:
        sys.setprofile(None)
    return {**walks[0].as_dict(), "path": walks[1].as_dict()}


def walk_file(root: Path, kind: str = "coco") -> dict[str, Any]:
    """The walk of importing a one-image COCO (or LVIS) file, by reference, into a new
    project under ``root``."""
    import orjson

    from pipeline.store.database import Project

    file = root / "images" / "instances.json"
    file.parent.mkdir(parents=True)
    polygon = [[1.0, 1.0, 9.0, 1.0, 9.0, 9.0, 1.0, 9.0]]
    image: dict[str, Any] = {"id": 1, "width": 16, "height": 16, "file_name": "a.jpg"}
    if kind == "lvis":
        image.update(neg_category_ids=[], not_exhaustive_category_ids=[])
    doc = {
        "images": [image],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentation": polygon, "bbox": [1.0, 1.0, 8.0, 8.0], "area": 64.0}
        ],
    }  # fmt: skip
    file.write_bytes(orjson.dumps(doc))
    project = root / "project"
    Project.create(project).close()
    return walk(["import", str(project), str(file), "--format", kind, "--reference-only"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--format", default="coco", choices=("coco", "lvis"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="longtail-walk-") as temp:
        result = walk_file(Path(temp), args.format)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""The demo project: the images shipped in ``resources/demo`` and the COCO vocabulary.

Built by ``longtail demo`` and by the window's "open the demo" flow, so it lives beside
both front ends rather than in either.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from pipeline.images import add_image_folder
from pipeline.store.database import DB_NAME, Project
from pipeline.vocabulary import add_categories, shipped_vocabulary


def default_location() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "longtail" / "demo-project"


def build_demo(folder: Path, *, rebuild: bool = False) -> Project:
    """The demo project in ``folder``, built on first use (``rebuild``: afresh)."""
    if rebuild and (folder / DB_NAME).exists():
        for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
            (folder / name).unlink(missing_ok=True)
    if (folder / DB_NAME).exists():
        return Project.open(folder)
    project = Project.create(folder)
    add_categories(project, shipped_vocabulary("coco"))
    images = resources.files("resources").joinpath("demo").joinpath("images")
    with resources.as_file(images) as path:
        add_image_folder(project, path)
    return project

"""``longtail init PROJECT --images DIR --vocabulary {coco,lvis,PATH} [--follow-symlinks]``"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from pipeline.images import add_image_folder
from pipeline.store.credentials import shown
from pipeline.store.database import Project
from pipeline.team import roles
from pipeline.text import for_terminal
from pipeline.vocabulary import add_categories, load_vocabulary

from ..progress import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a project from a folder of images and a vocabulary")
    p.add_argument("project", help="folder to create the project in")
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument(
        "--vocabulary",
        default="coco",
        help="coco, lvis, or a COCO/LVIS JSON or text file (default: coco)",
    )
    p.add_argument("--split", default=None, help="split the images join (default: train)")
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="add images reached through symbolic links that lead out of the --images folder "
        "(refused and listed by default)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    vocabulary = load_vocabulary(args.vocabulary)  # fail before creating anything
    images = Path(args.images)
    if not images.is_dir():
        from pipeline.errors import LongtailError

        raise LongtailError(f"image folder {images} does not exist or is not a folder")
    # All or nothing: the project stays marked unfinished until everything is in; a
    # failure (or Ctrl-C) removes it, a killed run's leftover is replaced by the next.
    target = Path(args.project).expanduser() if "://" not in args.project else None
    made_folder = target is not None and not target.exists()
    project = Project.create(args.project, building=True)
    try:
        with project:
            added, _ = add_categories(project, vocabulary)
            with progress_bar("reading images", unit="img") as progress:
                report = add_image_folder(
                    project,
                    images,
                    split=args.split,
                    progress=progress,
                    follow_symlinks=args.follow_symlinks,
                )
            project.finish_building()
            note = roles.team_note(project)  # PostgreSQL: the login is the project's admin
    except BaseException:
        project.discard_unfinished()
        if made_folder and target is not None:
            _remove_if_empty(target)
        raise
    for line in report.lines():
        print(f"  {for_terminal(line)}")  # file names: never raw escapes (decision 0024)
    print(
        f"created {shown(args.project)}: {report.summary()}; {added} categories ({vocabulary.name})"
    )
    if note:
        print(note)
    return 0


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (something else is there): left as is
        folder.rmdir()

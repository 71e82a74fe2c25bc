"""``longtail weights [fetch NAME]``: which model checkpoints are found where.

Without arguments, lists the checkpoints longtail can start a model from and where
each is (torchvision's cache, ``$TORCH_HOME/hub/checkpoints``). ``fetch NAME`` lets
torchvision download one into that cache, which needs a network.
"""

from __future__ import annotations

import argparse

from pipeline.errors import LongtailError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="list model checkpoints found offline; fetch one")
    p.add_argument("action", nargs="?", choices=("list", "fetch"), default="list")
    p.add_argument("name", nargs="?", help="checkpoint to fetch (a name from the list)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from model import weights

    if args.action == "fetch":
        if not args.name:
            raise LongtailError(f"name a checkpoint to fetch: {', '.join(weights.KNOWN)}")
        path = weights.fetch(args.name)
        print(f"fetched {args.name} into {path}")
        return 0
    if args.name:
        raise LongtailError("`weights list` takes no name")
    print(f"torchvision cache: {weights.cache_dir()}")
    rows = [("name", "model", "kind", "file", "found")]
    for found in weights.survey():
        c = found.checkpoint
        rows.append(
            (c.key, c.architecture, c.kind, c.file_name, str(found.path) if found.path else "-")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) + "  " + row[-1])
    missing = sum(1 for f in weights.survey() if f.path is None)
    if missing == len(weights.KNOWN):
        print(
            "no checkpoints found: models start from random weights and box prompts use the "
            "classical fallback; `longtail weights fetch NAME` (with a network) or copy a file there"
        )
    return 0

"""The ``longtail`` command line: subcommands are the modules of ``app.cli.commands``."""

from __future__ import annotations

import argparse
import errno
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from app import interrupt
from pipeline import __version__
from pipeline.errors import LongtailError
from pipeline.text import for_terminal

from . import commands

# Commands whose module has another name (``import`` is a Python keyword): without this,
# ``longtail import`` built the parser of every command, matplotlib and torch's callers
# included, before importing one file.
COMMAND_MODULES = {"import": "importer"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of command ``only`` alone (``main`` asks for
    that when the command is named, so that one command does not import all others:
    ``longtail gui`` must open its window fast)."""
    parser = argparse.ArgumentParser(
        prog="longtail",
        description="Build large-vocabulary instance-segmentation datasets the way LVIS was built.",
    )
    parser.add_argument("--version", action="version", version=f"longtail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or (only is not None and info.name != only):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    named = argv[0] if argv and not argv[0].startswith("-") else None
    named = COMMAND_MODULES.get(named or "", named)
    known = {m.name for m in pkgutil.iter_modules(commands.__path__)}
    parser = build_parser(only=named if named in known else None)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        with interrupt.handling_interrupts():
            return int(args.func(args) or 0)
    except LongtailError as exc:
        print(f"longtail: error: {for_terminal(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        interrupt.announce(str(exc) if isinstance(exc, interrupt.Cancelled) else "")
        return interrupt.EXIT_STATUS
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        # A full disk while writing a file (an export, say); the file was not replaced.
        where = f" (writing {exc.filename})" if exc.filename else ""
        print(
            f"longtail: error: the disk is full{where}; the command stopped and saved nothing more",
            file=sys.stderr,
        )
        return 1


def run() -> None:
    """The ``longtail`` console script: :func:`main`, then the process ends. After a stop
    (Ctrl-C, SIGTERM) it ends at once, its output flushed: the command has closed its
    files and transactions, and the interpreter's teardown (torch's libraries unloaded,
    a training child reaped) can take seconds of a stop's 2 on a loaded machine."""
    status = main()
    if status != interrupt.EXIT_STATUS:
        sys.exit(status)
    interrupt.exit_now(status)


if __name__ == "__main__":
    run()

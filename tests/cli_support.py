"""The command line in this process, for tests (``longtail ARGV`` as :func:`run`)."""

from __future__ import annotations

from typing import Any


def run(capsys: Any, *argv: object) -> tuple[int, str, str]:
    """``longtail ARGV`` run in this process (app.cli.main), each argument as text;
    its exit status and what it wrote to stdout and stderr (pytest's ``capsys``)."""
    from app.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err

"""Progress bars for long CLI commands (tqdm on stderr, quiet when not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(description: str, *, unit: str = "it") -> Iterator[Callable[[int, int], None]]:
    """A ``(done, total)`` callback drawing a bar; Ctrl-C cancels the work it follows."""
    bar: tqdm | None = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total,
                desc=description,
                unit=unit,
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
                leave=False,
            )
        bar.total = total
        bar.update(done - bar.n)  # tqdm limits how often it redraws

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()

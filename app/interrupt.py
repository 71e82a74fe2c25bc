"""Ctrl-C for every long command: stop within about two seconds, keep what was committed.

Python runs a SIGINT handler only between bytecodes, so ``KeyboardInterrupt`` waits
for whatever C call is running: an OpenCV filter, a pycocotools IoU, a long SQLite
statement, a thread pool being joined. :func:`handling_interrupts` therefore watches
for SIGINT from a thread of its own, woken by the signal itself
(:func:`signal.set_wakeup_fd`), and gives the command :data:`GRACE_S` seconds to end
through ``KeyboardInterrupt`` as usual; if it has not by then, it prints the one line
and ends the process with status 130 at once. A second Ctrl-C ends it at once too.

Ending the process that way is what a crash does, and the store is made for it: every
committed transaction stays, an open one is rolled back when the project is next
opened (an import is one transaction, so it is all or nothing), and files are written
through a temporary file and a rename. Work that must tidy up before such an exit
(stop child processes, say) registers a callback with :func:`on_hard_exit`.

Usage (``app/cli/main.py`` wraps every command in it; a command need do nothing)::

    with handling_interrupts():
        run_the_command()          # may call set_grace(seconds) to stop more slowly
    # KeyboardInterrupt (or Cancelled) propagates; the caller prints cancel_line()
    # and exits 130.

A library call that catches Ctrl-C itself and returns a partial result (``simulate``)
raises :class:`Cancelled` from the command to end the same way, with a detail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

GRACE_S = 1.0
"""Seconds a command gets after Ctrl-C to stop by itself before the process is ended."""

EXIT_STATUS = 130  # 128 + SIGINT, what shells report for a process ended by Ctrl-C


class Cancelled(KeyboardInterrupt):
    """The command stopped on Ctrl-C; ``str()`` is a detail for the one line (may be empty)."""


_lock = threading.Lock()
_announced = False
_hard_exit_callbacks: list[Callable[[], None]] = []
_grace_s = [GRACE_S]  # the grace of the block in force; set_grace changes it


def cancel_line(detail: str = "") -> str:
    """The one line a cancelled command prints."""
    tail = f" ({detail})" if detail else ""
    return f"longtail: cancelled{tail}; what was saved before Ctrl-C is kept"


def announce(detail: str = "", *, line: str | None = None) -> None:
    """Print the cancel line (or ``line``, a command's own words) on stderr, once per
    process whoever asks first: the watcher never adds a second line after it."""
    global _announced
    with _lock:
        if _announced:
            return
        _announced = True
    try:
        sys.stderr.write((line if line is not None else cancel_line(detail)) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def set_grace(seconds: float) -> None:
    """Give the running command ``seconds`` after Ctrl-C to stop by itself instead of
    :data:`GRACE_S` (read when Ctrl-C comes). For work that stops cleanly at its next
    step and needs longer than a second to get there, e.g. training finishing an
    iteration and writing its checkpoint; keep it short, the user is waiting."""
    _grace_s[0] = float(seconds)


def on_hard_exit(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` (briefly!) before the process is ended after the grace period.
    Returns a function that unregisters it."""
    _hard_exit_callbacks.append(callback)

    def remove() -> None:
        if callback in _hard_exit_callbacks:
            _hard_exit_callbacks.remove(callback)

    return remove


def _hard_exit() -> None:
    for callback in list(_hard_exit_callbacks):
        with contextlib.suppress(Exception):  # nothing may stop the exit
            callback()
    announce()
    exit_now(EXIT_STATUS)


def exit_now(status: int) -> NoReturn:
    """End the process at once with ``status``, standard output and error flushed, and
    no interpreter teardown (which can take seconds, or hang on a thread in native code)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


@contextmanager
def handling_interrupts(grace_s: float = GRACE_S) -> Iterator[None]:
    """Within the block, Ctrl-C raises KeyboardInterrupt as usual, and ends the process
    (status 130, one line) if the block has not ended ``grace_s`` seconds later.

    Outside the main thread, or where a wake-up fd is already set (an event loop's),
    the block runs with Python's usual handling only.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    try:
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:
        os.close(read_fd)
        os.close(write_fd)
        yield
        return
    if previous_fd != -1:  # someone else listens: leave them be
        signal.set_wakeup_fd(previous_fd)
        os.close(read_fd)
        os.close(write_fd)
        yield
        return
    previous_handler = signal.getsignal(signal.SIGINT)
    if previous_handler in (signal.SIG_DFL, signal.SIG_IGN, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _grace_s[0] = grace_s
    watcher = threading.Thread(target=_watch, args=(read_fd,), name="ctrl-c watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(-1)
        if previous_handler in (signal.SIG_DFL, signal.SIG_IGN):
            signal.signal(signal.SIGINT, previous_handler)
        os.write(write_fd, _STOP)  # wakes the watcher: closing the pipe would not
        watcher.join(timeout=1.0)
        os.close(write_fd)
        os.close(read_fd)


_STOP = b"\0"  # no signal has number 0


def _watch(read_fd: int) -> None:
    """Wait for SIGINT on the wake-up pipe; after the grace period, end the process.

    Once Ctrl-C has come, the deadline stands even after the block ends: the process
    must still exit, and exiting can wait too (on threads a pool is joining).
    """
    interrupts = 0
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        interrupts += data.count(signal.SIGINT)
        if interrupts >= 2:
            _hard_exit()
        if interrupts == 1 and signal.SIGINT in data:
            threading.Thread(
                target=_deadline, args=(_grace_s[0],), name="ctrl-c deadline", daemon=True
            ).start()
        if not data or _STOP in data:
            return


def _deadline(grace_s: float) -> None:
    time.sleep(grace_s)
    _hard_exit()

"""JSON in and out: orjson for speed, atomic writes so a crash never leaves half a file."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from ..outputs import write_output


class JSONReadError(ValueError):
    """A file that cannot be read as JSON; the message says where and why."""


def load_json(path: Path) -> Any:
    """The document in ``path``. JSONReadError for a missing, unreadable or malformed file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise JSONReadError("file not found") from exc
    except IsADirectoryError as exc:
        raise JSONReadError("is a folder, not a JSON file") from exc
    except OSError as exc:
        raise JSONReadError(f"cannot be read ({exc.strerror or exc})") from exc
    if len(data) >= LARGE and _plain_json(data):
        # A large file: the standard library's parser peaks about a third lower than
        # orjson's (which holds a parsed tree beside the objects it builds), at about
        # the same CPU with the cycle collector paused. It accepts more than orjson
        # (NaN, numbers orjson reads as floats or refuses, lone surrogates, deeper
        # nesting), so it is used only on text where the two give the same objects;
        # anything it does not read is left to orjson, whose reading and words count.
        try:
            text: str | None = data.decode("utf-8", "strict")
        except UnicodeDecodeError:
            text = None  # orjson says where
        if text is not None:
            del data  # the text is the copy that parsing needs
            try:
                return json.loads(text, parse_constant=_refuse_constant)
            except (ValueError, RecursionError):
                pass
            data = text.encode("utf-8")
            del text
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JSONReadError(f"not valid JSON: {_describe(exc, data)}") from exc


# Files at least this large (bytes) are read by the standard library where it reads
# them as orjson does (load_json).
LARGE = 32 * 2**20
# Digits read as "0" and an exponent's "E" as "e": one search finds a digit followed by
# an exponent in either case (a search is a pass over the text: 0.25 s at 200 MiB).
_DIGITS = bytes.maketrans(b"123456789E", b"000000000e")
_SCAN = 1 << 24  # bytes scanned at a time


def _plain_json(data: bytes) -> bool:
    """No escaped character (``\\u``), no run of 19 digits (integers orjson reads as
    floats, long mantissas), no digit followed by an exponent (a float that may
    overflow): text both parsers read alike. A few passes at C speed."""
    if data.startswith(b"\xef\xbb\xbf") or sys.getrecursionlimit() > 1000:
        return False
    if b"\\" in data and b"\\u" in data:  # a lone byte is found by memchr, a pair is not
        return False
    for start in range(0, len(data), _SCAN):
        chunk = data[start : start + _SCAN + 32].translate(_DIGITS)
        if b"0" * 19 in chunk or b"0e" in chunk:
            return False
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # orjson says where


def _describe(exc: orjson.JSONDecodeError, data: bytes) -> str:
    """orjson's reason with the line and column it gives (or can be worked out)."""
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if line is None and getattr(exc, "pos", None) is not None:
        before = data[: exc.pos]
        line = before.count(b"\n") + 1
        column = exc.pos - (before.rfind(b"\n") + 1) + 1
    reason = getattr(exc, "msg", None) or str(exc)
    return f"{reason} (line {line}, column {column})" if line is not None else reason


def dump_json(document: Any) -> bytes:
    """Compact JSON bytes; the same document always gives the same bytes."""
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Readers see the old file or the new one, never a part; the old one stays if
    anything fails on the way. The path is checked and written by
    :func:`pipeline.outputs.write_output` (no folders, devices, FIFOs or database files).
    """
    write_output(path, data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a large document is built or read.

    A COCO/LVIS file becomes millions of lists and dicts; each full collection would
    walk them all, again and again, though they hold no reference cycles. Pausing it
    makes reading an LVIS-sized file several times faster; it resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

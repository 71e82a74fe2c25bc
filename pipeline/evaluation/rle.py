"""Vectorised reading of COCO compressed RLE strings (no pycocotools round trip).

pycocotools parses one RLE string at a time; checking and measuring the hundreds of
thousands of masks of an LVIS-sized result file that way dominates the evaluation.
Here all strings are decoded together with numpy. The decoding follows pycocotools'
``rleFrString`` exactly: each count is a little-endian group of 5-bit chunks (char
minus 48, bit 0x20 = more chunks follow, bit 0x10 of the last chunk = negative), and
counts after the third are stored as the difference to the count two places back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Counts are at most h*w; six 5-bit chunks (30 bits with the sign) are plenty, and
# pycocotools' C decoder overflows beyond that.
MAX_CHUNKS = 6
CHUNK = 20_000  # strings decoded per numpy batch (bounds temporary memory)


@dataclass(frozen=True)
class RleSummary:
    """Per string: foreground pixels, all pixels covered, and whether it decoded."""

    area: np.ndarray  # int64
    total: np.ndarray  # int64
    well_formed: np.ndarray  # bool: valid characters, whole numbers, none overlong or negative


def summarize_counts(counts: Sequence[str | bytes]) -> RleSummary:
    """Area (foreground pixels) and covered pixels of each compressed RLE string."""
    n = len(counts)
    area = np.zeros(n, dtype=np.int64)
    total = np.zeros(n, dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    for start in range(0, n, CHUNK):
        part = counts[start : start + CHUNK]
        a, t, o = _summarize_chunk(part)
        area[start : start + len(part)] = a
        total[start : start + len(part)] = t
        ok[start : start + len(part)] = o
    return RleSummary(area, total, ok)


def _join(part: Sequence[Any]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """All strings as one ASCII buffer, their lengths, and which could not be encoded
    (``part`` is what a file gave as "counts": strings, bytes or anything else)."""
    n = len(part)
    unreadable = np.zeros(n, dtype=bool)
    try:
        buf = "".join(part).encode("ascii")
        lengths = np.fromiter(map(len, part), dtype=np.int64, count=n)
        return buf, lengths, unreadable
    except (TypeError, UnicodeEncodeError):
        pass
    pieces = []
    for i, p in enumerate(part):
        try:
            pieces.append(p.encode("ascii") if isinstance(p, str) else bytes(p))
        except (UnicodeEncodeError, TypeError, ValueError):
            unreadable[i] = True
            pieces.append(b"")
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=n)
    return b"".join(pieces), lengths, unreadable


def _summarize_chunk(part: Sequence[str | bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(part)
    buf, lengths, unreadable = _join(part)
    ok = ~unreadable
    if len(buf) == 0:
        return np.zeros(n, np.int64), np.zeros(n, np.int64), ok
    ends_at = np.cumsum(lengths)  # exclusive end offset of each string
    v = np.frombuffer(buf, dtype=np.uint8) - np.uint8(48)  # below '0' wraps to >= 208
    bad_char = v > 63
    if bad_char.any():
        ok[np.searchsorted(ends_at, np.flatnonzero(bad_char), side="right")] = False
    last = (v & 32) == 0  # the last chunk of a number
    # A string must end on the last chunk of a number; cut numbers at string ends
    # anyway so that one bad string cannot spill into the next.
    nonempty = lengths > 0
    string_last = ends_at[nonempty] - 1
    ok[nonempty] &= last[string_last]
    last[string_last] = True
    number_end = np.flatnonzero(last)
    number_start = np.empty_like(number_end)
    number_start[0] = 0
    number_start[1:] = number_end[:-1] + 1
    chunks = number_end - number_start + 1
    overlong = chunks > MAX_CHUNKS
    if overlong.any():
        ok[np.searchsorted(ends_at, number_end[overlong], side="right")] = False
        chunks = np.minimum(chunks, MAX_CHUNKS)
    x = (v[number_start] & 31).astype(np.int64)
    for k in range(1, MAX_CHUNKS):
        more = np.flatnonzero(chunks > k)
        if not len(more):
            break
        x[more] += (v[number_start[more] + k] & 31).astype(np.int64) << (5 * k)
    negative = np.flatnonzero(v[number_end] & 16)
    x[negative] -= np.left_shift(np.int64(1), 5 * chunks[negative])
    # Numbers per string; number j of a string of m numbers is stored as the
    # difference to count j-2 (j > 2), so it adds to counts j, j+2, ... < m: that is
    # (m - 1 - j) // 2 + 1 times; number 0 only to count 0.
    per_string = np.diff(np.searchsorted(number_end, ends_at, side="left"), prepend=0)
    first = np.cumsum(per_string) - per_string
    idx = np.arange(len(x), dtype=np.int64)
    end_rep = np.repeat(first + per_string, per_string)
    weight = (end_rep - 1 - idx) // 2 + 1
    has = per_string > 0
    weight[first[has]] = 1
    y = x * weight
    position = idx - np.repeat(first, per_string)
    odd = position & 1
    ok[_strings_with_negative_counts(x, position, np.repeat(np.arange(n), per_string))] = False
    total = np.zeros(n, dtype=np.int64)
    area = np.zeros(n, dtype=np.int64)
    if has.any():
        total[has] = np.add.reduceat(y, first[has])
        area[has] = np.add.reduceat(y * odd, first[has])
    return area, total, ok


def _strings_with_negative_counts(
    x: np.ndarray, position: np.ndarray, string: np.ndarray
) -> np.ndarray:
    """The strings with a count below zero once the differences are added up.

    pycocotools keeps counts unsigned: a negative one becomes a run of ~4 billion
    pixels that its decoder writes past the end of the mask. Count j (j > 2) is
    number j plus count j - 2, so counts are running sums over three chains per
    string: number 0 alone, the odd positions, and the even positions from 2 on.
    """
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    chain = np.where(position == 0, 0, np.where(position & 1, 1, 2))
    key = string * 3 + chain
    order = np.argsort(key, kind="stable")
    values, keys = x[order], key[order]
    running = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    before = running[starts] - values[starts]
    counts = running - np.repeat(before, np.diff(np.r_[starts, len(keys)]))
    return np.unique(keys[counts < 0] // 3)


def structurally_valid(counts: Sequence[str | bytes]) -> np.ndarray:
    """A cheap check of every string: legal characters and a complete last number.

    :func:`summarize_counts` decodes fully (and so also checks that the counts cover
    the image); this only looks at the characters, for the masks whose pixels the
    evaluation never reads.
    """
    n = len(counts)
    ok = np.ones(n, dtype=bool)
    for start in range(0, n, CHUNK * 10):
        part = counts[start : start + CHUNK * 10]
        buf, lengths, unreadable = _join(part)
        good = ~unreadable & (lengths > 0)  # an empty string covers no pixel
        if len(buf):
            ends_at = np.cumsum(lengths)
            v = np.frombuffer(buf, dtype=np.uint8)
            bad = (v < 48) | (v > 111)
            if bad.any():
                good[np.searchsorted(ends_at, np.flatnonzero(bad), side="right")] = False
            nonempty = lengths > 0
            good[nonempty] &= ((v[ends_at[nonempty] - 1] - 48) & 32) == 0
        ok[start : start + len(part)] = good
    return ok

"""The stored byte layout of a polygon mask: the one place that writes and reads it.

A polygon mask is stored (``segments.mask`` with ``mask_kind = 'polygon'``) as a
little-endian uint32 header followed by float64 coordinates::

    n_words, n_parts, (n_rings, points of ring 0, points of ring 1, ...) per part
    x0, y0, x1, y1, ...      every ring of every part, in order, as float64 pairs

``n_words`` counts the header's words including itself; ring 0 of a part is its
exterior, the others its holes. :meth:`geometry.Mask.to_bytes` and
:meth:`~geometry.Mask.from_bytes` use :func:`pack` and :func:`unpack`; the bulk
importer (``formats/masks.py``) writes headers with :func:`simple_header` and the
exporter reads hole-free masks with :func:`flat_parts_without_holes`, both without
building a Mask.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

WORD = "<u4"
COORD = "<f8"


def pack(parts: Sequence[Sequence[np.ndarray]]) -> bytes:
    """The stored bytes of ``parts``, each a sequence of ``(N, 2)`` rings (exterior first)."""
    header = [len(parts)]
    for rings in parts:
        header.append(len(rings))
        header.extend(len(ring) for ring in rings)
    head = np.asarray([len(header) + 1, *header], dtype=WORD).tobytes()
    coords = np.concatenate([ring for rings in parts for ring in rings])
    return head + np.ascontiguousarray(coords, dtype=COORD).tobytes()


def simple_header(ring_points: Sequence[int]) -> bytes:
    """The header of a mask whose parts are single rings (no holes) of these point counts;
    the coordinates follow it as float64 pairs."""
    count = len(ring_points)
    words = [2 * count + 2, count]
    for points in ring_points:
        words += (1, points)
    return struct.pack(f"<{len(words)}I", *words)


def unpack(data: bytes) -> list[list[np.ndarray]]:
    """The inverse of :func:`pack`: per part, its rings as ``(N, 2)`` float64 arrays."""
    n_words = int(np.frombuffer(data, dtype=WORD, count=1)[0])
    header = np.frombuffer(data, dtype=WORD, count=n_words)[1:].tolist()
    coords = np.frombuffer(data, dtype=COORD, offset=4 * n_words).reshape(-1, 2)
    parts, at, start = [], 1, 0
    for _ in range(header[0]):
        n_rings = header[at]
        lengths = header[at + 1 : at + 1 + n_rings]
        at += 1 + n_rings
        rings = []
        for n in lengths:
            rings.append(coords[start : start + n])
            start += n
        parts.append(rings)
    return parts


def flat_parts_without_holes(data: bytes) -> list[list[float]] | None:
    """The parts as COCO flat polygons when no part has a hole, else None (cheap: no
    Mask is built, which matters when a million polygons are exported)."""
    n_words = int.from_bytes(data[:4], "little")
    header = struct.unpack_from(f"<{n_words - 1}I", data, 4)
    n_parts = header[0]
    if n_words != 2 * n_parts + 2:  # some part has more than one ring
        return None
    coords = np.frombuffer(data, COORD, offset=4 * n_words).tolist()
    if n_parts == 1:
        return [coords]
    parts, at = [], 0
    for points in header[2::2]:
        parts.append(coords[at : at + 2 * points])
        at += 2 * points
    return parts

"""Drawing a mask with QPainter: its outline as a path (polygon rings, or the contours of
an RLE), for views that paint crops directly instead of using a canvas scene."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPolygonF

from pipeline.geometry import Mask

# Distinct, saturated colours that read on photos; picked by a stable index.
PALETTE = (
    "#ff3b30",
    "#34c759",
    "#0a84ff",
    "#ffcc00",
    "#af52de",
    "#ff9500",
    "#5ac8fa",
    "#ff2d55",
)


def palette_color(index: int) -> QColor:
    return QColor(PALETTE[index % len(PALETTE)])


def mask_path(mask: Mask, window: tuple[int, int, int, int] | None = None) -> QPainterPath:
    """The mask's outline in image coordinates (holes cut out: odd-even fill).

    ``window`` (x, y, w, h) limits the contour tracing of an RLE mask to that region,
    so a crop of a large image decodes only what it shows.
    """
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    if mask.parts is not None:
        for part in mask.parts:
            for ring in part.rings:
                path.addPolygon(_polygon(ring))
                path.closeSubpath()
        return path
    bitmap = mask.to_bitmap()
    x0 = y0 = 0
    if window is not None:
        x, y, w, h = window
        x0, y0 = max(0, int(x)), max(0, int(y))
        bitmap = bitmap[y0 : max(y0, int(y + h)), x0 : max(x0, int(x + w))]
    contours, _ = cv2.findContours(
        np.ascontiguousarray(bitmap), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE
    )
    for contour in contours:
        ring = contour.reshape(-1, 2).astype(np.float64) + (x0 + 0.5, y0 + 0.5)
        if len(ring) >= 2:
            path.addPolygon(_polygon(ring))
            path.closeSubpath()
    return path


def _polygon(ring: np.ndarray) -> QPolygonF:
    return QPolygonF([QPointF(float(x), float(y)) for x, y in ring])

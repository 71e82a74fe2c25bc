"""The one item that draws what the active tool is in the middle of.

A polygon's clicked vertices and its rubber band, a box being dragged, a brush stroke
and the brush's outline under the mouse: the tools describe these (``app.gui.tools.base``
previews) and this item draws them, above everything, at screen-sized line widths.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from app.gui.tools.base import BoxPreview, BrushCursor, PolylinePreview, StrokePreview

ADD = QColor("#ffd400")
CUT = QColor("#ff3b30")
HANDLE_PX = 7.0


class PreviewItem(QGraphicsItem):
    def __init__(self) -> None:
        super().__init__()
        self.setZValue(1000)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._preview: object | None = None
        self._rect = QRectF()
        self._scale = 1.0

    def set_view_scale(self, scale: float) -> None:
        if scale != self._scale:
            self.prepareGeometryChange()
            self._scale = scale
            self._rect = self._bounds()

    def set_preview(self, preview: object | None) -> None:
        self.prepareGeometryChange()
        self._preview = preview
        self._rect = self._bounds()
        self.update()

    @property
    def preview(self) -> object | None:
        return self._preview

    def _px(self, device_px: float) -> float:
        return device_px / max(self._scale, 1e-6)

    def _bounds(self) -> QRectF:
        p = self._preview
        pad = self._px(HANDLE_PX + 4)
        if isinstance(p, PolylinePreview):
            pts = list(p.points) + ([p.cursor] if p.cursor else [])
        elif isinstance(p, BoxPreview):
            x, y, w, h = p.box
            pts = [(x, y), (x + w, y + h)]
        elif isinstance(p, StrokePreview):
            pts, pad = list(p.points), p.radius + pad
        elif isinstance(p, BrushCursor):
            pts, pad = [p.point], p.radius + pad
        else:
            return QRectF()
        xs = [q[0] for q in pts]
        ys = [q[1] for q in pts]
        return QRectF(
            min(xs) - pad, min(ys) - pad, max(xs) - min(xs) + 2 * pad, max(ys) - min(ys) + 2 * pad
        )

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        return self._rect

    def _pen(self, color: QColor, width: float, style=Qt.PenStyle.SolidLine) -> QPen:
        pen = QPen(color, width, style)
        pen.setCosmetic(True)
        return pen

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        p = self._preview
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if isinstance(p, PolylinePreview):
            self._paint_polyline(painter, p)
        elif isinstance(p, BoxPreview):
            painter.setPen(self._pen(QColor("black"), 3.0))
            painter.drawRect(QRectF(*p.box))
            painter.setPen(self._pen(ADD, 1.5, Qt.PenStyle.DashLine))
            painter.drawRect(QRectF(*p.box))
        elif isinstance(p, StrokePreview):
            color = QColor(CUT if p.erase else ADD)
            color.setAlpha(110)
            pen = QPen(
                color,
                2 * p.radius,
                Qt.PenStyle.SolidLine,
                Qt.PenCapStyle.RoundCap,
                Qt.PenJoinStyle.RoundJoin,
            )
            painter.setPen(pen)
            path = QPainterPath(QPointF(*p.points[0]))
            for x, y in p.points[1:]:
                path.lineTo(x, y)
            if len(p.points) == 1:
                path.lineTo(p.points[0][0] + 1e-3, p.points[0][1])
            painter.drawPath(path)
        elif isinstance(p, BrushCursor):
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(self._pen(QColor("black"), 3.0))
            painter.drawEllipse(QPointF(*p.point), p.radius, p.radius)
            painter.setPen(self._pen(CUT if p.erase else QColor("white"), 1.5))
            painter.drawEllipse(QPointF(*p.point), p.radius, p.radius)

    def _paint_polyline(self, painter: QPainter, p: PolylinePreview) -> None:
        color = CUT if p.hole else ADD
        points = [QPointF(*q) for q in p.points]
        path = QPainterPath(points[0])
        for q in points[1:]:
            path.lineTo(q)
        if len(points) >= 3:
            fill = QColor(color)
            fill.setAlpha(50)
            closed = QPainterPath(path)
            closed.closeSubpath()
            painter.fillPath(closed, fill)
        painter.setPen(self._pen(QColor(0, 0, 0, 200), 3.5))
        painter.drawPath(path)
        painter.setPen(self._pen(color, 2.0))
        painter.drawPath(path)
        if p.cursor is not None:
            painter.setPen(self._pen(color, 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(points[-1], QPointF(*p.cursor))
        half = self._px(HANDLE_PX / 2)
        painter.setPen(self._pen(QColor("black"), 1.2))
        painter.setBrush(QColor("white"))
        painter.drawRects([QRectF(q.x() - half, q.y() - half, 2 * half, 2 * half) for q in points])
        # The first vertex is larger (and filled when the next click would close there).
        painter.setBrush(color if p.closable else QColor("white"))
        first = points[0]
        painter.drawEllipse(first, 1.6 * half, 1.6 * half)


__all__ = ["PreviewItem"]

"""The static masks of one view as a raster at the view's zoom, rendered off the GUI thread.

A :class:`MaskLayer` is an ARGB image of the static masks (the scene's baked masks) at
one scale, covering the viewport plus a margin, on the device pixel grid: its pixel
``(i, j)`` is the scaled scene point ``origin + (i, j)``. The view's background draws
from it:

- at the layer's scale, a blit of whole pixels (the same pixels a direct draw gives);
- at another scale (during a zoom), the layer scaled, a little blurry, for the moment
  until the view has settled and a new layer at the exact scale has been rendered. A
  layer from the worker also carries an opaque *snapshot* (the image's preview with the
  masks over it), so that this quick look is one opaque scaled draw, not two blended.

New layers are rendered by :class:`LayerRenderer` on a worker thread (QPainter on a
QImage is allowed there; QPixmap is not), from a snapshot of the masks' looks
(:class:`app.gui.canvas.items.MaskLook`) taken on the GUI thread. Small repairs (a mask
edited, the view panned past the layer) are rendered on the GUI thread into the layer.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QRegion, QTransform

from .items import MaskLook, paint_look

MARGIN = 0.25  # of the viewport's size, on each side: a pan or a zoom-out step stays inside
LABEL_PAD_PX = 160.0  # how far a label tag may reach beyond its mask, in device px


@dataclass
class MaskLayer:
    """The static masks at ``scale`` device px per image px (see the module doc)."""

    image: QImage
    scale: float
    origin: QPoint  # scaled-scene coords of pixel (0, 0)
    valid: QRegion = field(default_factory=QRegion)  # layer pixels that are up to date
    snapshot: QImage | None = None  # opaque: the image with the masks (the quick look)

    @property
    def pixel_rect(self) -> QRect:
        return QRect(QPoint(0, 0), self.image.size())

    def scene_rect(self) -> QRectF:
        """The part of the scene the layer covers, in image coordinates."""
        s = self.scale
        return QRectF(
            self.origin.x() / s,
            self.origin.y() / s,
            self.image.width() / s,
            self.image.height() / s,
        )

    def to_layer_px(self, device: QRect, offset: QPoint) -> QRect:
        """A device rect as layer pixels; ``offset`` = the device position of the
        scaled scene origin (the painter's translation)."""
        return device.translated(-offset.x() - self.origin.x(), -offset.y() - self.origin.y())

    def invalidate(self, scene_rect: QRectF) -> None:
        """Mark the layer pixels under ``scene_rect`` (image coords) out of date."""
        s = self.scale
        px = QRectF(
            scene_rect.x() * s - self.origin.x(),
            scene_rect.y() * s - self.origin.y(),
            scene_rect.width() * s,
            scene_rect.height() * s,
        ).toAlignedRect()
        self.valid -= QRegion(px.adjusted(-2, -2, 2, 2))

    def repair(self, px: QRect, paint_masks) -> None:
        """Render the out-of-date pixels of ``px`` (layer pixels) on this thread;
        ``paint_masks(painter, scene_rect)`` draws the masks in a scene rect."""
        missing = QRegion(px.intersected(self.pixel_rect)) - self.valid
        if missing.isEmpty():
            return
        self.snapshot = None  # it would show the masks as they were
        painter = QPainter(self.image)
        transform = QTransform.fromTranslate(-self.origin.x(), -self.origin.y()).scale(
            self.scale, self.scale
        )
        inverse, _ = transform.inverted()
        for rect in missing:
            painter.save()
            painter.setClipRect(rect)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.fillRect(rect, Qt.GlobalColor.transparent)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
            painter.setTransform(transform)
            paint_masks(painter, inverse.mapRect(QRectF(rect)))
            painter.restore()
        painter.end()
        self.valid += missing

    def blit(self, painter: QPainter, device: QRect, px: QRect, dpr: float) -> None:
        """Copy layer pixels ``px`` to ``device`` (device pixels of ``painter``)."""
        painter.save()
        painter.setWorldTransform(QTransform.fromScale(1.0 / dpr, 1.0 / dpr))
        painter.drawImage(device.topLeft(), self.image, px)
        painter.restore()

    def draw_scaled(self, painter: QPainter, *, snapshot: bool = False) -> None:
        """The layer at the painter's (other) scale: the zoom's quick look; with
        ``snapshot``, the opaque snapshot (image included) instead of the masks alone."""
        painter.save()
        # Enlarged, nearest pixels (half the cost of bilinear, and crisp enough for the
        # moment it shows); shrunk, smoothed, or thin outlines would break up.
        shrinking = painter.deviceTransform().m11() < self.scale
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, shrinking)
        image = self.snapshot if snapshot and self.snapshot is not None else self.image
        painter.drawImage(self.scene_rect(), image)
        painter.restore()


@dataclass
class LayerJob:
    """What a worker renders: the looks at ``scale`` into ``size`` pixels at ``origin``,
    and optionally the image's smoothed copy for this zoom (``fitted``)."""

    id: int
    scale: float
    origin: QPoint
    size: QSize
    looks: list[MaskLook]
    fitted: tuple[QImage, QSize] | None = None
    fitted_scale: float = 0.0  # the image's level of detail the fitted copy is for
    backdrop: tuple[QImage, QRectF, QColor] | None = None  # preview, its rect, canvas colour
    dirty: list[QRectF] = field(default_factory=list)  # scene rects edited meanwhile
    cancelled: bool = False


@dataclass
class LayerResult:
    job: LayerJob
    image: QImage
    fitted: QImage | None
    render_ms: float = 0.0  # the worker's time (wall clock)
    snapshot: QImage | None = None


def render_layer(job: LayerJob) -> LayerResult | None:
    """Render ``job`` (any thread); None when it was cancelled meanwhile."""
    start = time.perf_counter()
    image = QImage(job.size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    s = job.scale
    visible = QRectF(
        job.origin.x() / s, job.origin.y() / s, job.size.width() / s, job.size.height() / s
    )
    label_pad = LABEL_PAD_PX / s
    edge = 3.0 / s  # the outline reaches past the shape by half its width
    painter = QPainter(image)
    painter.translate(-job.origin.x(), -job.origin.y())
    painter.scale(s, s)
    for look in job.looks:
        if job.cancelled:
            painter.end()
            return None
        pad = label_pad if look.label else edge
        reach = look.shape_rect.adjusted(-pad, -pad, pad, pad)
        if not reach.intersects(visible):
            continue
        # A thread's own copy of the path: Qt caches a path's rasteriser input in the
        # path itself, which the GUI thread may be filling in at the same moment.
        own = QPainterPath()
        own.addPath(look.path)
        own.setFillRule(look.path.fillRule())
        paint_look(painter, look, s, path=own)
    painter.end()
    snapshot = None
    if job.backdrop is not None:
        preview, rect, canvas = job.backdrop
        snapshot = QImage(job.size, QImage.Format.Format_RGB32)
        snapshot.fill(canvas)
        painter = QPainter(snapshot)
        painter.translate(-job.origin.x(), -job.origin.y())
        painter.scale(s, s)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, s < 1.0)
        painter.drawImage(rect, preview)
        painter.resetTransform()
        painter.drawImage(0, 0, image)
        painter.end()
    fitted = None
    if job.fitted is not None:
        source, size = job.fitted
        fitted = source.scaled(
            size,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        ).convertToFormat(QImage.Format.Format_RGB32)
    if job.cancelled:
        return None
    return LayerResult(job, image, fitted, (time.perf_counter() - start) * 1000, snapshot)


class LayerRenderer(QObject):
    """Runs one :class:`LayerJob` at a time on a worker thread; ``rendered`` brings the
    result back to the GUI thread. A new job cancels the one in flight."""

    rendered = Signal(object)  # LayerResult

    _ids = itertools.count(1)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.current: LayerJob | None = None

    def next_id(self) -> int:
        return next(self._ids)

    def start(self, job: LayerJob) -> None:
        self.cancel()
        self.current = job
        threading.Thread(target=self._run, args=(job,), daemon=True, name="mask-layer").start()

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancelled = True
            self.current = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    def _run(self, job: LayerJob) -> None:
        result = render_layer(job)
        if result is None:
            return
        with contextlib.suppress(RuntimeError):  # the view was closed meanwhile
            self.rendered.emit(result)


__all__ = ["LayerJob", "LayerRenderer", "LayerResult", "MaskLayer", "render_layer"]

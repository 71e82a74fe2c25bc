"""The static masks of one view as a raster at the view's zoom, rendered in pieces.

A :class:`MaskLayer` is an ARGB image of the static masks (the scene's baked masks) at
one scale, covering the viewport plus a margin, on the device pixel grid: its pixel
``(i, j)`` is the scaled scene point ``origin + (i, j)``. The view's background draws
from it:

- at the layer's scale, a blit of whole pixels (the same pixels a direct draw gives);
- at another scale (during a zoom), the layer scaled, a little blurry, for the moment
  until the view has settled and a new layer at the exact scale has been rendered. A
  layer from ``LayerRenderer`` also carries an opaque *snapshot* (the image's preview with the
  masks over it), so that this quick look is one opaque scaled draw, not two blended.

New layers are rendered by :class:`LayerRenderer` in pieces of at most ``PIECE_MS`` on
the GUI thread, between events, from the masks' looks
(:class:`app.gui.canvas.items.MaskLook`) as they were when it started (an edit meanwhile
marks its rect out of date). The image's smoothed copy for the new zoom is made by
OpenCV on a plain thread meanwhile. Not a painting thread: PySide holds the GIL inside
every QPainter call, so a thread painting masks stalls the GUI thread for up to the
interpreter's switch interval at each step (13 ms gaps measured), and a process that
exits while such a thread paints hangs (the thread waits in Qt's raster engine for Qt's
thread pool, holding the GIL that the exiting main thread waits for). Small repairs (a
mask edited, the view panned past the layer) are rendered into the layer at once.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QRegion, QTransform

from .items import MaskLook, paint_look, paint_look_label
from .tiles import qimage_from_rgb

LABEL_PAD_PX = 160.0  # how far a label tag may reach beyond its mask, in device px
PIECE_MS = 5.0  # the longest piece of a render between two turns of the event loop
BAND = 256  # rows of a fresh layer (or snapshot) cleared or drawn in one step
WAITING = "waiting"  # what render_steps yields while only the image's thread has work


@dataclass
class MaskLayer:
    """The static masks at ``scale`` device px per image px (see the module doc)."""

    image: QImage
    scale: float
    origin: QPoint  # scaled-scene coords of pixel (0, 0)
    valid: QRegion = field(default_factory=QRegion)  # layer pixels that are up to date
    snapshot: QImage | None = None  # opaque: the image with the masks (the quick look)
    painted: bool = False  # whether any mask was drawn into it (else a blit is a no-op)

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
        for rect in missing:  # type: ignore[attr-defined]  # the stub omits QRegion's sequence protocol
            painter.save()
            painter.setClipRect(rect)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.fillRect(rect, Qt.GlobalColor.transparent)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
            painter.setTransform(transform)
            if paint_masks(painter, inverse.mapRect(QRectF(rect))):
                self.painted = True
            painter.restore()
        painter.end()
        self.valid += missing

    def blit(self, painter: QPainter, device: QRect, px: QRect, dpr: float) -> None:
        """Copy layer pixels ``px`` to ``device`` (device pixels of ``painter``)."""
        if not self.painted:
            return  # transparent: blending it would change nothing
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
    """What to render: the looks at ``scale`` into ``size`` pixels at ``origin``; the
    opaque snapshot over the image's ``backdrop``; and, with ``fitted``, the image's
    smoothed copy for this zoom."""

    id: int
    scale: float
    origin: QPoint
    size: QSize
    looks: list[MaskLook]
    fitted: tuple[np.ndarray, QSize] | None = None  # the preview's pixels, the size wanted
    fitted_scale: float = 0.0  # the image's level of detail the fitted copy is for
    backdrop: tuple[QPixmap, QRectF, QColor] | None = None  # preview, its rect, canvas colour
    prepare: list[Callable[[], object]] = field(default_factory=list)  # one step each
    dirty: list[QRectF] = field(default_factory=list)  # scene rects edited meanwhile
    cancelled: bool = False


@dataclass
class LayerResult:
    job: LayerJob
    image: QImage
    fitted: QImage | None
    render_ms: float = 0.0  # from the start to the end of the render (wall clock)
    snapshot: QImage | None = None
    painted: bool = False  # whether any mask was drawn


def _fit(pixels: np.ndarray, size: QSize) -> np.ndarray:
    # Area averaging (like Qt's smooth scaling); OpenCV releases the GIL meanwhile.
    return cv2.resize(pixels, (size.width(), size.height()), interpolation=cv2.INTER_AREA)


def render_steps(job: LayerJob) -> Generator[str | None, None, LayerResult]:
    """Render ``job`` one mask at a time: yields between masks (and between the other
    steps) so that a caller can share the thread, ``WAITING`` while only the image's
    thread has work; returns the result."""
    start = time.perf_counter()
    fitted: list[np.ndarray] = []
    helper = None
    if job.fitted is not None:
        pixels, size = job.fitted
        # Not a daemon: a process exiting meanwhile waits the few ms for it, rather
        # than killing OpenCV's threads mid-resize (std::terminate).
        helper = threading.Thread(
            target=lambda: fitted.append(_fit(pixels, size)), daemon=False, name="image-fit"
        )
        helper.start()
    image = QImage(job.size, QImage.Format.Format_ARGB32_Premultiplied)
    bands = [QRect(0, y, job.size.width(), BAND) for y in range(0, job.size.height(), BAND)]
    s = job.scale
    visible = QRectF(
        job.origin.x() / s, job.origin.y() / s, job.size.width() / s, job.size.height() / s
    )
    label_pad = LABEL_PAD_PX / s
    edge = 3.0 / s  # the outline reaches past the shape by half its width
    painted = False
    painter = QPainter(image)
    try:
        # Cleared a band at a time: the first touch of a fresh 10 MB image is page
        # faults, several ms in one go.
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        for band in bands:
            painter.fillRect(band, Qt.GlobalColor.transparent)
            yield None
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        painter.translate(-job.origin.x(), -job.origin.y())
        painter.scale(s, s)
        labelled = []
        for look in job.looks:
            pad = label_pad if look.label else edge
            if look.shape_rect.adjusted(-pad, -pad, pad, pad).intersects(visible):
                paint_look(painter, look, s, label=False)
                painted = True
                if look.label:
                    labelled.append(look)
                yield None
        for look in labelled:  # over every mask: a later mask never covers a label
            paint_look_label(painter, look, s)
            yield None
    finally:
        painter.end()
    for make in job.prepare:  # the large image's tiles for this zoom, one a step
        yield None
        make()
    snapshot = None
    if job.backdrop is not None:
        yield None
        preview, rect, canvas = job.backdrop
        snapshot = QImage(job.size, QImage.Format.Format_RGB32)
        for rows in bands:  # in bands too: one whole scaled draw is a long step
            yield None
            painter = QPainter(snapshot)
            painter.fillRect(rows, canvas)
            painter.setClipRect(rows)
            painter.translate(-job.origin.x(), -job.origin.y())
            painter.scale(s, s)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, s < 1.0)
            painter.drawPixmap(rect, preview, QRectF(preview.rect()))
            painter.resetTransform()
            painter.drawImage(rows.topLeft(), image, rows)
            painter.end()
    fitted_image = None
    if helper is not None:
        while helper.is_alive():
            yield WAITING
        if fitted:
            yield None
            fitted_image = qimage_from_rgb(fitted[0])
    elapsed = (time.perf_counter() - start) * 1000
    return LayerResult(job, image, fitted_image, elapsed, snapshot, painted)


def render_layer(job: LayerJob) -> LayerResult:
    """Render ``job`` at once (``CanvasView.settle``)."""
    steps = render_steps(job)
    while True:
        try:
            if next(steps) == WAITING:
                time.sleep(0.001)
        except StopIteration as done:
            return done.value


class LayerRenderer(QObject):
    """Renders one :class:`LayerJob` at a time in pieces between events (see the module
    doc); ``rendered`` gives the result. A new job cancels the one in progress."""

    rendered = Signal(object)  # LayerResult

    _ids = itertools.count(1)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.current: LayerJob | None = None
        self._steps: Generator[str | None, None, LayerResult] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._piece)

    def next_id(self) -> int:
        return next(self._ids)

    def start(self, job: LayerJob) -> None:
        self.cancel()
        self.current = job
        self._steps = render_steps(job)
        self._timer.start(0)

    def cancel(self) -> None:
        self._timer.stop()
        if self._steps is not None:
            self._steps.close()  # ends its painter
            self._steps = None
        if self.current is not None:
            self.current.cancelled = True
            self.current = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    def _piece(self) -> None:
        if self._steps is None:
            self._timer.stop()
            return
        deadline = time.perf_counter() + PIECE_MS / 1000
        try:
            while time.perf_counter() < deadline:
                if next(self._steps) == WAITING:
                    self._timer.setInterval(2)  # not a busy wait: the thread needs the CPU
                    return
            self._timer.setInterval(0)
        except StopIteration as done:
            self._timer.stop()
            self._steps = None
            self.rendered.emit(done.value)


__all__ = [
    "LayerJob",
    "LayerRenderer",
    "LayerResult",
    "MaskLayer",
    "render_layer",
    "render_steps",
]

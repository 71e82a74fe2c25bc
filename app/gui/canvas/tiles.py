"""The image under the annotations: one item, a downsampled level first, tiles later.

A normal photo (up to ``TILED_ABOVE`` px a side) is one pixmap. A large one (8000 x 6000
and up) shows a preview first: a JPEG is decoded at 1/2, 1/4 or 1/8 of its size by
libjpeg's DCT scaling (PIL ``draft``), which is what makes the first paint fast; the
full pixels are decoded on a worker thread, and once they are there the item draws
full-resolution tiles (built on demand, kept in a small LRU) wherever the view zooms in
past the preview's resolution.

While the view zooms, ``draw(..., quick=True)`` scales the preview as it is (a few ms)
instead of making tiles or a smoothed copy at each step; once the zoom settles, the
view has the smoothed copy for the new zoom made on its worker (``fitted_request``,
``set_fitted``) and draws sharp again.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps
from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from pipeline.errors import ImageError
from pipeline.images import load_image

TILED_ABOVE = 4096  # px a side: larger images get a preview level and tiles
PREVIEW_SIDE = 2048  # the preview's longer side, at most
TILE = 512  # px a side of a full-resolution tile
TILE_CACHE = 96  # tiles kept (96 x 512 x 512 x 4 bytes ~ 100 MB at most)

ImageSource = str | os.PathLike | np.ndarray


def qimage_from_rgb(pixels: np.ndarray) -> QImage:
    """An RGB ``H x W x 3`` uint8 array as a QImage that owns its memory."""
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer


def read_preview(path: Path, side: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """A quickly decoded downsampled copy of a large image and its full (width, height),
    both as displayed (EXIF orientation applied)."""
    side = PREVIEW_SIDE if side is None else side
    try:
        with Image.open(path) as img:
            # JPEG only (a no-op for other formats): decode at 1/4 scale, ~16x less work.
            img.draft("RGB", (max(1, img.width // 4), max(1, img.height // 4)))
            oriented = ImageOps.exif_transpose(img)
            full = _displayed_size(path)
            oriented = oriented.convert("RGB")
            oriented.thumbnail((side, side), Image.Resampling.BILINEAR)
            return np.asarray(oriented), full
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot be read as an image ({exc})") from None


def _displayed_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        width, height = img.size
        orientation = img.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


class _Loader(QObject):
    """Carries the full pixels from the decoding thread back to the GUI thread."""

    loaded = Signal(object, object)  # (generation, np.ndarray) or (generation, Exception)


class ImageItem(QGraphicsItem):
    """The image, in image pixel coordinates: ``(0, 0)`` to ``(width, height)``."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setZValue(-1000)
        self.width = 0
        self.height = 0
        self._preview: QPixmap | None = None
        self._preview_pixels: np.ndarray | None = None  # the same pixels (for the fitted copy)
        self._preview_scale = 1.0  # preview px per image px
        self._full: np.ndarray | None = None
        self._tiles: OrderedDict[tuple[int, int, int], QPixmap] = OrderedDict()  # (level, col, row)
        self._generation = 0
        self._decode_pending: Path | None = None
        self._fitted: tuple[float, QPixmap] | None = None
        self._loader = _Loader()
        self._loader.loaded.connect(self._on_loaded)
        self.error: str | None = None
        self.on_change: Callable[[], None] | None = None  # the pixels changed (the scene repaints)

    # ------------------------------------------------------------ loading

    @property
    def tiled(self) -> bool:
        return max(self.width, self.height) > TILED_ABOVE

    @property
    def full_resolution_ready(self) -> bool:
        return not self.tiled or self._full is not None

    def set_source(self, source: ImageSource) -> None:
        """Show ``source`` (a file or an RGB array). A large file shows its preview now
        and decodes the full pixels on a thread (see the module doc)."""
        self.prepareGeometryChange()
        self._generation += 1
        self._tiles.clear()
        self._full = None
        self._decode_pending = None
        self.error = None
        if isinstance(source, np.ndarray):
            pixels = source if source.ndim == 3 else np.dstack([source] * 3)
            self.height, self.width = pixels.shape[:2]
            if self.tiled:
                self._full = pixels
                scale = PREVIEW_SIDE / max(self.width, self.height)
                small = cv2.resize(
                    pixels,
                    (max(1, round(self.width * scale)), max(1, round(self.height * scale))),
                    interpolation=cv2.INTER_AREA,
                )
                self._set_preview(small)
            else:
                self._set_preview(pixels)
        else:
            path = Path(source)
            width, height = _displayed_size_checked(path)
            self.width, self.height = width, height
            if self.tiled:
                small, _ = read_preview(path)
                self._set_preview(small)
                # The full decode starts at the first paint, so it does not compete with it.
                self._decode_pending = path
            else:
                self._set_preview(load_image(path))
        self.update()

    def _set_preview(self, pixels: np.ndarray) -> None:
        self._preview_pixels = pixels
        self._preview = QPixmap.fromImage(qimage_from_rgb(pixels))
        self._preview_scale = pixels.shape[1] / self.width
        self._fitted = None

    @property
    def preview(self) -> QPixmap | None:
        """The preview level (the whole image, at most PREVIEW_SIDE a side)."""
        return self._preview

    def _fitted_size(self, scale: float) -> QSize:
        return QSize(max(1, round(self.width * scale)), max(1, round(self.height * scale)))

    def fitted_request(self, scale: float) -> tuple[np.ndarray, QSize] | None:
        """At ``scale`` (the view's level of detail), the preview's pixels and the size
        of the smoothed copy that ``draw`` will want; None when it needs none or has it.
        (The view has it made off the GUI thread; see ``set_fitted``.)"""
        if self._preview_pixels is None or not scale < self._preview_scale * 0.99:
            return None
        if self._fitted is not None and self._fitted[0] == scale:
            return None
        return self._preview_pixels, self._fitted_size(scale)

    def set_fitted(self, scale: float, image: QImage) -> None:
        """Keep a smoothed copy made elsewhere for ``scale`` (see fitted_request)."""
        if image.size() == self._fitted_size(scale):
            self._fitted = (scale, QPixmap.fromImage(image))

    def _start_decode(self) -> None:
        if self._decode_pending is not None:
            path, self._decode_pending = self._decode_pending, None
            threading.Thread(
                target=self._decode, args=(path, self._generation), daemon=True, name="image-decode"
            ).start()

    def _decode(self, path: Path, generation: int) -> None:
        try:
            pixels: object = load_image(path)
        except ImageError as exc:
            pixels = exc
        self._loader.loaded.emit(generation, pixels)

    def _on_loaded(self, generation: int, pixels: object) -> None:
        if generation != self._generation:
            return  # a newer image replaced this one meanwhile
        if isinstance(pixels, Exception):
            self.error = str(pixels)
            return
        assert isinstance(pixels, np.ndarray)  # the loader sends the pixels or its error
        self._full = pixels
        self._changed()

    def wait_full_resolution(self, timeout_s: float = 30.0) -> bool:
        """For tests and benchmarks: process events until the full pixels are in."""
        from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QThread

        deadline = QDeadlineTimer(int(timeout_s * 1000))
        self._start_decode()
        while not self.full_resolution_ready and not deadline.hasExpired():
            QCoreApplication.processEvents()
            QThread.msleep(5)
        return self.full_resolution_ready

    # ------------------------------------------------------------ drawing

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.width, self.height)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        # In an AnnotationScene the image is drawn into the views' cached background
        # (``draw``) and the item has no contents of its own; elsewhere it paints here.
        self.draw(painter, option.exposedRect)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
        self.update()

    def draw(self, painter: QPainter, rect: QRectF, *, quick: bool = False) -> None:
        """Draw the part of the image in ``rect`` (item coordinates) at the painter's
        zoom; ``quick``: from the preview as it is (while the view zooms)."""
        preview = self._preview
        if preview is None:
            return
        if self._decode_pending is not None:
            # After this paint is on screen, not during it: the decode competes for CPU.
            QTimer.singleShot(0, self._start_decode)
        exposed = rect.intersected(self.boundingRect())
        if exposed.isEmpty():
            return
        scale = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        # Smooth when zoomed out; crisp pixels when zoomed in (to place vertices on them).
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
        fitted_here = self._fitted is not None and self._fitted[0] == scale
        if quick and not fitted_here:
            self._paint_preview(painter, preview, exposed)
        elif self._full is not None and scale > self._preview_scale * 1.01:
            self._paint_tiles(painter, exposed, scale)
        elif scale < self._preview_scale * 0.99 and self._paint_fitted(
            painter, preview, exposed, scale
        ):
            pass
        else:
            self._paint_preview(painter, preview, exposed)

    def _paint_preview(self, painter: QPainter, preview: QPixmap, exposed: QRectF) -> None:
        # Whole pixels: a fractional source rect sends Qt down its slow path.
        exposed = QRectF(exposed.toAlignedRect()).intersected(self.boundingRect())
        s = self._preview_scale
        source = QRectF(exposed.x() * s, exposed.y() * s, exposed.width() * s, exposed.height() * s)
        painter.drawPixmap(exposed, preview, source)

    def _paint_fitted(
        self, painter: QPainter, preview: QPixmap, exposed: QRectF, scale: float
    ) -> bool:
        """Zoomed out: blit from a copy smoothed once to this zoom (a smooth scaled draw
        of the whole image on every repaint costs ~10 ms; a blit, ~1 ms)."""
        transform = painter.worldTransform()
        if not transform.isAffine() or transform.m12() or transform.m21():
            return False
        if self._fitted is None or self._fitted[0] != scale:
            fitted = preview.scaled(
                self._fitted_size(scale),
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self._fitted = (scale, fitted)
        fitted = self._fitted[1]
        origin = transform.map(QPointF(0, 0))
        device = transform.mapRect(exposed).toAlignedRect()
        painter.save()
        painter.resetTransform()
        ox, oy = round(origin.x()), round(origin.y())
        source = device.translated(-ox, -oy).intersected(fitted.rect())
        painter.drawPixmap(source.translated(ox, oy), fitted, source)
        painter.restore()
        return True

    def _tile_keys(self, exposed: QRectF, scale: float) -> list[tuple[int, int, int]]:
        # Level k holds every 2^k-th pixel (area-averaged): zoomed out between the
        # preview and 1:1, a tile of level k covers TILE * 2^k image pixels.
        level = max(0, int(math.floor(math.log2(1.0 / scale)))) if scale < 1.0 else 0
        span = TILE << level
        c0, r0 = max(0, int(exposed.left()) // span), max(0, int(exposed.top()) // span)
        c1 = min(math.ceil(exposed.right() / span), math.ceil(self.width / span))
        r1 = min(math.ceil(exposed.bottom() / span), math.ceil(self.height / span))
        return [(level, col, row) for row in range(r0, r1) for col in range(c0, c1)]

    def tile_makers(self, rect: QRectF, scale: float) -> list[Callable[[], object]]:
        """For the tiles a sharp draw of ``rect`` at ``scale`` will use and that are not
        made yet, one call each that makes it: the view makes them a piece at a time
        before it shows the exact picture, rather than all in one paint."""
        if self._full is None or not scale > self._preview_scale * 1.01:
            return []
        keys = self._tile_keys(rect.intersected(self.boundingRect()), scale)
        return [partial(self._tile, *key) for key in keys if key not in self._tiles]

    def _paint_tiles(self, painter: QPainter, exposed: QRectF, scale: float) -> None:
        for level, col, row in self._tile_keys(exposed, scale):
            span = TILE << level
            pixmap = self._tile(level, col, row)
            x, y = col * span, row * span
            w = min(span, self.width - x)
            h = min(span, self.height - y)
            painter.drawPixmap(QRectF(x, y, w, h), pixmap, QRectF(pixmap.rect()))

    def _tile(self, level: int, col: int, row: int) -> QPixmap:
        key = (level, col, row)
        pixmap = self._tiles.get(key)
        if pixmap is not None:
            self._tiles.move_to_end(key)
            return pixmap
        assert self._full is not None
        span = TILE << level
        block = self._full[row * span : (row + 1) * span, col * span : (col + 1) * span]
        if level:
            size = (max(1, block.shape[1] >> level), max(1, block.shape[0] >> level))
            block = cv2.resize(block, size, interpolation=cv2.INTER_AREA)
        pixmap = QPixmap.fromImage(qimage_from_rgb(block))
        self._tiles[key] = pixmap
        while len(self._tiles) > TILE_CACHE:
            self._tiles.popitem(last=False)
        return pixmap

    @property
    def cached_tiles(self) -> int:
        return len(self._tiles)


def _displayed_size_checked(path: Path) -> tuple[int, int]:
    try:
        return _displayed_size(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot be read as an image ({exc})") from None


__all__ = ["ImageItem", "ImageSource", "qimage_from_rgb", "read_preview"]

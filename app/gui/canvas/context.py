"""The image's other masks, drawn faintly under a stage view's own annotations.

Every stage view shows what is already drawn on its image (accepted masks and masks
waiting for verification) as context, so that an annotator sees what is done and avoids
overlaps. A :class:`ContextLayer` owns those items in one scene: it draws a
:class:`pipeline.explorer.ImageSummary`, hides them all (the view's key) or one instance
(the image panel's eye), and selects one (the image panel's object list). The masks are
baked into the view's mask layer like any static mask, so they cost a thousand-mask
scene nothing per frame.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from pipeline.explorer import ImageSummary

from .items import MaskItem
from .scene import DEFAULT_OPACITY, AnnotationScene

CONTEXT_OPACITY = 0.18  # fainter than the masks a view works on (the scene's 0.45)


class ContextLayer(QObject):
    """The context masks of one scene (see the module doc)."""

    visibilityChanged = Signal(bool)

    def __init__(self, scene: AnnotationScene, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.summary: ImageSummary | None = None
        self.exclude: frozenset[int] = frozenset()
        self.items: dict[int, MaskItem] = {}  # instance id -> its mask item
        self.hidden: set[int] = set()  # instances hidden by the panel's eyes
        self.visible = True

    # ------------------------------------------------------------ drawing

    def show(self, summary: ImageSummary | None, exclude: frozenset[int] = frozenset()) -> None:
        """Draw ``summary``'s masks (not those of ``exclude``, the instances the view
        works on); None clears."""
        if summary is None or self.summary is None or summary.image.id != self.summary.image.id:
            self.hidden.clear()  # the eyes are per image
        self.summary, self.exclude = summary, frozenset(exclude)
        self._draw()

    def ensure(self, image_id: int) -> None:
        """Draw again if the view cleared the scene meanwhile (a reloaded editor) and
        the summary is of ``image_id``."""
        if self.summary is None or self.summary.image.id != image_id:
            return
        if any(item.scene() is not self.scene for item in self.items.values()) or (
            not self.items and self.summary.context_masks()
        ):
            self._draw()

    def clear(self) -> None:
        self.show(None)

    def _draw(self) -> None:
        for item in self.items.values():
            if item.scene() is self.scene:
                self.scene.remove_annotation(item)
        self.items = {}
        if self.summary is None:
            return
        for annotation, name in self.summary.context_masks():
            inst = annotation.instance
            if inst.id in self.exclude or annotation.segment is None:
                continue
            item = self.scene.add_mask(annotation.segment.mask, name, category_id=inst.category_id)
            item.opacity_factor = CONTEXT_OPACITY / DEFAULT_OPACITY
            item.set_fill_opacity(self.scene.opacity * item.opacity_factor, repaint=False)
            item.setZValue(-1)  # under whatever the view draws
            item.setFlag(item.GraphicsItemFlag.ItemIsSelectable, False)
            item.setAcceptHoverEvents(False)
            item.setVisible(self.visible and inst.id not in self.hidden)
            self.items[inst.id] = item
        self.scene.labels_changed()

    # ------------------------------------------------------------ toggles

    def set_visible(self, visible: bool) -> None:
        """Show or hide every context mask (the view's key)."""
        self.visible = bool(visible)
        for instance_id, item in self.items.items():
            item.setVisible(self.visible and instance_id not in self.hidden)
        self.scene.labels_changed()
        self.scene.invalidate_background()
        self.visibilityChanged.emit(self.visible)

    def toggle(self) -> None:
        self.set_visible(not self.visible)

    def set_instance_visible(self, instance_id: int, visible: bool) -> None:
        """One instance's eye in the image panel."""
        if visible:
            self.hidden.discard(instance_id)
        else:
            self.hidden.add(instance_id)
        item = self.items.get(instance_id)
        if item is not None:
            item.setVisible(self.visible and visible)
            self.scene.labels_changed()
            self.scene.invalidate_background(item.boundingRect())

    def select(self, instance_id: int | None) -> MaskItem | None:
        """Highlight one instance's mask (the others are deselected); returns its item,
        None when it has no mask here."""
        for other in self.items.values():
            other.setSelected(False)
            other.setFlag(other.GraphicsItemFlag.ItemIsSelectable, False)
        item = self.items.get(instance_id) if instance_id is not None else None
        if item is None or instance_id is None:
            return None
        if not item.isVisible():
            self.set_instance_visible(instance_id, True)
            if not self.visible:
                self.set_visible(True)
        # selectable only while chosen from the panel: a click on the canvas must
        # still reach the view's tool, not pick a context mask
        item.setFlag(item.GraphicsItemFlag.ItemIsSelectable, True)
        item.setSelected(True)
        for view in self.scene.views():
            view.ensureVisible(item.boundingRect(), 40, 40)
        return item

    def instance_ids(self) -> list[int]:
        return list(self.items)


__all__ = ["CONTEXT_OPACITY", "ContextLayer"]

"""The side dock: the current image's categories (with their federated state) and instances."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDockWidget, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

if TYPE_CHECKING:
    from pipeline.store import Project


def describe_pair(state: str, exhaustive: bool | None) -> str:
    if state in ("spotted", "confirmed") and exhaustive is not None:
        return f"{state}, {'exhaustive' if exhaustive else 'not exhaustive'}"
    return state


class ImageDock(QDockWidget):
    """Lists one image's categories and, under each, its instances and their masks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Image", parent)
        self.setObjectName("imageDock")
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Category", "State"])
        # Both columns as wide as their texts ("confirmed, not exhaustive" was cut to
        # "confirmed, no..."); placeholders sit in the first column, which then fits them
        # (spanned, they were cut to both columns' width). A narrow dock scrolls sideways;
        # every cell's tooltip holds its full text as well.
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setMinimumWidth(250)
        self.setWidget(self.tree)
        self.image_id: int | None = None
        self.clear()

    def clear(self) -> None:
        self.image_id = None
        self.tree.clear()
        self.setWindowTitle("Image")
        QTreeWidgetItem(self.tree, ["No image shown", ""])

    def show_image(self, project: Project, image_id: int) -> None:
        """Read the image's categories and instances (one read transaction) and list them."""
        from sqlalchemy import select

        from pipeline import schema as s
        from pipeline.annotations import load_image_annotations

        with project.read() as conn:
            image = conn.execute(
                select(s.images.c.file_name).where(s.images.c.id == image_id)
            ).first()
            if image is None:
                self.clear()
                return
            pairs = conn.execute(
                select(
                    s.image_categories.c.category_id,
                    s.image_categories.c.state,
                    s.image_categories.c.exhaustive,
                ).where(s.image_categories.c.image_id == image_id)
            ).all()
            annotations = load_image_annotations(conn, image_id)
            ids = {p.category_id for p in pairs} | {a.instance.category_id for a in annotations}
            names = dict(
                conn.execute(
                    select(s.categories.c.id, s.categories.c.name).where(
                        s.categories.c.id.in_(sorted(ids))
                    )
                ).all()
            )
        self.image_id = image_id
        self.setWindowTitle(f"Image: {image.file_name}")
        self.tree.clear()
        by_category = defaultdict(list)
        for annotation in annotations:
            by_category[annotation.instance.category_id].append(annotation)
        states = {p.category_id: describe_pair(p.state, p.exhaustive) for p in pairs}
        order = sorted(ids, key=lambda c: (names.get(c, ""), c))
        if not order:
            QTreeWidgetItem(self.tree, ["No categories yet", ""])
        for category_id in order:
            found = by_category.get(category_id, [])
            node = QTreeWidgetItem(
                self.tree,
                [
                    f"{names.get(category_id, category_id)} ({len(found)})",
                    states.get(category_id, ""),
                ],
            )
            node.setToolTip(0, node.text(0))
            node.setToolTip(1, node.text(1))
            for annotation in found:
                inst = annotation.instance
                label = f"#{inst.id}" + (" crowd" if inst.is_crowd else "")
                state = inst.status
                detail = f"instance {inst.id}: {inst.status}"
                if annotation.segment is not None:
                    seg = annotation.segment
                    state = f"{seg.status} \u00b7 {seg.area:,} px"
                    detail += f"; mask version {seg.version} {seg.status}, {seg.area:,} px"
                row = QTreeWidgetItem(node, [label, state])
                row.setToolTip(0, detail)
                row.setToolTip(1, detail)
            node.setExpanded(True)

    def category_names(self) -> list[str]:
        return [self.tree.topLevelItem(i).text(0) for i in range(self.tree.topLevelItemCount())]

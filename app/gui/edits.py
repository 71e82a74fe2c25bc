"""Undoable edits of the mask being drawn: ``QUndoCommand`` s over a ``pipeline.masks.edits.Draft``.

The draft's masks are immutable values, so a command computes the mask after the edit
once (when it is made: an edit that cannot apply raises ``DraftError`` then, and nothing
is pushed) and keeps both masks; undo and redo swap them back and forth, giving the very
same bytes each time. One ``QUndoStack`` per image, with no depth limit.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from pipeline.masks import edits as mask_edits
from pipeline.masks.edits import Draft, VertexRef
from pipeline.masks.geometry import Box, Mask

Point = tuple[float, float]
Changed = Callable[[Mask | None, str], None]
"""Told the draft's new mask and the name of the tool that made the edit."""


class DraftEdit(QUndoCommand):
    """Replace the draft's mask by ``after`` (redo) and put ``before`` back (undo)."""

    def __init__(
        self, draft: Draft, after: Mask | None, text: str, tool: str, changed: Changed
    ) -> None:
        super().__init__(text)
        self.draft = draft
        self.before = draft.mask
        self.after = after
        self.tool = tool
        self._changed = changed

    def redo(self) -> None:
        self.draft.set_mask(self.after)
        self._changed(self.after, self.tool)

    def undo(self) -> None:
        self.draft.set_mask(self.before)
        self._changed(self.before, self.tool)


def add_polygon(draft: Draft, points: list[Point], changed: Changed) -> DraftEdit:
    after = mask_edits.add_polygon(draft.mask, points, draft.height, draft.width)
    return DraftEdit(draft, after, f"Add polygon ({len(points)} points)", "polygon", changed)


def cut_hole(draft: Draft, points: list[Point], changed: Changed) -> DraftEdit:
    after = mask_edits.cut_hole(draft.mask, points)
    return DraftEdit(draft, after, f"Cut hole ({len(points)} points)", "hole", changed)


def paint(
    draft: Draft, path: list[Point], radius: float, erase: bool, changed: Changed
) -> DraftEdit:
    after = mask_edits.paint(draft.mask, path, radius, draft.height, draft.width, erase=erase)
    what = "Erase" if erase else "Brush"
    return DraftEdit(
        draft, after, f"{what} stroke (radius {radius:g})", "eraser" if erase else "brush", changed
    )


def move_vertex(draft: Draft, ref: VertexRef, to: Point, changed: Changed) -> DraftEdit:
    # The drag's preview keeps the vertex order; the edit itself is made valid (a vertex
    # dragged across an edge would leave a ring that crosses itself).
    after = mask_edits.repaired(mask_edits.move_vertex(draft.mask, ref, to))
    return DraftEdit(draft, after, "Move vertex", "vertex", changed)


def insert_vertex(draft: Draft, ref: VertexRef, at: Point, changed: Changed) -> DraftEdit:
    after = mask_edits.repaired(mask_edits.insert_vertex(draft.mask, ref, at))
    return DraftEdit(draft, after, "Insert vertex", "vertex", changed)


def delete_vertex(draft: Draft, ref: VertexRef, changed: Changed) -> DraftEdit:
    after = mask_edits.repaired(mask_edits.delete_vertex(draft.mask, ref))
    return DraftEdit(draft, after, "Delete vertex", "vertex", changed)


def trace(draft: Draft, epsilon: float, changed: Changed) -> DraftEdit:
    """A painted (RLE) mask traced into polygons, so that its vertices can be edited."""
    after = draft.mask.to_polygons(epsilon) if draft.mask is not None else None
    return DraftEdit(draft, after, "Trace mask into polygons", "vertex", changed)


def replace(draft: Draft, mask: Mask | None, text: str, tool: str, changed: Changed) -> DraftEdit:
    """Any new mask (a model proposal, a clear)."""
    return DraftEdit(draft, mask, text, tool, changed)


Click = tuple[float, float, bool]
Prompt = tuple[Box | None, Point | None, tuple[Click, ...]]
"""What a proposal was asked with: its box, its point, and the refining clicks."""


class PromptEdit(DraftEdit):
    """A model's mask for a prompt: undo puts back the mask and the prompt before it
    (so that the next click refines what is on screen), redo both after."""

    def __init__(
        self,
        draft: Draft,
        after: Mask,
        text: str,
        changed: Changed,
        prompts: tuple[Prompt | None, Prompt | None],
        set_prompt: Callable[[Prompt | None], None],
    ) -> None:
        super().__init__(draft, after, text, "proposal", changed)
        self.prompt_before, self.prompt_after = prompts
        self._set_prompt = set_prompt

    def redo(self) -> None:
        self._set_prompt(self.prompt_after)
        super().redo()

    def undo(self) -> None:
        self._set_prompt(self.prompt_before)
        super().undo()


__all__ = [
    "DraftEdit",
    "PromptEdit",
    "add_polygon",
    "cut_hole",
    "delete_vertex",
    "insert_vertex",
    "move_vertex",
    "paint",
    "replace",
    "trace",
]

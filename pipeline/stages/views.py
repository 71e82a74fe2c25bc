"""What a claimed work item shows its annotator: the base of every stage's view."""

from __future__ import annotations

from dataclasses import dataclass

from ..images import ImageRecord
from ..store.database import Annotator
from ..store.workqueue import WorkItem


@dataclass(frozen=True)
class StageItem:
    """A work item held by ``annotator``, with what they must see to answer it.

    Each stage extends it (``SpottingItem``, ``MarkingItem``, ...). Hand it back to
    :meth:`Pipeline.answer`, :meth:`Pipeline.skip`, :meth:`Pipeline.renew` or
    :meth:`Pipeline.release`.
    """

    work_item: WorkItem
    annotator: Annotator
    image: ImageRecord

    @property
    def id(self) -> int:
        return self.work_item.id

    @property
    def stage(self) -> int:
        return self.work_item.stage

    @property
    def lease_expires(self) -> float | None:
        return self.work_item.lease_expires

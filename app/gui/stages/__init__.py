"""One work view per pipeline stage (``pipeline/stages``): StageItem in, Answer out.

``STAGE_VIEWS`` maps a stage number to its view class; the main window shows a
placeholder for a stage without one.
"""

from __future__ import annotations

from pipeline.stages import (
    EXHAUSTIVE,
    MARKING,
    NEGATIVES,
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
)

from .base import StageView
from .exhaustive import ExhaustiveView
from .marking import MarkingView
from .negatives import NegativesView
from .segmentation import SegmentationView
from .spotting import SpottingView
from .verification import VerificationView

STAGE_VIEWS: dict[int, type[StageView]] = {
    SPOTTING: SpottingView,
    MARKING: MarkingView,
    SEGMENTATION: SegmentationView,
    VERIFICATION: VerificationView,
    EXHAUSTIVE: ExhaustiveView,
    NEGATIVES: NegativesView,
}

__all__ = ["STAGE_VIEWS", "StageView"]

"""The six-stage federated labelling pipeline (docs/pipeline.md).

One module per stage (``spotting``, ``marking``, ``segmentation``, ``verification``,
``exhaustive``, ``negatives``): its view of a claimed item, its answer rule and the
follow-up items it opens. ``service.Pipeline`` is the API both front ends call;
``seeding`` opens the items no answer opens; ``undo`` takes an answer back.
Qt-free and torch-free.
"""

from ..events import Effort
from ..store.schema import (
    EXHAUSTIVE,
    MARKING,
    NEGATIVES,
    SEGMENTATION,
    SPOTTING,
    STAGES,
    VERIFICATION,
)
from .answers import (
    Answer,
    ExhaustiveAnswer,
    Mark,
    MarkAnswer,
    NegativeAnswer,
    SegmentAnswer,
    Spot,
    SpotAnswer,
    VerifyAnswer,
)
from .exhaustive import ExhaustiveItem
from .marking import MarkingItem
from .negatives import NegativeItem
from .seeding import SeedReport
from .segmentation import SegmentationItem, SegmentAttempt, Verdict
from .service import AnswerResult, Pipeline, StageProgress
from .spotting import KnownCategory, SpottingItem
from .verification import VerificationItem
from .views import StageItem

__all__ = [
    "EXHAUSTIVE",
    "MARKING",
    "NEGATIVES",
    "SEGMENTATION",
    "SPOTTING",
    "STAGES",
    "VERIFICATION",
    "Answer",
    "AnswerResult",
    "Effort",
    "ExhaustiveAnswer",
    "ExhaustiveItem",
    "KnownCategory",
    "Mark",
    "MarkAnswer",
    "MarkingItem",
    "NegativeAnswer",
    "NegativeItem",
    "Pipeline",
    "SeedReport",
    "SegmentAnswer",
    "SegmentAttempt",
    "SegmentationItem",
    "Spot",
    "SpotAnswer",
    "SpottingItem",
    "StageItem",
    "StageProgress",
    "Verdict",
    "VerificationItem",
    "VerifyAnswer",
]

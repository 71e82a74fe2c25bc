"""Dataset statistics, Qt-free: the numbers only (plots: ``pipeline.stats.plots``;
the HTML report: ``pipeline.stats.report``; both import matplotlib, this does not).

- ``frequency``: the LVIS r/c/f rule;
- ``shape``: instances per category (the long tail), categories per image, relative
  mask size;
- ``coverage``: |P_c|, |N_c|, not-exhaustive counts, the negatives quota;
- ``burndown``: progress per stage over time;
- ``effort``: seconds and clicks per answer by stage, annotator and tool;
- ``agreement``: reject rates and "some missing" rates;
- ``project``: all of them at once (:func:`compute_stats`).
"""

from .agreement import Agreement, AnnotatorAgreement, agreement
from .burndown import BurnDown, StageBurnDown, burn_down
from .coverage import CategoryCoverage, Coverage, coverage
from .effort import Effort, EffortRow, effort
from .frequency import (
    COMMON_FROM,
    FREQUENT_FROM,
    frequency_group,
    frequency_groups,
    train_image_counts,
)
from .project import ProjectStats, compute_stats
from .shape import CategoryCount, DataShape, data_shape, relative_mask_sizes

__all__ = [
    "COMMON_FROM",
    "FREQUENT_FROM",
    "Agreement",
    "AnnotatorAgreement",
    "BurnDown",
    "CategoryCount",
    "CategoryCoverage",
    "Coverage",
    "DataShape",
    "Effort",
    "EffortRow",
    "ProjectStats",
    "StageBurnDown",
    "agreement",
    "burn_down",
    "compute_stats",
    "coverage",
    "data_shape",
    "effort",
    "frequency_group",
    "frequency_groups",
    "relative_mask_sizes",
    "train_image_counts",
]

"""One work view per pipeline stage (``pipeline/stages``): StageItem in, Answer out.

``STAGE_VIEWS`` maps a stage number to its view class; the main window shows a
placeholder for a stage without one.
"""

from __future__ import annotations

from .base import StageView

STAGE_VIEWS: dict[int, type[StageView]] = {}

__all__ = ["STAGE_VIEWS", "StageView"]

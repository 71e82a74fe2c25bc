"""Eraser tool: the brush, taking pixels out of the mask."""

from __future__ import annotations

from .brush import BrushTool


class EraserTool(BrushTool):
    name = "eraser"
    title = "Eraser"
    shortcut = "E"
    erase = True

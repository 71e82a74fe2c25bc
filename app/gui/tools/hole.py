"""Hole tool: a polygon cut out of the current mask (the polygon tool with Alt held)."""

from __future__ import annotations

from .polygon import PolygonTool


class HoleTool(PolygonTool):
    name = "hole"
    title = "Hole"
    shortcut = "H"
    hole = True

"""Canvas tools: each turns mouse and key events into edit requests (``base``) and
describes what it is doing as a preview; none draws or edits anything itself."""

from .base import Tool
from .box import BoxTool
from .brush import BrushRadius, BrushTool
from .eraser import EraserTool
from .hole import HoleTool
from .point import PointTool
from .polygon import PolygonTool
from .prompt import PromptTool
from .vertex import VertexTool

TOOLS: dict[str, type[Tool]] = {
    cls.name: cls
    for cls in (
        PointTool,
        BoxTool,
        PolygonTool,
        HoleTool,
        BrushTool,
        EraserTool,
        VertexTool,
        PromptTool,
    )
}

__all__ = [
    "TOOLS",
    "BoxTool",
    "BrushRadius",
    "BrushTool",
    "EraserTool",
    "HoleTool",
    "PointTool",
    "PolygonTool",
    "PromptTool",
    "Tool",
    "VertexTool",
]

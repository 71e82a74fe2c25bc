"""Names shared by the core, the model side and the GUI, in a module that imports
nothing: the window imports it before SQLAlchemy or OpenCV have loaded, so that nobody
needs a copy of these values to stay light."""

from __future__ import annotations

# the six stages
SPOTTING = 1
MARKING = 2
SEGMENTATION = 3
VERIFICATION = 4
EXHAUSTIVE = 5
NEGATIVES = 6

STAGES = {
    SPOTTING: "object spotting",
    MARKING: "exhaustive instance marking",
    SEGMENTATION: "instance segmentation",
    VERIFICATION: "segment verification",
    EXHAUSTIVE: "exhaustive annotations verification",
    NEGATIVES: "negative labels",
}
"""Each stage's full name."""

STAGE_TITLES = {
    SPOTTING: "Object spotting",
    MARKING: "Instance marking",
    SEGMENTATION: "Segmentation",
    VERIFICATION: "Verification",
    EXHAUSTIVE: "Exhaustiveness",
    NEGATIVES: "Negative labels",
}
"""Each stage's short title (the GUI's stage switcher and menus)."""

MODEL_IN_USE_KEY = "model_in_use"
"""The project ``meta`` key naming the model in use (``model.training.registry``)."""

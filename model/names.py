"""The architectures' names, in a module that imports nothing: the CLI and the training
configuration offer them before torch loads, and :mod:`model.zoo` and
:mod:`model.training.architectures` build their tables from them, so no copy of a name
has to be kept equal to another."""

from __future__ import annotations

R50_FPN_V2 = "r50-fpn-v2"
SWIN_T = "swin-t"
TINY = "tiny"

ZOO_ARCHITECTURES = (R50_FPN_V2, SWIN_T)
"""The zoo's architectures (:data:`model.zoo.ARCHITECTURES`)."""
TRAINABLE_ARCHITECTURES = (*ZOO_ARCHITECTURES, TINY)
"""What training can build (:data:`model.training.architectures.TRAINABLE`)."""
DEFAULT_ARCHITECTURE = R50_FPN_V2

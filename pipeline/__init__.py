"""The Qt-free, torch-free core of longtail: store, stages, geometry, formats, evaluation."""

__version__ = "0.1.0"

"""The torch side of longtail: model zoo, weights, feature cache, predictor, fallback.

This package imports torch and torchvision (never Qt), but this ``__init__`` imports
nothing heavy, so that ``import model`` stays cheap; import the submodules you need:

- :mod:`model.zoo` — ``build_model(architecture, num_classes, ...)``, ``ARCHITECTURES``
- :mod:`model.weights` — find and load checkpoints offline (``load_weights``, ``survey``)
- :mod:`model.features` — ``FeatureCache`` (thread-safe LRU by bytes), ``Prefetcher``
- :mod:`model.predictor` — ``Predictor``: box / point / whole-image proposals
- :mod:`model.fallback` — ``box_to_mask``: a classical box -> mask with no model
"""

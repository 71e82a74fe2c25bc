"""In-app fine-tuning of the Mask R-CNN on the project's curated data (docs/training.md).

One idea per module; this ``__init__`` imports nothing heavy, so that the GUI and the
CLI can read the registry without importing torch:

- :mod:`model.training.snapshot` — a frozen, hashed view of the store: accepted masks,
  federated labels per image, the train / held-out split (torch-free)
- :mod:`model.training.data` — the dataset and its transforms (flip, scale jitter, LSJ)
- :mod:`model.training.sampler` — repeat-factor sampling (LVIS) and its distributed wrapper
- :mod:`model.training.loss` — the federated sigmoid loss, as a torchvision ``RoIHeads``
  subclass
- :mod:`model.training.loop` — the run composed from named parts: plan, model building
  (:mod:`model.training.starting`: starting weights, which BatchNorm layers to freeze),
  restoring, the loader, the ``Checkpointer``, the ``Stepper`` and the finish;
  :mod:`model.training.checkpoint` reads and writes the files (names in
  :mod:`model.training.runfiles`, torch-free)
- :mod:`model.training.events` — what a run reports, as dataclasses (torch-free): the
  loop, the CLI progress bar and the GUI worker share them
- :mod:`model.training.entry` — the one entry point of ``longtail train`` and
  ``python -m model.training``; :mod:`model.training.isolate` runs the loop in a child
  process so that a stop ends the run within 2 seconds
- :mod:`model.training.distributed` — ``torchrun`` set-up (DDP, gloo on the CPU)
- :mod:`model.training.evaluate` — COCO and LVIS AP on the held-out split
- :mod:`model.training.registry` — the ``models`` table and the model in use (torch-free)
- ``python -m model.training`` — the entry point the CLI, the GUI and ``torchrun`` run;
  it streams JSON-lines progress on stdout
"""

"""In-app fine-tuning of the Mask R-CNN on the project's curated data (DESIGN section 4).

One idea per module; this ``__init__`` imports nothing heavy, so that the GUI and the
CLI can read the registry without importing torch:

- :mod:`model.training.snapshot` — a frozen, hashed view of the store: accepted masks,
  federated labels per image, the train / held-out split (torch-free)
- :mod:`model.training.data` — the dataset and its transforms (flip, scale jitter, LSJ)
- :mod:`model.training.sampler` — repeat-factor sampling (LVIS) and its distributed wrapper
- :mod:`model.training.loss` — the federated sigmoid loss, as a torchvision ``RoIHeads``
  subclass
- :mod:`model.training.loop` — optimiser, schedule, AMP, accumulation, checkpoints, resume,
  cancel; :mod:`model.training.checkpoint` reads and writes the files
- :mod:`model.training.distributed` — ``torchrun`` set-up (DDP, gloo on the CPU)
- :mod:`model.training.evaluate` — COCO and LVIS AP on the held-out split
- :mod:`model.training.registry` — the ``models`` table and the model in use (torch-free)
- ``python -m model.training`` — the entry point the CLI, the GUI and ``torchrun`` run;
  it streams JSON-lines progress on stdout
"""

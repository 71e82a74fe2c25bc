"""A project's status at a glance: images, categories, work per stage, federated labels.

The label counts are :func:`pipeline.federated.label_counts` (positives are pairs with
accepted masks, not merely confirmed ones).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from .federated import label_counts
from .images import ImageCheck
from .store import schema as s
from .store.database import Project
from .store.workqueue import stage_counts


def project_status(project: Project, *, files: ImageCheck | None = None) -> dict[str, Any]:
    """A JSON-ready summary. ``files`` adds the result of an image file check."""
    with project.read() as conn:
        n_images = conn.execute(select(func.count()).select_from(s.images)).scalar_one()
        splits: dict[str, int] = dict(
            conn.execute(select(s.images.c.split, func.count()).group_by(s.images.c.split)).all()
        )
        n_categories = conn.execute(select(func.count()).select_from(s.categories)).scalar_one()
        queues = stage_counts(conn)
        # spotted and confirmed pairs are rows (only negatives are also implicit)
        ic = s.image_categories
        pairs: dict[str, int] = dict(
            conn.execute(select(ic.c.state, func.count()).group_by(ic.c.state)).all()
        )
        labels = label_counts(conn)
        spotted: dict[str, int] = dict(
            conn.execute(
                select(s.spotting_finished.c.reason, func.count()).group_by(
                    s.spotting_finished.c.reason
                )
            ).all()
        )
        segments: dict[str, int] = dict(
            conn.execute(
                select(s.segments.c.status, func.count()).group_by(s.segments.c.status)
            ).all()
        )
        n_instances = conn.execute(select(func.count()).select_from(s.instances)).scalar_one()
    status: dict[str, Any] = {
        "project": str(project.folder) if project.folder else project.url,
        "schema_version": project.schema_version(),
        "images": int(n_images),
        "splits": {k: int(v) for k, v in sorted(splits.items())},
        "categories": int(n_categories),
        "instances": int(n_instances),
        "segments": {k: int(segments.get(k, 0)) for k in s.SEGMENT_STATES},
        "stages": {
            str(stage): {"name": s.STAGES[stage], **queues[stage]} for stage in sorted(s.STAGES)
        },
        # Federated labels as pipeline.federated derives them; pair states as stored.
        "labels": {
            **labels.as_dict(),
            "spotted_pairs": int(pairs.get(s.SPOTTED, 0)),
            "confirmed_pairs": int(pairs.get(s.CONFIRMED, 0)),
        },
        "spotting": {
            "finished_images": int(sum(spotted.values())),
            "declared_spotted": int(spotted.get("declared", 0)),
        },
    }
    if files is not None:
        status["files"] = {
            "checked": files.checked,
            "missing": [r.file_name for r in files.missing],
            "changed": [r.file_name for r in files.changed],
            # Paths that leave the project's image roots: neither opened nor hashed.
            "outside": [
                {"file_name": r.file_name, "path": r.path, "reason": why}
                for r, why in files.outside
            ],
            "image_roots_recorded": files.roots_recorded,
        }
    return status

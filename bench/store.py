"""Store benchmark: a synthetic project of 100,000 images and 1,000,000 polygon segments.

Reports (JSON on stdout): build time, database size, the time to load one image's
annotations (median, p95; target <= 5 ms) and to claim the next open work item
(median, p95; target <= 10 ms). Run: ``.venv/bin/python bench/store.py [--images N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402

from pipeline.annotations import image_annotations, segment_values  # noqa: E402
from pipeline.masks.geometry import Mask  # noqa: E402
from pipeline.store import schema as s  # noqa: E402
from pipeline.store.database import DB_NAME, Project, now  # noqa: E402
from pipeline.store.workqueue import claim_next  # noqa: E402
from pipeline.team import postgres as teamdb  # noqa: E402
from pipeline.vocabulary import add_categories, shipped_vocabulary  # noqa: E402

WIDTH, HEIGHT = 640, 480


def star_polygon(rng: np.random.Generator, points: int) -> list[float]:
    cx, cy = rng.uniform(60, WIDTH - 60), rng.uniform(60, HEIGHT - 60)
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    radii = rng.uniform(15, 55, points)
    ring = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    return ring.round(2).reshape(-1).tolist()


def build(project: Project, n_images: int, per_image: int, points: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    add_categories(project, shipped_vocabulary("lvis"))
    with project.read() as conn:
        category_ids = list(
            conn.execute(s.categories.select().with_only_columns(s.categories.c.id)).scalars()
        )
    annotator = project.annotator("bench")
    t0 = time.perf_counter()
    chunk = 2000  # images per transaction
    image_id = instance_id = segment_id = 0
    for start in range(0, n_images, chunk):
        count = min(chunk, n_images - start)
        images, instances, segments, items = [], [], [], []
        created = now()
        for _ in range(count):
            image_id += 1
            images.append(
                {
                    "id": image_id,
                    "path": f"images/{image_id:06d}.jpg",
                    "file_name": f"{image_id:06d}.jpg",
                    "width": WIDTH,
                    "height": HEIGHT,
                    "split": "train",
                    "created_at": created,
                }
            )
            items.append(
                {
                    # every row names every column: an executemany takes its columns from
                    # the first row, and would drop the verification items' segment ids
                    "stage": s.SPOTTING,
                    "image_id": image_id,
                    "category_id": None,
                    "instance_id": None,
                    "segment_id": None,
                    "excluded_annotator": None,
                    "status": s.OPEN,
                    "priority": 0.0,
                    "attempts": 0,
                    "created_at": created,
                }
            )
            for _ in range(per_image):
                instance_id += 1
                segment_id += 1
                category = category_ids[int(rng.integers(len(category_ids)))]
                mask = Mask.from_coco([star_polygon(rng, points)], HEIGHT, WIDTH)
                instances.append(
                    {
                        "id": instance_id,
                        "image_id": image_id,
                        "category_id": category,
                        "annotator_id": annotator.id,
                        "status": s.SEGMENTED,
                        "is_crowd": False,
                        "source": s.SOURCE_PIPELINE,
                        "created_at": created,
                    }
                )
                segments.append(
                    {
                        "id": segment_id,
                        "instance_id": instance_id,
                        "version": 1,
                        "annotator_id": annotator.id,
                        "status": s.PENDING,
                        "tool": "polygon",
                        "source": s.SOURCE_PIPELINE,
                        "created_at": created,
                        **segment_values(mask),
                    }
                )
                items.append(
                    {
                        "stage": s.VERIFICATION,
                        "image_id": image_id,
                        "category_id": category,
                        "instance_id": instance_id,
                        "segment_id": segment_id,
                        "status": s.OPEN,
                        "priority": 0.0,
                        "attempts": 0,
                        "excluded_annotator": annotator.id,
                        "created_at": created,
                    }
                )
        with project.write() as conn:
            conn.execute(s.images.insert(), images)
            conn.execute(s.instances.insert(), instances)
            conn.execute(s.segments.insert(), segments)
            conn.execute(s.work_items.insert(), items)
        print(f"\rbuilt {image_id}/{n_images} images", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {
        "build_s": round(time.perf_counter() - t0, 1),
        "images": image_id,
        "segments": segment_id,
    }


def built_store(folder: Path, images: int, per_image: int) -> dict:
    """The project of :func:`build` in ``folder``, built once and kept for later runs
    (``built.json`` holds its build figures); a half-built one is started afresh."""
    done = folder / "built.json"
    if done.is_file():
        return json.loads(done.read_text())
    if folder.exists():
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
            (folder / name).unlink(missing_ok=True)
    with Project.create(folder) as project:
        figures = build(project, images, per_image, 20, seed=0)
    done.write_text(json.dumps(figures))
    return figures


@contextmanager
def server_database(base: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server at ``base``; yields its URL and drops
    it afterwards, with its group roles."""
    name = f"longtail_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            teamdb.drop_project_database(conn, name)  # and its group roles
        admin.dispose()


def percentiles(samples: list[float]) -> dict:
    ms = np.asarray(samples) * 1000
    return {
        "median_ms": round(float(np.median(ms)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--per-image", type=int, default=10, help="segments per image")
    parser.add_argument("--points", type=int, default=20, help="points per polygon")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--dir", default=None, help="where to build (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp) / "bench-project"
        project = Project.create(folder)
        figures = build(project, args.images, args.per_image, args.points, args.seed)
        raw = project.engine.raw_connection()  # outside a transaction, as these need
        raw.execute("ANALYZE")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        figures["db_mb"] = round((folder / DB_NAME).stat().st_size / 2**20, 1)

        rng = random.Random(args.seed)
        load = []
        for _ in range(args.samples):
            image_id = rng.randint(1, figures["images"])
            t = time.perf_counter()
            annotations = image_annotations(project, image_id)
            load.append(time.perf_counter() - t)
            assert len(annotations) == args.per_image
        figures["load_image_annotations"] = {**percentiles(load), "target_ms": 5.0}

        verifier = project.annotator("verifier")
        claims = {}
        for stage in (s.SPOTTING, s.VERIFICATION):
            times = []
            for _ in range(min(args.samples, 500)):
                t = time.perf_counter()
                item = claim_next(project, stage, verifier.id, lease_seconds=600)
                times.append(time.perf_counter() - t)
                assert item is not None
            claims[s.STAGES[stage]] = percentiles(times)
        figures["claim_next"] = {**claims, "target_ms": 10.0}
        figures["sqlite_synchronous"] = "NORMAL"
        project.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

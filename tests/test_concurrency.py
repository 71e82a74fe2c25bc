"""Four processes claim and answer items of one project at the same time: SQLite, and
PostgreSQL when LONGTAIL_TEST_POSTGRES_URL names a server (as tests/test_postgres.py)."""

from __future__ import annotations

import multiprocessing
import os
import random
import uuid
from concurrent.futures import ProcessPoolExecutor

import pytest
import skips
from conftest import make_image
from sqlalchemy import create_engine, text
from team_support import check_queues_drained, drop_database

from pipeline.federated import project_labels, project_violations
from pipeline.images import add_image_folder
from pipeline.simulate import run_worker
from pipeline.stages import Pipeline
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.settings import ProjectSettings
from pipeline.vocabulary import Category, add_categories

NAMES = ("cat", "dog", "bird", "cup", "car", "tree")
W, H = 100, 80


def synthetic_truth(files: list[str], rng: random.Random) -> dict:
    """A COCO document: each image has 1-3 categories with 1-2 box-shaped instances."""
    images, annotations = [], []
    for image_id, name in enumerate(files, 1):
        images.append({"id": image_id, "file_name": name, "width": W, "height": H})
        for category_id in rng.sample(range(1, len(NAMES) + 1), rng.randint(1, 3)):
            for _ in range(rng.randint(1, 2)):
                x, y = rng.uniform(0, W - 30), rng.uniform(0, H - 30)
                w, h = rng.uniform(8, 28), rng.uniform(8, 28)
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": category_id,
                        "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                        "bbox": [x, y, w, h],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
    categories = [{"id": i, "name": n} for i, n in enumerate(NAMES, 1)]
    return {"images": images, "annotations": annotations, "categories": categories}


SETTINGS = ProjectSettings(
    verifiers_per_segment=2,
    reject_votes_to_redo=1,
    negatives_per_category=3,
    negative_candidates_per_image=2,
)


def run_four_workers(project: Project, target: str, truth: dict) -> None:
    """Seed, let four worker processes empty every queue, and check the outcome."""
    Pipeline(project).seed()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        futures = [
            pool.submit(run_worker, target, truth, f"worker-{k}", noise="sloppy", seed=k)
            for k in range(4)
        ]
        reports = [f.result(timeout=240) for f in futures]

    assert all(r.answered for r in reports), "every worker got work"
    check_queues_drained(project, reports)
    # the result is still right
    assert not project_violations(project)
    labels = project_labels(project)
    truth_cats: dict[int, set[int]] = {}
    for a in truth["annotations"]:
        truth_cats.setdefault(a["image_id"], set()).add(a["category_id"])
    assert {i: got.positive_category_ids for i, got in labels.items()} == truth_cats
    for image_id, label in labels.items():
        assert not label.negative_category_ids & truth_cats[image_id]


def test_four_processes_answer_every_item_exactly_once(tmp_path):
    files = [f"im{i:02d}.png" for i in range(12)]
    for i, name in enumerate(files):
        make_image(tmp_path / "images" / name, W, H, color=(i * 20, 80, 120))
    truth = synthetic_truth(files, random.Random(7))
    with Project.create(tmp_path / "project", settings=SETTINGS) as project:
        add_categories(project, [Category(n) for n in NAMES])
        add_image_folder(project, tmp_path / "images")
        run_four_workers(project, str(project.folder), truth)


POSTGRES = os.environ.get("LONGTAIL_TEST_POSTGRES_URL")


@pytest.mark.skipif(not POSTGRES, reason=skips.POSTGRES)
def test_four_processes_on_postgresql():
    pytest.importorskip("psycopg")
    name = f"longtail_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        POSTGRES.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES.rsplit("/", 1)[0] + "/" + name
    try:
        files = [f"im{i:02d}.png" for i in range(12)]
        truth = synthetic_truth(files, random.Random(11))
        with Project.create(url, settings=SETTINGS) as project:
            add_categories(project, [Category(n) for n in NAMES])
            with project.write() as conn:  # the scripted annotators never read pixels
                conn.execute(
                    s.images.insert(),
                    [
                        {
                            "path": f"/nowhere/{f}",
                            "file_name": f,
                            "width": W,
                            "height": H,
                            "split": "train",
                            "created_at": 0.0,
                        }
                        for f in files
                    ],
                )
            run_four_workers(project, url, truth)
    finally:
        with admin.connect() as conn:
            drop_database(conn, name)  # and the project's group roles
        admin.dispose()

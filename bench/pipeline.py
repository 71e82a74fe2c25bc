"""Pipeline benchmark: claims per stage and simulate throughput on a 20,000-image project.

The project is built directly in the database, a fifth of the images in each state so
that every stage has a long queue: untouched (stage 1), categories spotted (stage 2),
instances marked (stage 3), segments waiting for verification (stage 4), everything
accepted and spotting finished (stages 5 and 6), with the 1203 LVIS categories. Then
``Pipeline.seed`` opens the queues.

Reports (JSON on stdout):

- ``claim_ms``: :meth:`Pipeline.next_item` (the claim transaction and the view the
  annotator sees), per stage, median and p95, with 1 worker and with 4 worker
  processes claiming at once (each holds what it claimed, so every claim takes a new
  item);
- ``claim_only_ms``: the claim transaction alone, 1 worker;
- ``simulate``: :func:`pipeline.simulate.simulate` (3 scripted annotators in one
  process, downstream stages first) for ``--answers`` answers: answers per second;
- ``answers_by_stage``: scripted answers (claim, view, answer) of each stage in turn,
  by 1 process and by 4 processes at once: answers per second and per-answer times;
- ``negative_round_ms``: sampling one image's round of negative candidates (part of
  the answer that finishes the image's spotting);
- ``query_plans``: SQLite's EXPLAIN QUERY PLAN of each stage's claim query.

Run: ``.venv/bin/python bench/pipeline.py [--images N] [--claims N] [--answers N]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import or_, select  # noqa: E402

from pipeline.annotations import segment_values  # noqa: E402
from pipeline.errors import ConflictError  # noqa: E402
from pipeline.masks.geometry import Mask  # noqa: E402
from pipeline.simulate import ScriptedAnnotator, load_truth, noise_profile, simulate  # noqa: E402
from pipeline.stages import Pipeline  # noqa: E402
from pipeline.stages.journal import Journal  # noqa: E402
from pipeline.stages.negatives import sample_round  # noqa: E402
from pipeline.stages.verification import claim_filter  # noqa: E402
from pipeline.store import schema as s  # noqa: E402
from pipeline.store.database import Project, now  # noqa: E402
from pipeline.store.settings import ProjectSettings  # noqa: E402
from pipeline.store.workqueue import claim_next  # noqa: E402
from pipeline.vocabulary import add_categories, shipped_vocabulary  # noqa: E402

WIDTH, HEIGHT = 640, 480
STATES = ("untouched", "spotted", "marked", "segmented", "accepted")


def synthetic_truth(categories: dict[int, str], n_images: int, seed: int) -> dict[str, Any]:
    """A COCO document: 1-3 categories per image, 1-3 box instances each (Zipf-ish
    category frequencies, so that the vocabulary has a long tail)."""
    rng = np.random.default_rng(seed)
    category_ids = sorted(categories)
    weights = 1.0 / np.arange(1, len(category_ids) + 1)
    weights /= weights.sum()
    images, annotations = [], []
    for image_id in range(1, n_images + 1):
        images.append(
            {"id": image_id, "file_name": f"{image_id:06d}.jpg", "width": WIDTH, "height": HEIGHT}
        )
        n_categories = int(rng.integers(1, 4))
        chosen = rng.choice(len(category_ids), size=n_categories, replace=False, p=weights)
        for index in chosen:
            for _ in range(int(rng.integers(1, 4))):
                w, h = float(rng.uniform(20, 120)), float(rng.uniform(20, 120))
                x, y = float(rng.uniform(0, WIDTH - w)), float(rng.uniform(0, HEIGHT - h))
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": category_ids[int(index)],
                        "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                        "bbox": [x, y, w, h],
                        "iscrowd": 0,
                    }
                )
    names = [{"id": c, "name": categories[c]} for c in category_ids]
    return {"images": images, "annotations": annotations, "categories": names}


def build(project: Project, truth: dict[str, Any]) -> dict[str, Any]:
    """Store the images, and each fifth of them in one of STATES (module docstring)."""
    t0 = time.perf_counter()
    annotator = project.annotator("builder")
    created = now()
    by_image: dict[int, list[dict]] = {}
    for a in truth["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    n = len(truth["images"])
    rows: dict[str, list[dict]] = {k: [] for k in ("images", "visits", "spots", "pairs", "done")}
    instances, segments = [], []
    for im in truth["images"]:
        image_id = im["id"]
        state = STATES[min(4, (image_id - 1) * 5 // n)]
        rows["images"].append(
            {
                "id": image_id,
                "path": f"images/{im['file_name']}",
                "file_name": im["file_name"],
                "width": WIDTH,
                "height": HEIGHT,
                "split": "train",
                "created_at": created,
            }
        )
        if state == "untouched":
            continue
        anns = by_image[image_id]
        categories = sorted({a["category_id"] for a in anns})
        rows["visits"].append(
            {
                "id": image_id,
                "image_id": image_id,
                "annotator_id": annotator.id,
                "nothing_new": False,
                "created_at": created,
            }
        )
        for c in categories:
            first = next(a for a in anns if a["category_id"] == c)
            x, y, w, h = first["bbox"]
            rows["spots"].append(
                {
                    "image_id": image_id,
                    "category_id": c,
                    "annotator_id": annotator.id,
                    "visit_id": image_id,
                    "x": x + w / 2,
                    "y": y + h / 2,
                    "created_at": created,
                }
            )
            rows["pairs"].append(
                {
                    "image_id": image_id,
                    "category_id": c,
                    "state": s.SPOTTED if state == "spotted" else s.CONFIRMED,
                    "exhaustive": None,
                    "source": s.SOURCE_PIPELINE,
                    "updated_at": created,
                }
            )
        if state == "spotted":
            continue
        if state == "accepted":
            rows["done"].append({"image_id": image_id, "reason": "visits", "finished_at": created})
        for a in anns:
            x, y, w, h = a["bbox"]
            instance_id = len(instances) + 1
            status = {"marked": s.MARKED, "segmented": s.SEGMENTED, "accepted": s.ACCEPTED}[state]
            instances.append(
                {
                    "id": instance_id,
                    "image_id": image_id,
                    "category_id": a["category_id"],
                    "annotator_id": annotator.id,
                    "x": x + w / 2,
                    "y": y + h / 2,
                    "box_x": x,
                    "box_y": y,
                    "box_w": w,
                    "box_h": h,
                    "status": status,
                    "is_crowd": False,
                    # accepted ones count as imported: the simulate summary leaves them out
                    "source": s.SOURCE_IMPORTED if state == "accepted" else s.SOURCE_PIPELINE,
                    "created_at": created,
                }
            )
            if state == "marked":
                continue
            mask = Mask.from_coco(a["segmentation"], HEIGHT, WIDTH)
            segments.append(
                {
                    "instance_id": instance_id,
                    "version": 1,
                    "annotator_id": annotator.id,
                    "status": s.PENDING if state == "segmented" else s.SEGMENT_ACCEPTED,
                    "tool": "polygon",
                    "source": s.SOURCE_PIPELINE,
                    "created_at": created,
                    **segment_values(mask),
                }
            )
    with project.write() as conn:
        conn.execute(s.images.insert(), rows["images"])
        conn.execute(s.spot_visits.insert(), rows["visits"])
        conn.execute(s.spots.insert(), rows["spots"])
        conn.execute(s.image_categories.insert(), rows["pairs"])
        conn.execute(s.spotting_finished.insert(), rows["done"])
        conn.execute(s.instances.insert(), instances)
        conn.execute(s.segments.insert(), segments)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    report = Pipeline(project).seed()
    seed_s = time.perf_counter() - t1
    raw = project.engine.raw_connection()
    raw.execute("ANALYZE")
    raw.close()
    return {
        "build_s": round(build_s, 1),
        "seed_s": round(seed_s, 2),
        "opened": {str(k): v for k, v in report.opened.items()},
        "instances": len(instances),
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {
        "median": round(float(np.median(ms)), 2),
        "p95": round(float(np.percentile(ms, 95)), 2),
        "n": len(samples),
    }


def claim_worker(folder: str, name: str, claims: int, barrier: Any) -> dict[int, list[float]]:
    """Claim ``claims`` items of every stage with next_item; the seconds each took."""
    times: dict[int, list[float]] = {}
    with Project.open(folder) as project:
        service = Pipeline(project)
        who = service.annotator(name)
        if barrier is not None:
            barrier.wait()
        for stage in sorted(s.STAGES):
            times[stage] = []
            for _ in range(claims):
                t = time.perf_counter()
                item = service.next_item(stage, who)
                times[stage].append(time.perf_counter() - t)
                if item is None:
                    break
    return times


def answer_worker(
    folder: str, truth: dict[str, Any], name: str, per_stage: int, barrier: Any
) -> dict[str, Any]:
    """Answer ``per_stage`` items of each stage as a scripted annotator (claim, view,
    answer); the seconds each answer took, by stage, and the wall-clock span."""
    with Project.open(folder) as project:
        known = load_truth(truth, project)
        service = Pipeline(project)
        settings = project.settings()
        scripted = ScriptedAnnotator(
            known, noise_profile("none"), random.Random(name), [], settings.verify_min_iou
        )
        who = service.annotator(name, is_bot=True)
        if barrier is not None:
            barrier.wait()
        began = time.time()
        times: dict[int, list[float]] = {}
        for stage in (
            s.NEGATIVES,
            s.EXHAUSTIVE,
            s.VERIFICATION,
            s.SEGMENTATION,
            s.MARKING,
            s.SPOTTING,
        ):
            times[stage] = []
            for _ in range(per_stage):
                t = time.perf_counter()
                item = service.next_item(stage, who)
                if item is None:
                    break
                answer, effort = scripted.answer(item)
                try:
                    service.answer(item, answer, effort=effort)
                except ConflictError:
                    continue
                times[stage].append(time.perf_counter() - t)
        return {"times": times, "began": began, "ended": time.time()}


def throughput(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Answers per second over the workers' common span, and per-stage answer times."""
    span = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    answers = sum(len(v) for r in reports for v in r["times"].values())
    per_stage = {}
    for stage in sorted(s.STAGES):
        samples = [t for r in reports for t in r["times"].get(stage, [])]
        if samples:
            per_stage[str(stage)] = {
                "answer_ms": percentiles(samples),
                "answers_per_s_per_worker": round(1 / statistics.median(samples), 1),
            }
    return {
        "answers": answers,
        "seconds": round(span, 2),
        "answers_per_s": round(answers / span, 1),
        "per_stage": per_stage,
    }


def _queued_answers(results: Any, *args: Any) -> None:
    results.put(answer_worker(*args))


def _queued(results: Any, *args: Any) -> None:
    results.put(claim_worker(*args))


def claim_only(project: Project, claims: int) -> dict[str, dict]:
    who = project.annotator("claim-only")
    out = {}
    for stage in sorted(s.STAGES):
        where = claim_filter(who.id) if stage == s.VERIFICATION else None
        times = []
        for _ in range(claims):
            t = time.perf_counter()
            claim_next(project, stage, who.id, where=where)
            times.append(time.perf_counter() - t)
        out[str(stage)] = percentiles(times)
    return out


def negative_round_ms(project: Project, image_ids: list[int]) -> dict[str, float]:
    """One round of negative candidates for one image (what the answer that finishes an
    image's spotting adds), each in a transaction that is rolled back."""
    settings = project.settings()
    times = []
    for image_id in image_ids:
        with project.engine.connect() as conn:
            transaction = conn.begin()
            t = time.perf_counter()
            sample_round(Journal(conn, record=False), settings, [image_id])
            times.append(time.perf_counter() - t)
            transaction.rollback()
    return percentiles(times)


def query_plans(project: Project) -> dict[str, list[str]]:
    wi = s.work_items
    who = project.annotator("explain")
    plans = {}
    with project.read() as conn:
        for stage in sorted(s.STAGES):
            conditions = [
                wi.c.stage == stage,
                wi.c.status == s.OPEN,
                or_(wi.c.excluded_annotator.is_(None), wi.c.excluded_annotator != who.id),
            ]
            if stage == s.VERIFICATION:
                conditions.append(claim_filter(who.id))
            query = select(wi.c.id).where(*conditions).order_by(wi.c.priority, wi.c.id).limit(1)
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            plans[str(stage)] = [r[-1] for r in rows]
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--claims", type=int, default=200, help="claims per stage per worker")
    parser.add_argument("--answers", type=int, default=1500, help="answers per simulate run")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dir", default=None, help="where to build (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    figures: dict[str, Any] = {"images": args.images}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp) / "bench-project"
        project = Project.create(folder, settings=ProjectSettings(negatives_per_category=50))
        add_categories(project, shipped_vocabulary("lvis"))
        with project.read() as conn:
            categories = dict(conn.execute(select(s.categories.c.id, s.categories.c.name)).all())
        figures["categories"] = len(categories)
        truth = synthetic_truth(categories, args.images, args.seed)
        figures["truth_instances"] = len(truth["annotations"])
        figures.update(build(project, truth))
        figures["queues"] = {str(k): v.open for k, v in Pipeline(project).progress().items()}
        print("built", file=sys.stderr)

        one = claim_worker(str(folder), "solo", args.claims, None)
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(args.workers)
        results = context.Queue()
        workers = [
            context.Process(
                target=_queued, args=(results, str(folder), f"w{k}", args.claims, barrier)
            )
            for k in range(args.workers)
        ]
        for w in workers:
            w.start()
        many = [results.get(timeout=600) for _ in workers]
        for w in workers:
            w.join()
        figures["claim_ms"] = {
            "1_worker": {str(k): percentiles(v) for k, v in one.items()},
            f"{args.workers}_workers": {
                str(k): percentiles([t for m in many for t in m[k]]) for k in one
            },
        }
        figures["claim_only_ms"] = {"1_worker": claim_only(project, args.claims)}
        figures["query_plans"] = query_plans(project)
        figures["negative_round_ms"] = negative_round_ms(project, list(range(1, 101)))
        print("claims measured", file=sys.stderr)

        # simulate: scripted annotators through the whole API, on the same project
        summary = simulate(project, truth, annotators=3, max_answers=args.answers, seed=1)
        figures["simulate"] = {
            "processes": 1,
            "answers": summary.total_answers,
            "seconds": summary.elapsed_s,
            "answers_per_s": round(summary.answers_per_s, 1),
            "per_stage": {str(k): v for k, v in summary.answers.items()},
        }
        per_stage = max(1, args.answers // 6)
        solo = answer_worker(str(folder), truth, "answer-solo", per_stage, None)
        figures["answers_by_stage"] = {"1_worker": throughput([solo])}
        barrier = context.Barrier(args.workers)
        workers = [
            context.Process(
                target=_queued_answers,
                args=(results, str(folder), truth, f"answer-w{k}", per_stage, barrier),
            )
            for k in range(args.workers)
        ]
        for w in workers:
            w.start()
        parallel = [results.get(timeout=900) for _ in workers]
        for w in workers:
            w.join()
        figures["answers_by_stage"][f"{args.workers}_workers"] = throughput(parallel)
        project.close()
    figures["note"] = (
        "next_item = claim transaction + building the annotator's view; "
        "machine: 2 shared cores, SQLite WAL synchronous=NORMAL"
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

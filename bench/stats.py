"""Statistics and explorer benchmark on the 100k-image / 1M-segment store of bench/store.py.

Builds (once, kept under ``--dir``) the store of ``bench/store.py`` and then gives it a
history: 90 % of the segments accepted and 5 % rejected (with verdicts), a confirmed
pair per (image, category) with its stage-5 answer, three verified negatives per image,
a stage-1 visit per image, and an answer event for each of these (about 4.4M events
spread over 30 days, eight annotators, three segmentation tools).

Reports (JSON on stdout): the time to compute every statistic (target <= 10 s), to
draw the plots, the explorer's first page of thumbnails (the image query plus decoding
the page's thumbnails; target <= 300 ms) and each explorer filter (target <= 200 ms).
Run: ``.venv/bin/python bench/stats.py [--images N] [--dir /tmp/longtail-stats-bench]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from pipeline.store import schema as s  # noqa: E402
from pipeline.store.database import Project  # noqa: E402

TOOLS = ("polygon", "proposal", "brush")
DAY = 86_400.0


def _store_bench():
    """bench/store.py as a module (bench/ is not a package)."""
    path = Path(__file__).with_name("store.py")
    spec = importlib.util.spec_from_file_location("bench_store", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def give_history(project: Project, seed: int = 0) -> dict:
    """The answers, verdicts, pairs and events a curated project of this size would hold
    (see the module docstring). Raw SQLite: the ORM would take minutes for 4M rows."""
    rng = random.Random(seed)
    raw = project.engine.raw_connection()
    db = raw.driver_connection
    t0 = time.perf_counter()
    start = time.time() - 30 * DAY
    db.execute("BEGIN IMMEDIATE")
    people = []
    for k in range(8):
        cur = db.execute(
            "INSERT INTO annotators (name, is_bot, created_at, role) VALUES (?, 0, ?, 'annotator')",
            (f"annotator-{k + 1}", start),
        )
        people.append(cur.lastrowid)
    n_images = db.execute("SELECT count(*) FROM images").fetchone()[0]
    n_segments = db.execute("SELECT count(*) FROM segments").fetchone()[0]

    def at(fraction: float) -> float:
        return start + fraction * 30 * DAY + rng.random() * 3600

    # segments: id % 20 == 0 rejected (instance redo), id % 20 == 10 pending, others accepted
    db.execute(
        "UPDATE segments SET status = CASE WHEN id % 20 = 0 THEN 'rejected' "
        "WHEN id % 20 = 10 THEN 'pending' ELSE 'accepted' END, "
        "tool = CASE id % 3 WHEN 0 THEN 'polygon' WHEN 1 THEN 'proposal' ELSE 'brush' END"
    )
    db.execute(
        "UPDATE instances SET status = CASE WHEN id % 20 = 0 THEN 'redo' "
        "WHEN id % 20 = 10 THEN 'segmented' ELSE 'accepted' END"
    )
    # each item done by the annotator whose answer event is generated below
    db.execute(
        "UPDATE work_items SET status = 'done', done_at = created_at + 3600, "
        "done_by = ? + segment_id % 7 WHERE stage = 4 AND segment_id % 20 != 10",
        (people[1],),
    )
    db.execute(
        "UPDATE work_items SET status = 'done', done_at = created_at + 60, "
        "done_by = ? + image_id % 8 WHERE stage = 1",
        (people[0],),
    )

    def rows_verdicts():
        for sid in range(1, n_segments + 1):
            if sid % 20 == 10:
                continue
            yield (sid, people[sid % 7 + 1], sid % 20 != 0, None, at(sid / n_segments))

    db.executemany(
        "INSERT INTO verdicts (segment_id, annotator_id, accept, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        rows_verdicts(),
    )
    pairs = db.execute(
        "SELECT image_id, category_id FROM instances GROUP BY image_id, category_id"
    ).fetchall()
    n_categories = db.execute("SELECT max(id) FROM categories").fetchone()[0]
    db.executemany(
        "INSERT INTO image_categories (image_id, category_id, state, exhaustive, source, "
        "updated_at) VALUES (?, ?, 'confirmed', ?, 'pipeline', ?)",
        ((i, c, (i + c) % 9 != 0, start) for i, c in pairs),
    )
    present = set(pairs)
    negatives = []
    for image_id in range(1, n_images + 1):
        for _ in range(3):
            c = rng.randint(1, n_categories)
            if (image_id, c) not in present:
                present.add((image_id, c))
                negatives.append((image_id, c))
    db.executemany(
        "INSERT INTO image_categories (image_id, category_id, state, exhaustive, source, "
        "updated_at) VALUES (?, ?, 'negative', NULL, 'pipeline', ?)",
        ((i, c, start) for i, c in negatives),
    )
    db.executemany(
        "INSERT INTO exhaustive_checks (image_id, category_id, annotator_id, all_segmented, "
        "created_at) VALUES (?, ?, ?, ?, ?)",
        ((i, c, people[(i + c) % 8], (i + c) % 9 != 0, at(i / n_images)) for i, c in pairs),
    )
    db.executemany(
        "INSERT INTO negative_checks (image_id, category_id, annotator_id, present, created_at) "
        "VALUES (?, ?, ?, 0, ?)",
        ((i, c, people[i % 8], at(i / n_images)) for i, c in negatives),
    )

    def events():
        # (at, annotator_id, stage, image_id, category_id, duration_s, clicks, payload,
        # tool): the tool column (schema version 5) for segmentation answers only
        for image_id in range(1, n_images + 1):
            yield (
                at(image_id / n_images * 0.3),
                people[image_id % 8],
                1,
                image_id,
                None,
                rng.uniform(5, 20),
                rng.randint(1, 12),
                '{"answer": {"nothing_new": false}}',
                None,
            )
        for i, c in pairs:
            yield (
                at(i / n_images * 0.5),
                people[(i * 3 + c) % 8],
                2,
                i,
                c,
                rng.uniform(3, 12),
                rng.randint(1, 9),
                '{"answer": {"category_fits": true}}',
                None,
            )
        for sid in range(1, n_segments + 1):
            image_id = (sid - 1) // 10 + 1
            tool = TOOLS[sid % 3]
            yield (
                at(image_id / n_images * 0.8),
                people[sid % 8],
                3,
                image_id,
                None,
                rng.uniform(4, 40) * (0.4 if tool == "proposal" else 1.0),
                rng.randint(2, 40),
                f'{{"answer": {{"tool": "{tool}", "segment_id": {sid}}}}}',
                tool,
            )
            if sid % 20 != 10:
                yield (
                    at(image_id / n_images * 0.9),
                    people[sid % 7 + 1],
                    4,
                    image_id,
                    None,
                    rng.uniform(1, 4),
                    1,
                    f'{{"answer": {{"accept": {"false" if sid % 20 == 0 else "true"}}}}}',
                    None,
                )
        for i, c in pairs:
            yield (
                at(0.5 + i / n_images * 0.5),
                people[(i + c) % 8],
                5,
                i,
                c,
                rng.uniform(2, 8),
                1,
                f'{{"answer": {{"all_segmented": {"true" if (i + c) % 9 else "false"}}}}}',
                None,
            )
        for i, c in negatives:
            yield (
                at(0.5 + i / n_images * 0.5),
                people[i % 8],
                6,
                i,
                c,
                rng.uniform(1, 3),
                1,
                '{"answer": {"present": false}}',
                None,
            )

    db.executemany(
        "INSERT INTO events (at, annotator_id, stage, action, image_id, category_id, "
        "duration_s, clicks, payload, tool) VALUES (?, ?, ?, 'answer', ?, ?, ?, ?, ?, ?)",
        events(),
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n_events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    raw.close()
    return {
        "history_s": round(time.perf_counter() - t0, 1),
        "events": n_events,
        "pairs": len(pairs),
        "negatives": len(negatives),
    }


def ensure_project(folder: Path, n_images: int, seed: int) -> tuple[Project, dict]:
    """The benchmark project in ``folder``: built on the first run, reused afterwards."""
    done = folder / "built.json"
    if done.is_file():
        return Project.open(folder), json.loads(done.read_text())
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    project = Project.create(folder)
    figures = _store_bench().build(project, n_images, 10, 20, seed)
    figures.update(give_history(project, seed))
    _write_page_images(project, 200)
    done.write_text(json.dumps(figures))
    return project, figures


def _write_page_images(project: Project, count: int) -> None:
    """Real JPEG files for the first images (the store's paths point at none): the
    explorer's first page decodes these."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with project.read() as conn:
        rows = conn.execute(
            s.images.select()
            .with_only_columns(s.images.c.path)
            .order_by(s.images.c.id)
            .limit(count)
        ).scalars()
        paths = [project.resolve(p) for p in rows]
    base = rng.integers(0, 255, (480 // 8, 640 // 8, 3), dtype=np.uint8)
    for k, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = np.kron(np.roll(base, k, axis=0), np.ones((8, 8, 1), np.uint8))
        Image.fromarray(picture).save(path, quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--dir", default="/tmp/longtail-stats-bench")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    folder = Path(args.dir) / f"project-{args.images}"
    project, built = ensure_project(folder, args.images, args.seed)
    if args.build_only:
        print(json.dumps(built, indent=2))
        return
    figures = {"store": built, **measure(project)}
    project.close()
    print(json.dumps(figures, indent=2))


def _timed(work, repeat: int = 1) -> tuple[float, object]:
    """Median wall seconds of ``repeat`` runs of ``work()`` and its last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], result


def _cpu(work, repeat: int = 1) -> float:
    """Median CPU seconds of this process (SQLite runs in it) for ``work()``: close to
    the wall time on an idle machine, when a loaded one stretches the wall time."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        work()
        times.append(time.process_time() - t)
    return sorted(times)[len(times) // 2]


def measure(project: Project, page: int = 48) -> dict:
    """Statistics, plots, the explorer's first page and its filters (see the docstring)."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline import explorer as ex
    from pipeline.stats import compute_stats
    from pipeline.stats.eventcache import forget
    from pipeline.stats.plots import PLOTS, png_bytes

    forget(project)  # the first run reads the whole event log
    figures: dict = {}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t0, c0 = time.perf_counter(), time.process_time()
    stats = compute_stats(project)
    total, cpu_total = time.perf_counter() - t0, time.process_time() - c0
    figures["statistics"] = {
        "all_s": round(total, 2),
        # CPU seconds of every thread (SQLite runs in them): the work an idle machine
        # would spread over its cores; a loaded one stretches the wall time instead
        "all_cpu_s": round(cpu_total, 2),
        "target_s": 10.0,
        "load_average_1min": load,
        "threads": min(4, os.cpu_count() or 1),
        "events": int(sum(r.answers for r in stats.effort.by_stage.values())),
        "accepted_instances": stats.shape.instances,
    }
    warm, _ = _timed(lambda: compute_stats(project))
    figures["statistics"]["again_cpu_s"] = round(_cpu(lambda: compute_stats(project)), 2)
    # a refresh: the effort sums are kept, only new events are read (there are none here)
    figures["statistics"]["again_s"] = round(warm, 2)
    t = time.perf_counter()
    for plot in PLOTS:
        png_bytes(plot.draw(stats))
    figures["plots_png_s"] = round(time.perf_counter() - t, 2)

    def first_page() -> int:
        # what the explorer does on opening: the first page's ids, records, thumbnails
        with project.read() as conn:
            records = ex.image_page(conn, ex.first_image_ids(conn, page), 0, page)
        paths = [project.resolve(r.path) for r in records]
        with ThreadPoolExecutor(2) as pool:  # the explorer's thumbnail pool has two threads
            return len(list(pool.map(ex.thumbnail, paths)))

    with project.read() as conn:
        query_s, _ = _timed(lambda: ex.image_page(conn, ex.first_image_ids(conn, page), 0, page), 5)
        all_ids_s, _ = _timed(lambda: ex.filter_images(conn, ex.ImageFilter()), 3)
    first_s, shown = _timed(first_page, 5)
    first_cpu = _cpu(first_page, 5)
    figures["explorer_first_page"] = {
        "thumbnails": shown,
        "query_ms": round(1000 * query_s, 1),
        "all_ids_ms": round(1000 * all_ids_s, 1),  # the whole list, read behind the page
        "with_thumbnails_ms": round(1000 * first_s, 1),
        "with_thumbnails_cpu_ms": round(1000 * first_cpu, 1),  # two threads: wall ~ half
        "target_ms": 300.0,
    }
    with project.read() as conn:
        counts = dict(
            conn.execute(
                select(s.instances.c.category_id, func.count()).group_by(s.instances.c.category_id)
            ).all()
        )
        people = list(
            conn.execute(
                select(s.annotators.c.id).where(s.annotators.c.name.like("annotator-%"))
            ).scalars()
        )
    common = max(counts, key=counts.get)
    rare = min(counts, key=counts.get)
    filters = {
        "category_present_common": ex.ImageFilter(category_id=common, category_state=ex.PRESENT),
        "category_present_rare": ex.ImageFilter(category_id=rare, category_state=ex.PRESENT),
        "category_absent": ex.ImageFilter(category_id=common, category_state=ex.ABSENT),
        "present_any_category": ex.ImageFilter(category_state=ex.PRESENT),
        "category_not_exhaustive": ex.ImageFilter(
            category_id=common, category_state=ex.NOT_EXHAUSTIVE
        ),
        "waiting_in_spotting": ex.ImageFilter(stage=s.SPOTTING),
        "waiting_in_verification": ex.ImageFilter(stage=s.VERIFICATION),
        "no_work_waiting": ex.ImageFilter(stage=ex.NO_WORK),
        "annotator": ex.ImageFilter(annotator_id=people[0] if people else 1),
        "has_rejections": ex.ImageFilter(has_rejections=True),
        "annotator_and_rejections_and_category": ex.ImageFilter(
            category_id=common, annotator_id=people[0] if people else 1, has_rejections=True
        ),
    }
    results = {}
    with project.read() as conn:
        for name, chosen in filters.items():
            seconds, found = _timed(lambda chosen=chosen: ex.filter_images(conn, chosen), 3)
            cpu = _cpu(lambda chosen=chosen: ex.filter_images(conn, chosen), 3)
            results[name] = {
                "ms": round(1000 * seconds, 1),
                "cpu_ms": round(1000 * cpu, 1),
                "images": int(len(found)),
            }
        seconds, _ = _timed(lambda: ex.image_history(conn, 5), 5)
    figures["explorer_filters"] = {**results, "target_ms": 200.0}
    figures["explorer_open_image_ms"] = round(1000 * seconds, 1)
    return figures


if __name__ == "__main__":
    main()

"""Team-mode benchmark: claim latency with 1 and 8 workers, PostgreSQL against SQLite, and
the time to migrate the store of ``bench/store.py`` between them.

Reports (JSON on stdout):

- ``claim_ms``: :meth:`Pipeline.next_item` (the claim transaction, with the role check,
  and the view the annotator sees) for stage 1 (spotting) and stage 4 (verification: the
  role check and the own-segment rule run), median and p95, with 1 worker and with 8
  worker processes claiming at once; every worker holds what it claims, so each claim
  takes a new item. Per backend: ``sqlite`` and, where a server is given, ``postgresql``.
  The project: ``--claim-images`` images of bench/store.py's kind (one segment each,
  LVIS vocabulary), roles in force (an admin; the workers are verifiers).
- ``policies``: the team security's cost (issue 17): claim and answer latency (stage 4,
  median and p95) of verifier logins with the row-level security policies and the
  work-queue trigger on, against the same project with them off, with 1 and 8 worker
  processes, and ``ratio`` = on / off (target: at most 1.2). ``--policy-claims`` per worker.
- ``migrate``: the 100k-image / 1M-segment store of bench/store.py (``--store-images``,
  ``--per-image``), built once under ``--store-dir`` and reused, copied SQLite ->
  PostgreSQL and back: seconds, rows per second, the copy/verify split, this process's
  CPU seconds and its peak resident memory. ``--store PATH`` migrates a project that is
  already built (e.g. bench/stats.py's) instead: nothing is built and it is only read.

Run: ``.venv/bin/python bench/team.py [--postgres URL] [--store-images N | --store PATH]``; the server
defaults to $LONGTAIL_TEST_POSTGRES_URL. Each database made on the server is dropped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench.store import build, built_store, server_database  # noqa: E402
from pipeline.stages import Pipeline  # noqa: E402
from pipeline.store import schema as s  # noqa: E402
from pipeline.store.database import DB_NAME, Project  # noqa: E402
from pipeline.store.transfer import migrate  # noqa: E402
from pipeline.team import roles  # noqa: E402

STAGES = (s.SPOTTING, s.VERIFICATION)


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "claims": len(samples),
    }


# ---------------------------------------------------------------- claim latency


def claim_project(target: str, images: int, workers: int) -> None:
    with Project.create(target) as project:
        build(project, images, 1, 12, seed=1)
        roles.add_member(project, "boss", roles.ADMIN)
        for k in range(workers):
            roles.add_member(project, f"worker-{k}", roles.VERIFIER, by="boss")
        if project.is_sqlite:
            raw = project.engine.raw_connection()
            raw.execute("ANALYZE")
            raw.close()
        else:
            with project.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("ANALYZE"))


def claimer(target: str, name: str, claims: int, start: Any) -> dict[int, list[float]]:
    """Claim ``claims`` items of each stage in turn, holding them; the seconds each took."""
    with Project.open(target) as project:
        service = Pipeline(project)
        who = service.annotator(name)
        service.next_item(s.SPOTTING, who)  # warm the connection pool and the caches
        start.wait()
        times: dict[int, list[float]] = {}
        for stage in STAGES:
            times[stage] = []
            for _ in range(claims):
                t = time.perf_counter()
                item = service.next_item(stage, who)
                times[stage].append(time.perf_counter() - t)
                assert item is not None, f"stage {stage} ran out of items"
        return times


def at_once(work: Callable[[str, Any], Any], names: list[str]) -> list[Any]:
    """``work(name, start)`` in a forked process per name, all released together by the
    barrier ``start`` (each calls ``start.wait()`` once ready); their results."""
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(len(names)), context.Queue()

    def run(name: str) -> None:
        try:
            results.put(work(name, start))
        except BaseException as exc:
            start.abort()  # the others must not wait for this one
            results.put(exc)
            raise

    processes = [context.Process(target=run, args=(name,)) for name in names]
    for process in processes:
        process.start()
    got = [results.get(timeout=1800) for _ in processes]
    failures = [r for r in got if isinstance(r, BaseException)]
    if failures:
        raise RuntimeError(f"{len(failures)} workers failed: {failures[0]!r}")
    for process in processes:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"a worker failed (exit status {process.exitcode})")
    return got


def claim_latency(target: str, workers: int, claims: int) -> dict[str, Any]:
    names = [f"worker-{k}" for k in range(workers)]
    times = at_once(lambda name, start: claimer(target, name, claims, start), names)
    return {s.STAGES[stage]: percentiles([t for r in times for t in r[stage]]) for stage in STAGES}


def measure_claims(target: str, images: int, claims: int) -> dict[str, Any]:
    figures = {}
    for workers in (1, 8):
        # a fresh project per run, so that both runs start from full queues
        if "://" in target:
            with server_database(target) as url:
                claim_project(url, images, 8)
                figures[f"{workers}_workers"] = claim_latency(url, workers, claims)
        else:
            with tempfile.TemporaryDirectory(dir=target) as tmp:
                folder = str(Path(tmp) / "claims")
                claim_project(folder, images, 8)
                figures[f"{workers}_workers"] = claim_latency(folder, workers, claims)
    return figures


# ---------------------------------------------------------------- policies on and off

POLICY_TABLES = (*s.AUTHORED_TABLES, "events", "drafts", "images", "work_items")


@contextmanager
def policy_database(base: str, images: int, workers: int, policies: bool):
    """A fresh secured project (bench/store.py's kind, one segment per image) with
    ``workers`` verifier logins of unique names; without ``policies`` its row-level
    security and work-queue trigger are switched off and the members granted every table,
    so only the policies' cost differs. Yields {login: URL with its password}; drops the
    database, the logins and the groups after."""
    import psycopg

    suffix = uuid.uuid4().hex[:6]
    logins = {f"bench_{suffix}_{k}": f"pw-{uuid.uuid4().hex[:10]}" for k in range(workers)}
    database = f"longtail_bench_{suffix}"
    url = base.rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
        (oid,) = admin.execute(
            "SELECT oid FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
    group = s.team_group_prefix(oid)
    try:
        with Project.create(url) as project:
            build(project, images, 1, 12, seed=1)
            for name, password in logins.items():
                roles.add_member(project, name, roles.VERIFIER, password=password)
        with psycopg.connect(url) as conn:
            if not policies:
                for table in POLICY_TABLES:
                    conn.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
                conn.execute("DROP TRIGGER longtail_guard ON work_items")
                conn.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{group}annotator"')
            conn.commit()
            conn.autocommit = True
            conn.execute("ANALYZE")
        host = url.split("@", 1)[1]
        yield {name: f"postgresql://{name}:{pw}@{host}" for name, pw in logins.items()}
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            for name in logins:
                admin.execute(f'DROP ROLE IF EXISTS "{name}"')
            for role in roles.ROLES:
                admin.execute(f'DROP ROLE IF EXISTS "{group}{role}"')


def verifier(url: str, name: str, claims: int, start: Any) -> dict[str, list[float]]:
    """Claim and answer ``claims`` verification items as login ``name``; seconds of each."""
    from pipeline.stages import VerifyAnswer

    with Project.open(url) as project:
        service = Pipeline(project)
        who = service.annotator(name)
        service.answer(service.next_item(s.VERIFICATION, who), VerifyAnswer(True))  # warm up
        start.wait()
        times: dict[str, list[float]] = {"claim": [], "answer": []}
        for _ in range(claims):
            t0 = time.perf_counter()
            item = service.next_item(s.VERIFICATION, who)
            t1 = time.perf_counter()
            assert item is not None, "the verification queue ran out"
            service.answer(item, VerifyAnswer(True))
            times["claim"].append(t1 - t0)
            times["answer"].append(time.perf_counter() - t1)
        return times


def policy_latency(urls: dict[str, str], workers: int, claims: int) -> dict[str, list[float]]:
    names = list(urls)[:workers]
    times = at_once(lambda name, start: verifier(urls[name], name, claims, start), names)
    return {k: [x for r in times for x in r[k]] for k in ("claim", "answer")}


def measure_policies(base: str, images: int, claims: int) -> dict[str, Any]:
    """Claim and answer latency of verifier logins (stage 4: the verdict policy, the
    events policy and the work-queue trigger all run) with the policies on and off,
    with 1 and 8 workers; ``ratio``: on / off per p50 and p95 (target: at most 1.2)."""
    figures: dict[str, Any] = {}
    for workers in (1, 8):
        samples: dict[str, dict[str, list[float]]] = {"on": {}, "off": {}}
        # on, off, on, off: the two runs of each share the machine's drift (other load)
        for policies in (True, False, True, False):
            with policy_database(base, images, workers, policies) as urls:
                times = policy_latency(urls, workers, claims)
            for step, values in times.items():
                samples["on" if policies else "off"].setdefault(step, []).extend(values)
        row: dict[str, Any] = {
            mode: {step: percentiles(values) for step, values in steps.items()}
            for mode, steps in samples.items()
        }
        row["ratio"] = {
            step: {
                q: round(row["on"][step][q] / max(row["off"][step][q], 1e-9), 2)
                for q in ("p50_ms", "p95_ms")
            }
            for step in ("claim", "answer")
        }
        figures[f"{workers}_workers"] = row
        print(json.dumps({"policies": {f"{workers}_workers": row}}), file=sys.stderr, flush=True)
    return figures


# ---------------------------------------------------------------- migration


def store_figures(folder: Path, images: int, per_image: int, prebuilt: bool) -> dict[str, Any]:
    """The project in ``folder``: bench/store.py's, built unless a finished one is there,
    or (``prebuilt``) one built elsewhere; its build figures (built.json) and its size."""
    if prebuilt:
        if not (folder / DB_NAME).is_file():
            raise SystemExit(f"--store {folder}: no {DB_NAME} there")
        done = folder / "built.json"
        figures = json.loads(done.read_text()) if done.is_file() else {}
    else:
        figures = built_store(folder, images, per_image)
    figures["db_mb"] = round((folder / DB_NAME).stat().st_size / 2**20, 1)
    return figures


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS mark (VmHWM) of this process, where Linux allows it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb(reset: bool) -> float:
    """This process's peak resident memory: since the last reset where that worked,
    else (ru_maxrss) over its whole life."""
    if reset:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure_migration(
    base: str, folder: Path, images: int, per_image: int, prebuilt: bool = False
) -> dict[str, Any]:
    built = store_figures(folder, images, per_image, prebuilt)
    figures: dict[str, Any] = {"store": built}
    phases: list[tuple[float, int, int]] = []

    def progress(done: int, total: int) -> None:
        phases.append((time.perf_counter(), done, total))

    with server_database(base) as url, tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        for label, source, destination in (
            ("sqlite_to_postgresql", folder, url),
            ("postgresql_to_sqlite", url, Path(tmp) / "back"),
        ):
            phases.clear()
            load = os.getloadavg()[0]
            reset = reset_peak_rss()
            started, cpu = time.perf_counter(), time.process_time()
            report = migrate(source, destination, progress=progress, by="bench")
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            half = next((t for t, done, total in phases if done * 2 >= total), phases[-1][0])
            figures[label] = {
                "seconds": round(seconds, 1),
                "rows": report.rows,
                "rows_per_s": round(report.rows / seconds),
                "copy_s": round(half - started, 1),
                "verify_s": round(seconds - (half - started), 1),
                # this process's CPU time (the server's is not in it), and the machine's
                # load when it started: on shared cores the wall time is mostly waiting
                "cpu_s": round(cpu, 1),
                "load_average": round(load, 1),
                "peak_rss_mb": peak_rss_mb(reset),
                "peak_rss_scope": "this_direction" if reset else "process_lifetime",
            }
            print(json.dumps({label: figures[label]}), file=sys.stderr, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default=os.environ.get("LONGTAIL_TEST_POSTGRES_URL"))
    parser.add_argument("--claim-images", type=int, default=4000)
    parser.add_argument("--claims", type=int, default=200, help="claims per worker and stage")
    parser.add_argument("--store-images", type=int, default=100_000)
    parser.add_argument("--per-image", type=int, default=10, help="segments per image")
    parser.add_argument(
        "--store-dir",
        default=str(Path(tempfile.gettempdir()) / "longtail-bench-store"),
        help="where bench/store.py's project is built once and kept",
    )
    parser.add_argument(
        "--store",
        help="migrate this already-built project folder (only read) instead of building one",
    )
    parser.add_argument(
        "--policy-claims", type=int, default=100, help="claims and answers per worker, policies"
    )
    parser.add_argument(
        "--skip", choices=("claims", "policies", "migrate"), action="append", default=[]
    )
    args = parser.parse_args()

    figures: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if "claims" not in args.skip:
        figures["claim_ms"] = {
            "sqlite": measure_claims(tempfile.gettempdir(), args.claim_images, args.claims)
        }
        if args.postgres:
            figures["claim_ms"]["postgresql"] = measure_claims(
                args.postgres, args.claim_images, args.claims
            )
        print(json.dumps(figures, indent=2), file=sys.stderr)
    if "policies" not in args.skip:
        if not args.postgres:
            figures["policies"] = "skipped: no PostgreSQL server (--postgres URL)"
        else:
            figures["policies"] = measure_policies(
                args.postgres, max(args.claim_images, 9 * args.policy_claims), args.policy_claims
            )
    if "migrate" not in args.skip:
        if not args.postgres:
            figures["migrate"] = "skipped: no PostgreSQL server (--postgres URL)"
        else:
            if args.store:
                store_folder = Path(args.store).resolve()
            else:
                store_folder = Path(args.store_dir) / f"store-{args.store_images}x{args.per_image}"
            figures["migrate"] = measure_migration(
                args.postgres,
                store_folder,
                args.store_images,
                args.per_image,
                prebuilt=bool(args.store),
            )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

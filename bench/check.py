"""``longtail check`` benchmark: the time to check bench/store.py's synthetic project.

Issue 20's target is <= 60 s on the 100,000-image / 1,000,000-segment store. The store
is built once under ``--store-dir`` (``--images`` images, ``--per-image`` segments each)
and reused; the check runs ``--repeat`` times and each layer is timed on its own.

Prints JSON: the store's rows, the seconds of each layer (database integrity, schema,
pipeline rules) and of the whole check, and the seconds per million rows.
Run: ``.venv/bin/python bench/check.py [--images N] [--per-image K]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from bench.store import built_store  # noqa: E402
from pipeline.check import (  # noqa: E402
    check_project,
    database_findings,
    metadata_findings,
    pipeline_findings,
)
from pipeline.store import schema as s  # noqa: E402
from pipeline.store.database import DB_NAME, Project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--store-dir", default=str(Path(tempfile.gettempdir()) / "longtail-bench-migrate")
    )
    args = parser.parse_args()
    folder = Path(args.store_dir) / f"store-{args.images}x{args.per_image}"
    built = built_store(folder, args.images, args.per_image)
    with Project.open(folder, read_only=True) as project:
        with project.read() as conn:
            rows = sum(
                int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in s.metadata.sorted_tables
            )
        layers: dict[str, float] = {}
        for name, layer in (
            ("database_s", lambda c: database_findings(c, 1000)),
            ("schema_s", metadata_findings),
            ("pipeline_s", lambda c: pipeline_findings(c, 1000)),
        ):
            with project.read() as conn:
                started = time.perf_counter()
                layer(conn)
                layers[name] = round(time.perf_counter() - started, 2)
        totals = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            findings = check_project(project)
            totals.append(time.perf_counter() - started)
    best = min(totals)
    print(
        json.dumps(
            {
                "store": built,
                "rows": rows,
                "db_mb": round((folder / DB_NAME).stat().st_size / 2**20, 1),
                "load_average": round(os.getloadavg()[0], 1),
                **layers,
                "check_s": round(best, 2),
                "s_per_million_rows": round(best / rows * 1e6, 2),
                "findings": len(findings),
                "target_s": 60,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

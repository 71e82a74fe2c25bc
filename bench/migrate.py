"""Migrate benchmark: ``longtail migrate`` SQLite -> PostgreSQL against a plain psycopg
COPY of the same rows into the same tables (issue 17's target: at most 1.5x).

The project is bench/store.py's kind (``--images`` images, ``--per-image`` polygon
segments each: 32 rows per image with the work items), built once under
``--store-dir`` and reused. Both runs write into a fresh database on the server; the
baseline creates the same tables (SQLAlchemy ``create_all``), reads every table from the
SQLite file with the sqlite3 module and COPYs the rows in one transaction, once with the
indexes and foreign keys in place and once without them (never rebuilt: the fastest
COPY there is); the ratio is against the faster of the two; ``migrate`` does everything it does for a user
(snapshot, text policy check, COPY with deferred indexes, in-database verification).

Prints JSON: rows, seconds and rows/s of each, and the ratio migrate / COPY.
Run: ``.venv/bin/python bench/migrate.py [--images N] [--postgres URL]``; the server
defaults to $LONGTAIL_TEST_POSTGRES_URL. Each database made on the server is dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine  # noqa: E402

from bench.store import built_store, server_database  # noqa: E402
from pipeline.store import schema as s  # noqa: E402
from pipeline.store.database import DB_NAME  # noqa: E402
from pipeline.store.transfer import _defer_checks, migrate  # noqa: E402


def plain_copy(folder: Path, url: str, *, bare: bool) -> int:
    """Every table's rows, read with sqlite3 and COPYed with psycopg; the rows copied.
    ``bare``: the tables without their indexes and foreign keys (the fastest COPY there
    is; nothing rebuilds them), else with them in place."""
    import psycopg

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    s.metadata.create_all(engine)
    if bare:
        with engine.begin() as conn:
            _defer_checks(conn)
    engine.dispose()
    source = sqlite3.connect(folder / DB_NAME)
    rows = 0
    with psycopg.connect(url) as target, target.cursor() as cursor:
        for table in s.metadata.sorted_tables:
            names = [c.name for c in table.columns]
            quoted = ", ".join(f'"{n}"' for n in names)
            read = source.execute(f'SELECT {quoted} FROM "{table.name}"')
            with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as stream:
                while batch := read.fetchmany(5000):
                    for row in batch:
                        stream.write_row(row)
                    rows += len(batch)
    source.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default=os.environ.get("LONGTAIL_TEST_POSTGRES_URL"))
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument(
        "--store-dir", default=str(Path(tempfile.gettempdir()) / "longtail-bench-migrate")
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("no PostgreSQL server: --postgres URL or $LONGTAIL_TEST_POSTGRES_URL")
    folder = Path(args.store_dir) / f"store-{args.images}x{args.per_image}"
    built = built_store(folder, args.images, args.per_image)
    figures: dict[str, Any] = {"store": built, "cpu_count": os.cpu_count()}
    copy_s, bare_s, migrate_s, rows = [], [], [], 0
    for _ in range(args.repeat):
        with server_database(args.postgres) as url:
            started = time.perf_counter()
            rows = plain_copy(folder, url, bare=False)
            copy_s.append(time.perf_counter() - started)
        with server_database(args.postgres) as url:
            started = time.perf_counter()
            plain_copy(folder, url, bare=True)
            bare_s.append(time.perf_counter() - started)
        with server_database(args.postgres) as url:
            started = time.perf_counter()
            report = migrate(folder, url, by="bench")
            migrate_s.append(time.perf_counter() - started)
            assert report.rows == rows, (report.rows, rows)
    figures.update(
        rows=rows,
        load_average=round(os.getloadavg()[0], 1),
        copy_indexed_s=round(min(copy_s), 2),
        copy_indexed_rows_per_s=round(rows / min(copy_s)),
        copy_bare_s=round(min(bare_s), 2),
        copy_bare_rows_per_s=round(rows / min(bare_s)),
        migrate_s=round(min(migrate_s), 2),
        migrate_rows_per_s=round(rows / min(migrate_s)),
        # against the faster of the two plain COPYs
        ratio=round(min(migrate_s) / min(min(copy_s), min(bare_s)), 2),
        target_ratio=1.5,
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

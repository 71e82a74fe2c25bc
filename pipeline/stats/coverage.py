"""Federated coverage per category: |P_c|, |N_c| and the not-exhaustive count.

P_c: images where the category is a positive (an accepted mask); N_c: images where it
was verified absent; not exhaustive: positives answered "some are missing". A category
is under the negatives quota while |N_c| < the project's ``negatives_per_category``:
stage 6 keeps sampling candidates for it where the data allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..federated import negative_counts
from ..store import schema as s
from ..store.database import read_settings
from .shape import count_by, positive_pair_array


@dataclass(frozen=True)
class CategoryCoverage:
    category_id: int
    name: str
    positives: int  # |P_c|
    negatives: int  # |N_c|
    not_exhaustive: int  # positives answered "some are missing"

    def missing_negatives(self, quota: int) -> int:
        return max(0, quota - self.negatives)


@dataclass(frozen=True)
class Coverage:
    categories: tuple[CategoryCoverage, ...]  # most positives first (ties: category id)
    negatives_quota: int  # the setting negatives_per_category

    @property
    def under_quota(self) -> tuple[CategoryCoverage, ...]:
        """Categories with fewer verified negatives than the quota, fewest first."""
        short = [c for c in self.categories if c.negatives < self.negatives_quota]
        return tuple(sorted(short, key=lambda c: (c.negatives, c.category_id)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "negatives_quota": self.negatives_quota,
            "categories": [c.__dict__ for c in self.categories],
            "under_quota": [
                {
                    "category_id": c.category_id,
                    "name": c.name,
                    "negatives": c.negatives,
                    "missing": c.missing_negatives(self.negatives_quota),
                }
                for c in self.under_quota
            ],
            "totals": {
                "positives": sum(c.positives for c in self.categories),
                "negatives": sum(c.negatives for c in self.categories),
                "not_exhaustive": sum(c.not_exhaustive for c in self.categories),
            },
        }


@dataclass(frozen=True)
class CoverageInputs:
    negatives: dict[int, int]  # category id -> |N_c|
    names: list[tuple[int, str]]
    quota: int


def coverage_inputs(conn: Connection) -> CoverageInputs:
    negatives = negative_counts(conn)  # with the implicit negatives of exhaustive images
    names = [tuple(r) for r in conn.execute(select(s.categories.c.id, s.categories.c.name))]
    return CoverageInputs(negatives, names, read_settings(conn).negatives_per_category)


def coverage(conn: Connection, pairs: np.ndarray | None = None) -> Coverage:
    """The coverage of every category of the project; ``pairs`` reuses
    :func:`pipeline.stats.shape.positive_pair_array`."""
    pairs = positive_pair_array(conn) if pairs is None else pairs
    return assemble_coverage(coverage_inputs(conn), pairs)


def assemble_coverage(inputs: CoverageInputs, pairs: np.ndarray) -> Coverage:
    positives = count_by(pairs[:, 1])
    not_exhaustive = count_by(pairs[pairs[:, 2] == 0, 1])
    rows = [
        CategoryCoverage(
            category_id=cid,
            name=name,
            positives=int(positives.get(cid, 0)),
            negatives=int(inputs.negatives.get(cid, 0)),
            not_exhaustive=int(not_exhaustive.get(cid, 0)),
        )
        for cid, name in inputs.names
    ]
    rows.sort(key=lambda c: (-c.positives, c.category_id))
    return Coverage(tuple(rows), inputs.quota)

"""The one form a skip may take: a missing system service, and how to enable it.

Test data lives in ``tests/data`` and is never a reason to skip; the hook in
``conftest.py`` fails any skip that is not written through :func:`needs` (or one of the
constants below), so a clone that lacks something the suite should carry fails loudly
instead of quietly running less.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

PREFIX = "needs "

POSTGRES = (
    "needs PostgreSQL (set LONGTAIL_TEST_POSTGRES_URL=postgresql://USER:PASSWORD@HOST/DB "
    "to a server where USER has CREATEDB, CREATEROLE and pg_signal_backend; .ci/run starts the "
    "machine's own)"
)
PSYCOPG = "needs psycopg (pip install -e '.[postgres]'; make test installs it)"


def needs(service: str, how: str) -> NoReturn:
    """Skip the current test: ``service`` is missing here; ``how`` says how to enable it."""
    pytest.skip(f"{PREFIX}{service} ({how})")


def is_service_reason(reason: str) -> bool:
    """Whether a skip's reason names a missing service and how to enable it."""
    text = reason.removeprefix("Skipped: ")
    return text.startswith(PREFIX) and text.endswith(")") and " (" in text

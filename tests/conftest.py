"""Fixtures every test folder may use: a real PostgreSQL server, started by the project's own
:mod:`swarm.testing.postgres` once per session, and a fresh database on it per test.

Without server binaries (or without the ``postgres`` extra's asyncpg) the tests that ask for one
are skipped with a reason that says how to enable them, never silently.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator

import pytest

from swarm.testing.postgres import ENABLE_HINT, PostgresServer, find_bin_dir, running


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if importlib.util.find_spec("asyncpg") is None:
        pytest.skip('PostgreSQL tests need asyncpg: pip install -e ".[postgres]"')
    if find_bin_dir() is None:
        pytest.skip(f"PostgreSQL tests need a server: {ENABLE_HINT}")
    with running() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's server."""
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")

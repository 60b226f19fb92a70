"""Fixtures for the store tests: a fresh database per test, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swarm.store import Store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "swarm.db"


BACKENDS = ("sqlite", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The conformance suite: a test module that sets ``CONFORMANCE = True`` runs each test
    whose store comes from ``store`` (or ``store_url``) on both backends, except those it names
    in ``SQLITE_ONLY`` (they test SQLite's own machinery: its file, WAL, sqlite3 errors)."""
    if "backend" not in metafunc.fixturenames:
        return
    module = metafunc.module
    only_sqlite = metafunc.function.__name__ in getattr(module, "SQLITE_ONLY", ())
    if getattr(module, "CONFORMANCE", False) and not only_sqlite:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def store_url(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str | Path:
    """Where the test's store lives: the SQLite file, or a fresh PostgreSQL database."""
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return db_path


@pytest.fixture
async def store(store_url: str | Path) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    try:
        yield opened
    finally:
        await opened.close()

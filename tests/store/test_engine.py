"""The engine: WAL and pragmas on every connection, BEGIN modes, and clear refusals of bad paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm.errors import StoreError
from swarm.store import Store, default_db
from swarm.store.engine import connect_for_writing, create_engine, reader

pytestmark = pytest.mark.anyio


async def test_every_connection_is_wal_with_the_store_pragmas(store: Store) -> None:
    async with store.engine.connect() as conn:
        pragmas = {
            name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
        raw = await conn.get_raw_connection()
        assert raw.driver_connection is not None
        isolation = raw.driver_connection.isolation_level
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30000,
        "foreign_keys": 1,
    }
    assert isolation is None  # pysqlite's own BEGIN handling is off


async def test_writers_begin_immediate_and_readers_deferred(store: Store) -> None:
    # A BEGIN IMMEDIATE holds the write lock from the start: a second writer cannot start.
    async with store.engine.connect() as conn, conn.begin():
        other = connect_for_writing(store.path)
        try:
            other.execute("PRAGMA busy_timeout=0")
            with pytest.raises(Exception, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
    # A reader's transaction takes no write lock.
    async with reader(store.engine).connect() as conn, conn.begin():
        await conn.exec_driver_sql("SELECT count(*) FROM runs")
        other = connect_for_writing(store.path)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()


@pytest.mark.parametrize("path", [":memory:", "", "file::memory:?cache=shared"])
async def test_in_memory_databases_are_refused(path: str) -> None:
    with pytest.raises(StoreError, match="must be a file"):
        create_engine(path)


async def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "swarm.db"
    with pytest.raises(StoreError, match="does not exist") as info:
        await Store.open(path)
    assert str(path.parent) in str(info.value)


async def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(StoreError, match="not a SQLite database") as info:
        await Store.open(path)
    assert str(path) in str(info.value)
    assert path.read_text().startswith("these are my notes")  # untouched


async def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder"):
        await Store.open(tmp_path)


async def test_an_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    store = await Store.open(path)
    try:
        assert await store.list_runs() == []
    finally:
        await store.close()


def test_default_db_reads_swarm_db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SWARM_DB", raising=False)
    assert default_db() == Path("swarm.db")
    monkeypatch.setenv("SWARM_DB", "")
    assert default_db() == Path("swarm.db")
    monkeypatch.setenv("SWARM_DB", str(tmp_path / "x.db"))
    assert default_db() == tmp_path / "x.db"


def test_a_database_that_cannot_use_wal_is_refused() -> None:
    import sqlite3

    from swarm.store.engine import configure_connection

    conn = sqlite3.connect(":memory:")  # the one kind of database that never does WAL
    try:
        with pytest.raises(StoreError, match="cannot enable WAL"):
            configure_connection(conn, Path("memory"))
    finally:
        conn.close()

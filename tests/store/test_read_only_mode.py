"""``Store.open(..., read_only=True)`` on both backends: reads work, every write refuses with a
StoreError that says read-only, and the database itself refuses a write that got past the store
(SQLite's ``mode=ro``; PostgreSQL's ``READ ONLY`` transactions)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from swarm.errors import StoreError
from swarm.store import Store
from swarm.store.queries import Queries
from tests.store.builders import new_run

pytestmark = pytest.mark.anyio
CONFORMANCE = True


async def _recorded(store_url: str | Path) -> None:
    store = await Store.open(store_url)
    try:
        await store.create_run(new_run(n_tasks=3))
    finally:
        await store.close()


async def test_reads_work_and_every_write_refuses(store_url: str | Path) -> None:
    await _recorded(store_url)
    store = await Store.open(store_url, read_only=True)
    try:
        assert store.read_only
        assert (await store.load_run("r1")).goal == "test goal"
        assert [t.task_id for t in await store.load_tasks("r1")] == ["t0", "t1", "t2"]
        (run,) = await Queries(store).runs()
        assert run.run_id == "r1" and run.tasks == 3
        assert len((await Queries(store).detail("r1")).tasks) == 3
        writes = {
            "create a run": lambda: store.create_run(new_run("r2")),
            "request the cancellation": lambda: store.request_cancel("r1"),
            "take over a run": lambda: store.take_run("r1", pid=1, live_s=5.0),
        }
        for what, write in writes.items():
            with pytest.raises(StoreError, match="read-only") as info:
                await write()
            assert what in str(info.value) and "nothing was written" in str(info.value)
            assert info.value.hint is not None
        with pytest.raises(StoreError, match="read-only"):
            store.writer(lambda ops: None)
        with pytest.raises(DBAPIError, match=r"read-only|readonly"):
            async with store.engine.begin() as conn:  # past the store's own checks
                await conn.exec_driver_sql("UPDATE runs SET goal = 'changed'")
    finally:
        await store.close()
    store = await Store.open(store_url)
    try:
        assert (await store.load_run("r1")).goal == "test goal"
        assert not await store.run_exists("r2")
        assert not await store.cancel_requested("r1")
    finally:
        await store.close()


async def test_a_database_without_this_schema_is_refused_not_migrated(
    store_url: str | Path,
) -> None:
    if isinstance(store_url, Path):
        with sqlite3.connect(store_url) as conn:  # a SQLite file with no swarm tables
            conn.execute("CREATE TABLE other (a)")
    with pytest.raises(StoreError, match="read-only and has no swarm schema") as info:
        await Store.open(store_url, read_only=True)
    assert info.value.hint is not None
    store = await Store.open(store_url)  # nothing was created by the read-only open
    try:
        assert not await store.run_exists("r1")
    finally:
        await store.close()

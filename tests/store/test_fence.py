"""Owner epochs: taking a run, the fence on every transaction of a driver, and the writes the
database's state refuses (issue 16, defects 1 and 2)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import text

from swarm.errors import ConfigError, RunTakenOver, StoreError
from swarm.store import Store
from swarm.store.ops import RunCreated, RunFinished, RunStarted
from tests.store.builders import finished, new_run, started

pytestmark = pytest.mark.anyio
CONFORMANCE = True


async def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    async with store.engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text(sql))).all()]


async def _execute(store: Store, sql: str, **params: Any) -> None:
    """A write behind the store's back (another process, a paused owner), on either backend."""
    async with store.engine.begin() as conn:
        await conn.execute(text(sql), params)


@pytest.fixture
def other_pid() -> Iterator[int]:
    """The pid of a live process that is not this one (another driver, as far as the store
    can tell)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


async def _owned_run(store: Store, *, pid: int, n_tasks: int = 3) -> None:
    """A run created by its driver's writer (epoch 1, owned by ``pid``, heartbeat now)."""
    writer = store.writer(lambda _: None, fence=("r1", 1))
    await writer.open(new_run_id="r1")
    await writer.write_now(
        [RunCreated(new_run(n_tasks=n_tasks)), RunStarted("r1", 0.0, pid, False)]
    )
    await _execute(
        store, "UPDATE runs SET heartbeat_at = :now WHERE run_id = 'r1'", now=time.time()
    )


async def test_a_new_run_is_owned_at_the_first_epoch(store: Store) -> None:
    await _owned_run(store, pid=os.getpid())
    assert await _rows(store, "SELECT owner_epoch, owner_pid FROM runs") == [(1, os.getpid())]


async def test_a_live_owner_keeps_its_run_and_the_refused_take_writes_nothing(
    store: Store, other_pid: int
) -> None:
    await _owned_run(store, pid=other_pid)
    before = (
        await _rows(store, "SELECT * FROM runs"),
        await _rows(store, "SELECT count(*) FROM events"),
    )
    with pytest.raises(ConfigError, match=f"being executed by process {other_pid}"):
        await store.take_run("r1", pid=os.getpid(), live_s=5.0)
    assert (
        await _rows(store, "SELECT * FROM runs"),
        await _rows(store, "SELECT count(*) FROM events"),
    ) == (before)


async def test_a_stale_or_dead_owner_loses_the_run_and_the_epoch_moves_on(
    store: Store, other_pid: int
) -> None:
    await _owned_run(store, pid=other_pid)
    await _execute(
        store, "UPDATE runs SET heartbeat_at = heartbeat_at - 6"
    )  # the owner is paused: its heartbeat goes stale
    assert await store.take_run("r1", pid=os.getpid(), live_s=5.0) == 2
    assert await _rows(store, "SELECT owner_epoch, owner_pid, status FROM runs") == [
        (2, os.getpid(), "running")
    ]
    await _execute(
        store, "UPDATE runs SET owner_pid = 2147483000"
    )  # this owner dies (a pid that no longer exists)
    assert await store.take_run("r1", pid=os.getpid(), live_s=5.0) == 3


async def test_two_takes_at_once_exactly_one_wins(store_url: str | Path, other_pid: int) -> None:
    """Two stores on one database (two processes, as far as the database is concerned),
    taking a run whose owner died, at the same moment: one gets the epoch, the other a live
    owner."""
    stores = [await Store.open(store_url), await Store.open(store_url)]
    try:
        await _owned_run(stores[0], pid=2147483000)
        outcomes: list[object] = []

        async def take(store: Store, pid: int) -> None:
            try:
                outcomes.append(await store.take_run("r1", pid=pid, live_s=5.0))
            except ConfigError as exc:
                outcomes.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(take, stores[0], other_pid)
            tg.start_soon(take, stores[1], os.getpid())
        assert sorted(type(o).__name__ for o in outcomes) == ["ConfigError", "int"]
        assert 2 in outcomes
        assert await _rows(stores[0], "SELECT owner_epoch FROM runs") == [(2,)]
    finally:
        for store in stores:
            await store.close()


async def test_a_stale_writer_is_refused_whole_and_stops(store: Store, other_pid: int) -> None:
    """The paused driver wakes after another took the run: its transaction (a result, a start
    and a run end) is rolled back whole, and it says so, not "check free disk space"."""
    await _owned_run(store, pid=other_pid)
    stale = store.writer(lambda _: None, fence=("r1", 1))
    await stale.write_now([started("t0")])
    await _execute(store, "UPDATE runs SET heartbeat_at = heartbeat_at - 6")
    assert await store.take_run("r1", pid=os.getpid(), live_s=5.0) == 2
    new_owner = store.writer(lambda _: None, fence=("r1", 2))
    await store.mark_interrupted("r1", epoch=2)
    await new_owner.write_now([started("t0", attempt=2), finished("t0", attempt=2)])
    before = (
        await _rows(store, "SELECT * FROM tasks"),
        await _rows(store, "SELECT count(*) FROM events"),
    )
    with pytest.raises(RunTakenOver, match=r"taken over by another driver \(epoch 2 > 1\)") as got:
        await stale.write_now([finished("t0"), started("t1"), RunFinished("r1", "succeeded", 9.0)])
    assert "disk" not in str(got.value)
    assert (
        await _rows(store, "SELECT * FROM tasks"),
        await _rows(store, "SELECT count(*) FROM events"),
    ) == (before)
    with pytest.raises(StoreError, match="taken over"):
        stale.submit(started("t2"))


async def test_a_stale_take_of_the_resume_preparation_writes_nothing(store: Store) -> None:
    await _owned_run(store, pid=2147483000)
    assert await store.take_run("r1", pid=os.getpid(), live_s=5.0) == 2
    await _execute(store, "UPDATE runs SET owner_epoch = 3")  # a third driver came and took it
    with pytest.raises(RunTakenOver, match=r"epoch 3 > 2"):
        await store.mark_interrupted("r1", epoch=2)
    await store.record_metrics("r1", {"x": 1}, epoch=2)
    assert await _rows(store, "SELECT summary_json FROM runs") == [(None,)]


async def test_an_attempt_never_starts_over_a_success(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda _: None)
    await writer.write_now([started("t0"), finished("t0")])
    with pytest.raises(StoreError, match="task 't0': it is already succeeded") as got:
        await writer.write_now([started("t1"), started("t0", attempt=2)])
    assert "disk space" not in str(got.value)
    assert await _rows(store, "SELECT task_id, status, attempt FROM tasks ORDER BY task_id") == [
        ("t0", "succeeded", 1),
        ("t1", "pending", 0),
    ]


async def test_a_cancellation_never_overwrites_a_finished_task(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda _: None)
    await writer.write_now([started("t0"), finished("t0"), started("t1")])
    await writer.write_now([RunFinished("r1", "cancelled", 9.0, {}, ("t0", "t1"))])
    assert await _rows(store, "SELECT task_id, status FROM tasks ORDER BY task_id") == [
        ("t0", "succeeded"),
        ("t1", "cancelled"),
    ]


async def test_two_executes_of_one_new_run_id_the_second_is_told_it_exists(store: Store) -> None:
    first = store.writer(lambda _: None, fence=("r1", 1))
    second = store.writer(lambda _: None, fence=("r1", 1))
    await first.open(new_run_id="r1")
    await second.open(new_run_id="r1")  # both checked the id before either wrote it
    await first.write_now([RunCreated(new_run())])
    with pytest.raises(StoreError, match=r"run 'r1' already exists.*nothing was written") as got:
        await second.write_now([RunCreated(new_run(n_tasks=5))])
    assert "disk" not in str(got.value)
    assert await _rows(store, "SELECT count(*) FROM tasks") == [(3,)]


async def test_a_live_owner_on_another_machine_keeps_its_run(store: Store) -> None:
    """Drivers on several machines share a PostgreSQL database: a fresh heartbeat from another
    host is a live owner even though its pid means nothing here; once it goes stale, the run
    can be taken (the other driver's writes are then fenced off by the epoch)."""
    await _owned_run(store, pid=2147483000)  # no such process on this machine
    await _execute(store, "UPDATE runs SET owner_host = 'elsewhere'")
    with pytest.raises(ConfigError, match="being executed by process 2147483000 on elsewhere"):
        await store.take_run("r1", pid=os.getpid(), live_s=5.0)
    await _execute(store, "UPDATE runs SET heartbeat_at = heartbeat_at - 6")
    assert await store.take_run("r1", pid=os.getpid(), live_s=5.0) == 2
    assert await _rows(store, "SELECT owner_host FROM runs") == [(socket.gethostname(),)]

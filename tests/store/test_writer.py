"""The single writer: group commit, reporting order, fencing, terminal writes and failures."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from swarm.errors import StoreError
from swarm.store import Store, Writer
from swarm.store import writer as writer_module
from swarm.store.ops import Event, Op, RunFinished, RunStarted, TasksSkipped
from tests.store.builders import finished, new_run, started

pytestmark = pytest.mark.anyio
CONFORMANCE = True
SQLITE_ONLY = {
    "test_a_failing_transaction_stops_the_writer_and_commits_nothing",  # sqlite3's errors
    "test_the_wal_is_checkpointed_beside_the_commits",
    "test_small_transactions_run_on_the_loop_large_ones_on_a_thread",
    "test_a_small_transaction_does_not_block_the_loop_on_a_held_lock",
    "test_the_wal_stays_within_its_bound",
}
"""SQLite's own machinery: its WAL, its write lock, its thread hops, sqlite3's errors."""


class Recorder:
    """An ``on_commit`` that remembers every committed group."""

    def __init__(self) -> None:
        self.batches: list[list[Op]] = []

    def __call__(self, batch: list[Op]) -> None:
        self.batches.append(list(batch))

    @property
    def ops(self) -> list[Op]:
        return [op for batch in self.batches for op in batch]


async def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    async with store.engine.connect() as conn:
        return [tuple(row) for row in (await conn.exec_driver_sql(sql)).all()]


async def _event_types(store: Store) -> list[str]:
    return [row[0] for row in await _rows(store, "SELECT type FROM events ORDER BY id")]


async def test_many_ops_commit_in_few_transactions_in_order(store: Store) -> None:
    await store.create_run(new_run(n_tasks=200))
    seen = Recorder()
    writer = store.writer(seen)
    ops: list[Op] = [started(f"t{i}") for i in range(200)]
    ops += [finished(f"t{i}") for i in range(200)]
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        for op in ops:
            writer.submit(op)
        await writer.flush()
        writer.close()
    assert seen.ops == ops
    assert writer.transactions <= 3
    assert len(seen.batches) == writer.transactions
    assert (await store.counts("r1"))["succeeded"] == 200
    assert len(await _rows(store, "SELECT * FROM attempts")) == 200
    assert len(await _rows(store, "SELECT * FROM steps")) == 200


async def test_ops_from_many_tasks_are_grouped(store: Store) -> None:
    await store.create_run(new_run(n_tasks=300))
    seen = Recorder()
    writer = store.writer(seen)

    async def task(i: int) -> None:
        writer.submit(started(f"t{i}"))
        await writer.flush()
        writer.submit(finished(f"t{i}"))
        await writer.flush()

    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        async with anyio.create_task_group() as tasks:
            for i in range(300):
                tasks.start_soon(task, i)
        writer.close()
    assert (await store.counts("r1"))["succeeded"] == 300
    assert writer.transactions < 60  # 600 ops; one transaction each would be 600


async def test_each_op_is_written_with_its_event(store: Store) -> None:
    await store.create_run(new_run(n_tasks=3))
    writer = store.writer(Recorder())
    await writer.write_now(
        [
            RunStarted("r1", 1500.0, 4242, resumed=False),
            started("t0", at=2000.0),
            finished("t0", at=2001.0, n_steps=2),
            started("t1", at=2002.0),
            finished(
                "t1",
                task_status="pending",
                at=2003.0,
                error="slow",
                error_kind="X",
                retryable=True,
                retry_at=2010.0,
            ),
            Event("r1", "rate.wait", 2004.0, data={"seconds": 3}),
        ]
    )
    run = await store.load_run("r1")
    assert (run.status, run.started_at) == ("running", 1500.0)
    assert await _rows(store, "SELECT heartbeat_at, owner_pid FROM runs") == [(1500.0, 4242)]
    tasks = {t.task_id: t for t in await store.load_tasks("r1")}
    t0 = tasks["t0"]
    assert (t0.status, t0.attempt, t0.result, t0.steps_used, t0.tokens_in) == (
        "succeeded",
        1,
        "ok",
        2,
        20,
    )
    assert (t0.started_at, t0.finished_at) == (2000.0, 2001.0)
    t1 = tasks["t1"]
    assert (t1.status, t1.error) == ("pending", "slow")
    assert await _rows(store, "SELECT retry_at, allowance FROM tasks WHERE task_id = 't1'") == [
        (2010.0, 5)
    ]
    assert await _rows(
        store, "SELECT task_id, attempt, status, retryable, steps_used FROM attempts"
    ) == [("t0", 1, "succeeded", None, 2), ("t1", 1, "failed", 1, 1)]
    assert await _rows(store, "SELECT task_id, n, detail_json FROM steps ORDER BY id") == [
        ("t0", 1, '{"n": 0}'),
        ("t0", 2, '{"n": 1}'),
        ("t1", 1, '{"n": 0}'),
    ]
    assert await _event_types(store) == [
        "run.created",
        "run.started",
        "task.started",
        "task.succeeded",
        "task.started",
        "task.retry",
        "rate.wait",
    ]
    retry = await _rows(store, "SELECT data_json FROM events WHERE type = 'task.retry'")
    assert json.loads(retry[0][0])["retry_at"] == 2010.0


async def test_a_retry_in_the_same_group_keeps_row_order(store: Store) -> None:
    await store.create_run(new_run(n_tasks=1))
    seen = Recorder()
    writer = store.writer(seen)
    ops: list[Op] = [
        started("t0"),
        finished("t0", task_status="pending", error="flaky"),
        started("t0", attempt=2),
        finished("t0", attempt=2),
    ]
    await writer.write_now(ops)
    assert seen.ops == ops and writer.stale == []
    (t0,) = await store.load_tasks("r1")
    assert (t0.status, t0.attempt, t0.steps_used) == ("succeeded", 2, 2)
    assert await _rows(store, "SELECT attempt, status FROM attempts ORDER BY attempt") == [
        (1, "failed"),
        (2, "succeeded"),
    ]


async def test_a_stale_result_is_refused_and_writes_nothing(store: Store) -> None:
    await store.create_run(new_run(n_tasks=3))
    seen = Recorder()
    writer = store.writer(seen)
    await writer.write_now([started("t0"), started("t0", attempt=2), started("t1")])
    stale = finished("t0", attempt=1, n_steps=3)
    good = [finished("t1"), finished("t0", attempt=2)]
    await writer.write_now([good[0], stale, good[1]])
    assert writer.stale == [stale]
    assert seen.batches[-1] == good  # the refused op is not reported as committed
    tasks = {t.task_id: t for t in await store.load_tasks("r1")}
    assert (tasks["t0"].status, tasks["t0"].attempt, tasks["t0"].steps_used) == ("succeeded", 2, 1)
    assert await _rows(store, "SELECT task_id, attempt FROM attempts ORDER BY task_id") == [
        ("t0", 2),
        ("t1", 1),
    ]
    assert await _rows(store, "SELECT count(*) FROM steps") == [(2,)]
    done = await _rows(store, "SELECT task_id, attempt FROM events WHERE type = 'task.succeeded'")
    assert sorted(done) == [("t0", 2), ("t1", 1)]


async def test_a_run_end_with_a_refused_result_of_its_run_is_refused_too(store: Store) -> None:
    """The driver submits the run's end with its last result; if the fence refuses that result
    (another process took the run over), the end is not written either."""
    await store.create_run(new_run(n_tasks=2))
    seen = Recorder()
    writer = store.writer(seen)
    await writer.write_now([RunStarted("r1", 1.0, 1, False), started("t0"), started("t0", 2)])
    await writer.write_now([started("t1")])
    stale, good = finished("t0", attempt=1), finished("t1")
    end = RunFinished("r1", "succeeded", 3000.0, {"n": 2}, ("t0",))
    await writer.write_now([good, stale, end])
    assert writer.stale == [stale]
    assert seen.batches[-1] == [good]
    run = await store.load_run("r1")
    assert (run.status, run.finished_at) == ("running", None)
    status = {t.task_id: t.status for t in await store.load_tasks("r1")}
    assert status == {"t0": "running", "t1": "succeeded"}
    assert "run.finished" not in await _event_types(store)


async def test_a_duplicate_result_is_refused(store: Store) -> None:
    await store.create_run(new_run(n_tasks=1))
    writer = store.writer(Recorder())
    first, again = finished("t0"), finished("t0", at=3000.0)
    await writer.write_now([started("t0"), first, again])
    assert writer.stale == [again]
    (t0,) = await store.load_tasks("r1")
    assert (t0.steps_used, t0.finished_at) == (1, first.finished_at)


async def test_tasks_skipped(store: Store) -> None:
    await store.create_run(new_run(n_tasks=3))
    writer = store.writer(Recorder())
    await writer.write_now(
        [
            started("t0"),
            finished("t0", task_status="failed", error="boom"),
            TasksSkipped("r1", ("t1", "t2"), "t0", 2500.0),
        ]
    )
    tasks = {t.task_id: t for t in await store.load_tasks("r1")}
    for task_id in ("t1", "t2"):
        assert tasks[task_id].status == "skipped"
        assert tasks[task_id].error == "dependency t0 failed"
        assert tasks[task_id].finished_at == 2500.0
    skipped = await _rows(store, "SELECT task_id FROM events WHERE type = 'task.skipped'")
    assert skipped == [("t1",), ("t2",)]


async def test_run_finished_cancels_only_unfinished_tasks(store: Store) -> None:
    await store.create_run(new_run(n_tasks=4))
    writer = store.writer(Recorder())
    await writer.write_now([RunStarted("r1", 1.0, 1, False), started("t0"), started("t1")])
    await writer.write_now([finished("t0")])
    await writer.write_now(
        [RunFinished("r1", "cancelled", 3000.0, {"note": "ctrl-c"}, ("t0", "t1", "t2"))]
    )
    run = await store.load_run("r1")
    assert (run.status, run.finished_at, run.summary) == ("cancelled", 3000.0, {"note": "ctrl-c"})
    status = {t.task_id: t.status for t in await store.load_tasks("r1")}
    assert status == {"t0": "succeeded", "t1": "cancelled", "t2": "cancelled", "t3": "pending"}
    assert (await _event_types(store))[-1] == "run.finished"
    # A late result for a task the run's end cancelled is stale.
    late = finished("t1")
    await writer.write_now([late])
    assert writer.stale == [late]
    # Resuming puts the cancelled tasks back, and the run restarts as 'running'.
    assert await store.mark_interrupted("r1") == ["t1", "t2"]
    await writer.write_now([RunStarted("r1", 4000.0, 2, resumed=True)])
    run = await store.load_run("r1")
    assert (run.status, run.started_at, run.finished_at, run.summary) == (
        "running",
        1.0,
        None,
        None,
    )
    assert (await _event_types(store))[-1] == "run.resumed"


async def test_submissions_during_close_are_drained(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    writer: Writer

    def on_commit(batch: list[Op]) -> None:
        for op in batch:
            if op == started("t0"):
                writer.submit(finished("t0"))  # the runtime reacting to a commit

    writer = store.writer(on_commit)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        writer.submit(started("t0"))
        writer.close()
    assert (await store.counts("r1"))["succeeded"] == 1
    with pytest.raises(StoreError, match="stopped"):
        writer.submit(started("t1"))
    with pytest.raises(RuntimeError):
        await writer.run()


async def test_write_now_after_the_loop_was_cancelled(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    seen = Recorder()
    writer = store.writer(seen)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        writer.submit(started("t0"))
        await writer.flush()
        writer.submit(started("t1"))  # never taken: the loop is cancelled first
        tg.cancel_scope.cancel()
    with pytest.raises(StoreError, match="stopped"):
        writer.submit(started("t1"))
    with anyio.CancelScope(shield=True):
        await writer.write_now([RunFinished("r1", "cancelled", 9.0, {}, ("t0", "t1"))])
    assert [type(op).__name__ for op in seen.batches[-1]] == ["AttemptStarted", "RunFinished"]
    status = {t.task_id: t.status for t in await store.load_tasks("r1")}
    assert status == {"t0": "cancelled", "t1": "cancelled"}
    assert (await store.load_run("r1")).status == "cancelled"


async def test_a_run_end_is_not_written_while_a_task_is_running(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    seen = Recorder()
    writer = store.writer(seen)
    await writer.write_now([started("t0"), started("t1")])
    await writer.write_now([RunFinished("r1", "cancelled", 9.0, {}, ("t0",))])
    assert [op.run_id for op in writer.unended] == ["r1"]
    assert seen.batches[-1] == []  # the end was refused: nothing of it is reported
    status = {t.task_id: t.status for t in await store.load_tasks("r1")}
    assert status == {"t0": "cancelled", "t1": "running"}
    assert (await store.load_run("r1")).status == "created"
    assert "run.finished" not in await _event_types(store)


async def test_heartbeat_at_most_once_a_second(store: Store) -> None:
    await store.create_run(new_run(n_tasks=30))
    now = [100.0]
    writer = store.writer(Recorder(), clock=lambda: now[0])
    beats: list[float] = []
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        writer.submit(RunStarted("r1", 100.0, 1, False))
        await writer.flush()
        for i in range(25):
            now[0] = 100.0 + 0.1 * (i + 1)  # a group every 0.1 s
            writer.submit(started(f"t{i}"))
            await writer.flush()
            beats.append((await _rows(store, "SELECT heartbeat_at FROM runs"))[0][0])
        writer.close()
    assert sorted(set(beats)) == [100.0, pytest.approx(101.0), pytest.approx(102.0)]


async def test_an_idle_writer_keeps_beating(store: Store) -> None:
    await store.create_run(new_run(n_tasks=1))
    writer = store.writer(Recorder(), heartbeat_s=0.05)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        writer.submit(RunStarted("r1", time.time(), 1, False))
        await writer.flush()
        first = (await _rows(store, "SELECT heartbeat_at FROM runs"))[0][0]
        await anyio.sleep(0.3)
        later = (await _rows(store, "SELECT heartbeat_at FROM runs"))[0][0]
        writer.close()
    assert later > first


async def test_a_failing_transaction_stops_the_writer_and_commits_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_run(new_run(n_tasks=3))
    seen = Recorder()
    writer = store.writer(seen)
    original = writer_module._many

    def failing_many(conn: sqlite3.Connection, statement: str, rows: list[Any]) -> None:
        original(conn, statement, rows)  # the task updates are applied, then...
        if statement.startswith("INSERT INTO events") and any(r[2] == "task.failed" for r in rows):
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(writer_module, "_many", failing_many)
    failures: list[StoreError] = []

    async def run_writer(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        try:
            await writer.run(task_status=task_status)
        except StoreError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        await tg.start(run_writer)
        writer.submit(started("t0"))
        await writer.flush()
        writer.submit(started("t1"))
        writer.submit(finished("t0", task_status="failed", error="x"))
        with pytest.raises(StoreError, match="disk I/O error"):
            await writer.flush()
    (error,) = failures
    assert "disk I/O error" in str(error)
    assert "2 operation(s) were not saved" in str(error)
    assert seen.ops == [started("t0")]  # the failed group is never reported
    status = {t.task_id: t.status for t in await store.load_tasks("r1")}
    assert status == {"t0": "running", "t1": "pending", "t2": "pending"}
    assert await _rows(store, "SELECT count(*) FROM attempts") == [(0,)]
    with pytest.raises(StoreError, match="failed"):
        writer.submit(started("t2"))
    # The database itself is fine: once the fault is gone, the terminal write goes through.
    monkeypatch.setattr(writer_module, "_many", original)
    await writer.write_now([RunFinished("r1", "failed", 5.0, cancelled_tasks=("t0",))])
    assert (await store.load_run("r1")).status == "failed"


async def test_ten_thousand_tasks_commit_in_groups(store: Store) -> None:
    """20,000 ops from a busy scheduler go in far fewer transactions than ops (group commit).
    How fast is measured by benchmarks/bench_scheduler.py, not here: a timed assertion fails on
    a loaded machine and proves nothing on an idle one."""
    n = 10_000
    await store.create_run(new_run(n_tasks=n))
    recorder = Recorder()
    writer = store.writer(recorder)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        for i in range(n + 100):  # ~100 attempts in flight, like a busy scheduler
            if i < n:
                writer.submit(started(f"t{i}"))
            if i >= 100:
                writer.submit(finished(f"t{i - 100}"))
            if i % 64 == 0:
                await anyio.lowlevel.checkpoint()
        await writer.flush()
        writer.close()
    assert (await store.counts("r1"))["succeeded"] == n
    assert len(recorder.ops) == 2 * n
    assert len(recorder.batches) < n // 10, f"{len(recorder.batches)} commits for {2 * n} ops"


async def test_the_wal_is_checkpointed_beside_the_commits(store: Store, db_path: Any) -> None:
    """Pages reach the database file only through checkpoints; the writer runs them in the
    background every ``CHECKPOINT_EVERY_OPS`` ops, and leaves SQLite's own (inside a commit)
    as a far-off backstop."""
    n = 1500
    await store.create_run(new_run(n_tasks=n))
    writer = store.writer(Recorder())
    size_before = db_path.stat().st_size
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        for i in range(n):
            writer.submit(started(f"t{i}"))
            if i % 100 == 99:
                await writer.flush()
        with anyio.fail_after(5):  # the checkpoint runs on a thread: poll its counter
            while writer.checkpoints == 0:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        writer.close()
    assert writer.transactions >= 15
    assert writer.checkpoints >= 1
    assert db_path.stat().st_size > size_before
    conn = sqlite3.connect(db_path)
    try:
        assert writer_module.BACKSTOP_AUTOCHECKPOINT_PAGES > 1000  # SQLite's default
        writer_conn = writer._connect()  # the writer's own pragmas
        try:
            autocheckpoint = writer_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        finally:
            writer_conn.close()
        assert autocheckpoint == writer_module.BACKSTOP_AUTOCHECKPOINT_PAGES
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


async def test_small_transactions_run_on_the_loop_large_ones_on_a_thread(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_run(new_run(n_tasks=400))
    writer = store.writer(Recorder())
    on_threads: list[str] = []
    original = writer_module.anyio.to_thread.run_sync

    async def counting_run_sync(func: Any, *args: Any, **kwargs: Any) -> Any:
        on_threads.append(getattr(func, "__name__", ""))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(writer_module.anyio.to_thread, "run_sync", counting_run_sync)
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        writer.submit(started("t0"))  # ~2 rows
        await writer.flush()
        assert "_transact_sync" not in on_threads
        for i in range(1, 400):  # ~800 rows in one group
            writer.submit(started(f"t{i}"))
        await writer.flush()
        writer.close()
    assert on_threads.count("_transact_sync") == 1
    assert writer.transactions == 2
    assert (await store.counts("r1"))["running"] == 400


async def test_a_small_transaction_does_not_block_the_loop_on_a_held_lock(
    store: Store, db_path: Any
) -> None:
    """The lock's holder may need the event loop to let go (an async transaction in the same
    process): a small transaction that finds it taken waits on a thread, not on the loop."""
    await store.create_run(new_run(n_tasks=1))
    writer = store.writer(Recorder())
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = False

    async def release_soon() -> None:
        nonlocal released
        await anyio.sleep(0.2)  # runs only if the loop is free
        holder.execute("COMMIT")
        released = True

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                await tg.start(writer.run)
                tg.start_soon(release_soon)
                writer.submit(started("t0"))
                await writer.flush()
                assert released
                writer.close()
    finally:
        holder.close()
    assert (await store.counts("r1"))["running"] == 1


async def test_the_wal_stays_within_its_bound(
    store: Store, db_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16, defect 9: the WAL peaked at 10x the database. With a 256 KiB bound, 1,500
    results of 1 KB each, committed 50 at a time beside a reader that comes and goes, never
    leave more than the bound plus about one group in the WAL."""
    limit = 256 * 1024
    monkeypatch.setattr(writer_module, "WAL_LIMIT_BYTES", limit)
    n = 1500
    await store.create_run(new_run(n_tasks=n))
    writer = store.writer(lambda _: None)
    wal = f"{db_path}-wal"
    peak = 0
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        for first in range(0, n, 50):
            for i in range(first, first + 50):
                writer.submit(started(f"t{i}"))
                writer.submit(dataclasses.replace(finished(f"t{i}"), result="r" * 1000))
            await writer.flush()
            await store.load_run("r1")  # a reader, as the progress display and cancel poll are
            peak = max(peak, os.stat(wal).st_size)
        writer.close()
    assert writer.truncations >= 3
    assert peak < limit + 200 * 1024

"""The store facade: creating runs, reading them back, and preparing a resume."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from swarm.errors import ConfigError, RunNotFound
from swarm.store import Store
from swarm.store.ops import Op
from swarm.store.queries import Queries
from tests.store.builders import finished, new_run, started

pytestmark = pytest.mark.anyio
CONFORMANCE = True


async def _commit(store: Store, ops: list[Op]) -> None:
    writer = store.writer(lambda batch: None)
    await writer.write_now(ops)


async def test_create_and_load_round_trip(store: Store) -> None:
    run = new_run(n_tasks=3)
    await store.create_run(run)
    assert await store.run_exists("r1")
    record = await store.load_run("r1")
    assert record.run_id == "r1"
    assert record.goal == run.goal
    assert record.plan_json == run.plan_json
    assert record.config == run.config
    assert record.status == "created"
    assert record.created_at == run.created_at
    assert (record.started_at, record.finished_at, record.summary) == (None, None, None)

    tasks = await store.load_tasks("r1")
    assert [t.task_id for t in tasks] == ["t0", "t1", "t2"]
    assert {t.status for t in tasks} == {"pending"}
    assert {(t.attempt, t.steps_used, t.tokens_in, t.tokens_out, t.cost_usd) for t in tasks} == {
        (0, 0, 0, 0, 0.0)
    }
    assert tasks[0].kind == "llm"
    async with store.engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql("SELECT task_id, deps_json, priority, title FROM tasks")
        ).all()
        event: Any = (await conn.exec_driver_sql("SELECT type, data_json FROM events")).one()
    assert ("t1", '["t0"]', 2.0, "task 1") in [tuple(r) for r in rows]
    assert event[0] == "run.created"
    assert json.loads(event[1]) == {"tasks": 3}


async def test_a_taken_run_id_is_refused_and_nothing_is_written(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    with pytest.raises(ConfigError, match="already exists"):
        await store.create_run(replace(new_run(n_tasks=5), goal="other"))
    assert (await store.load_run("r1")).goal == "test goal"
    assert len(await store.load_tasks("r1")) == 2


async def test_unknown_runs_raise_run_not_found(store: Store) -> None:
    await store.create_run(new_run())
    assert not await store.run_exists("nope")
    for call in (
        store.load_run,
        store.load_tasks,
        store.counts,
        store.totals,
        store.mark_interrupted,
    ):
        with pytest.raises(RunNotFound) as info:
            await call("nope")
        assert info.value.run_id == "nope"
        assert store.path in str(info.value)


async def test_a_run_without_tasks_is_not_unknown(store: Store) -> None:
    await store.create_run(new_run(n_tasks=0))
    assert await store.load_tasks("r1") == []
    assert sum((await store.counts("r1")).values()) == 0
    assert (await store.totals("r1"))["steps_total"] == 0


async def test_ten_thousand_tasks_insert_in_one_run(store: Store) -> None:
    """Its speed is benchmarks/bench_store.py's to show (a timed test fails on a loaded
    machine); here: every row arrives, in creation order."""
    await store.create_run(new_run(n_tasks=10_000))
    assert (await store.counts("r1"))["pending"] == 10_000
    rows = await store.load_tasks("r1")
    assert [r.task_id for r in rows] == [f"t{i}" for i in range(10_000)]


async def test_list_runs_newest_first(store: Store) -> None:
    for i, run_id in enumerate(["old", "mid", "new"]):
        await store.create_run(new_run(run_id, n_tasks=1, created_at=100.0 + i))
    assert [r.run_id for r in await store.list_runs()] == ["new", "mid", "old"]
    assert [r.run_id for r in await store.list_runs(limit=2)] == ["new", "mid"]


async def test_counts_and_totals(store: Store) -> None:
    await store.create_run(new_run(n_tasks=4))
    await _commit(
        store,
        [
            started("t0"),
            finished("t0", n_steps=2),
            started("t1"),
            finished("t1", task_status="failed", n_steps=1, error="boom"),
            started("t2"),
        ],
    )
    counts = await store.counts("r1")
    assert counts == {
        "pending": 1,
        "running": 1,
        "succeeded": 1,
        "failed": 1,
        "skipped": 0,
        "cancelled": 0,
        "replaced": 0,
        "waiting": 0,
    }
    totals = await store.totals("r1")
    assert totals["steps_total"] == 3
    assert totals["tokens_in"] == 30
    assert totals["tokens_out"] == 60
    assert totals["cost_usd"] == pytest.approx(0.03)


async def test_mark_interrupted_puts_running_and_cancelled_tasks_back(store: Store) -> None:
    await store.create_run(new_run(n_tasks=4))
    await _commit(
        store,
        [
            started("t0"),
            finished("t0"),  # succeeded: untouched
            started("t1"),  # running when the process died
            started("t2"),
            finished("t2", task_status="cancelled"),  # cancelled with its own attempt row
        ],
    )
    touched = await store.mark_interrupted("r1")
    assert touched == ["t1", "t2"]
    by_id = {t.task_id: t for t in await store.load_tasks("r1")}
    assert by_id["t0"].status == "succeeded"
    assert (by_id["t1"].status, by_id["t1"].attempt) == ("pending", 1)
    assert (by_id["t2"].status, by_id["t2"].attempt) == ("pending", 1)
    assert by_id["t3"].status == "pending"
    async with store.engine.connect() as conn:
        attempts = (
            await conn.exec_driver_sql(
                "SELECT task_id, attempt, status, error_kind FROM attempts ORDER BY task_id"
            )
        ).all()
        events: Any = (
            await conn.exec_driver_sql(
                "SELECT task_id, data_json FROM events WHERE type = 'task.interrupted'"
            )
        ).all()
    assert [tuple(a) for a in attempts] == [
        ("t0", 1, "succeeded", None),
        ("t1", 1, "interrupted", "Interrupted"),
        ("t2", 1, "cancelled", None),
    ]
    assert {(e[0], json.loads(e[1])["was"]) for e in events} == {
        ("t1", "running"),
        ("t2", "cancelled"),
    }
    # Nothing left to do the second time, and no duplicate attempt rows.
    assert await store.mark_interrupted("r1") == []


async def test_mark_interrupted_keeps_an_existing_attempt_row(store: Store) -> None:
    await store.create_run(new_run(n_tasks=1))
    await _commit(store, [started("t0")])
    async with store.engine.begin() as conn:
        # As if the result's attempt row had been written but the task never left 'running'.
        await conn.exec_driver_sql(
            "INSERT INTO attempts (run_id, task_id, attempt, status, started_at, finished_at)"
            " VALUES ('r1', 't0', 1, 'failed', 1, 2)"
        )
    assert await store.mark_interrupted("r1") == ["t0"]
    async with store.engine.connect() as conn:
        status = (await conn.exec_driver_sql("SELECT status FROM attempts")).scalar_one()
    assert status == "failed"


async def test_a_cancelled_read_leaves_no_connection_closing_after_the_store(db_path: Any) -> None:
    """A read cut short by a cancellation made SQLAlchemy close its aiosqlite connection in a
    task of its own, left waiting forever once the store had closed (and hanging the event
    loop's shutdown). Reads are shielded now: the cancellation lands when the read is done."""
    store = await Store.open(db_path)
    await store.create_run(new_run(n_tasks=50))
    queries = Queries(store)
    reached_after_read = 0
    for read in (lambda: store.load_tasks("r1"), lambda: queries.events("r1")) * 10:
        with anyio.CancelScope() as scope:

            async def cancel_soon(scope: anyio.CancelScope = scope) -> None:
                await anyio.lowlevel.checkpoint()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_soon)
                await read()
                await anyio.sleep(1)  # the cancellation lands here, at the latest
                reached_after_read += 1
        assert scope.cancelled_caught
    await store.close()
    assert reached_after_read == 0
    closing = [
        task
        for task in asyncio.all_tasks()
        if not task.done() and "_terminate_graceful_close" in repr(task.get_coro())
    ]
    assert closing == []

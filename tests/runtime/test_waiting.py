"""Tasks that wait, through the driver and a file database: a task suspended on tasks it
started holds no slot, is recorded ``waiting`` with what it waits on, wakes when they end
(whatever their outcome) and runs again as a new attempt; a resumed run waits again."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.plan import Plan
from swarm.providers.base import ModelRequest
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.store import Store
from tests.fakes import ScriptedProvider, plan_data
from tests.runtime.waiting_workers import SPAWNER, Spawner
from workers import registry as kinds

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def spawner_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(kinds.BUILTIN, "spawner", SPAWNER)
    kinds.registry.cache_clear()
    Spawner.runs.clear()
    yield
    monkeypatch.undo()
    kinds.registry.cache_clear()


def rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


async def execute(
    db: Path, data: dict[str, Any], provider: ScriptedProvider, hooks: runs.Hooks | None = None
) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        plan = Plan.model_validate(data)
        return await runs.execute(store, plan, provider, runs.RunOptions(), run_id="r", hooks=hooks)
    finally:
        await store.close()


async def resume(db: Path, provider: ScriptedProvider) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        return await runs.resume(store, "r", provider)
    finally:
        await store.close()


def spawn_plan(**config: Any) -> dict[str, Any]:
    return plan_data(
        [
            {"id": "boss", "kind": "spawner", "prompt": "lead", "config": config},
            {"id": "after", "kind": "llm", "prompt": "after", "deps": ["boss"]},
            {"id": "other", "kind": "llm", "prompt": "other"},
        ],
        budget={"max_concurrency": 1},
    )


async def test_a_task_waits_on_the_tasks_it_started_then_runs_again(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    provider = ScriptedProvider()
    summary = await execute(db, spawn_plan(children=2), provider)
    assert summary["status"] == "succeeded"
    assert summary["counts"]["succeeded"] == 5 and summary["counts"]["waiting"] == 0
    assert Spawner.runs == [("boss", 1), ("boss", 2)]
    # with one slot the children ran while the boss waited: it held no slot
    assert set(provider.tasks_called()) == {"boss.0", "boss.1", "after", "other"}
    attempts = rows(db, "SELECT attempt, status FROM attempts WHERE task_id='boss' ORDER BY 1")
    assert attempts == [(1, "suspended"), (2, "succeeded")]
    events = rows(db, "SELECT type, task_id, attempt, data_json FROM events ORDER BY id")
    waiting = [e for e in events if e[0] == "task.waiting"]
    assert len(waiting) == 1 and waiting[0][1:3] == ("boss", 1)
    data = json.loads(waiting[0][3])
    assert data == {"attempt": 1, "on": ["boss.0", "boss.1"], "reason": "spawn"}
    kinds_order = [(t, task) for t, task, _, _ in events if task]
    woken = kinds_order.index(("task.woken", "boss"))
    assert kinds_order.index(("task.succeeded", "boss.1")) < woken
    assert kinds_order.index(("task.succeeded", "boss.0")) < woken
    assert woken < kinds_order.index(("task.started", "after"))
    assert rows(db, "SELECT status FROM tasks WHERE task_id='boss'") == [("succeeded",)]


async def test_a_waiter_wakes_when_what_it_waits_on_fails(tmp_path: Path) -> None:
    async def script(request: ModelRequest) -> str:
        if "sub 0" in request.prompt:
            raise ValueError("boom")  # a worker crash: the task fails for good
        return "ok"

    provider = ScriptedProvider(script)
    summary = await execute(tmp_path / "s.db", spawn_plan(children=2), provider)
    assert Spawner.runs == [("boss", 1), ("boss", 2)]
    assert summary["counts"]["failed"] == 1 and summary["counts"]["succeeded"] == 4
    assert summary["status"] == "failed"


async def test_a_wait_that_could_never_end_fails_the_task_and_skips_its_branch(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    summary = await execute(db, spawn_plan(children=0, wait_on=["after"]), ScriptedProvider())
    assert summary["counts"]["failed"] == 1 and summary["counts"]["skipped"] == 1
    error, kind = rows(db, "SELECT error, error_kind FROM tasks WHERE task_id='boss'")[0]
    assert "cannot wait on 'after'" in error and kind == "WaitRefused"
    assert rows(db, "SELECT status FROM tasks WHERE task_id='after'") == [("skipped",)]


async def test_waiting_on_an_unknown_task_fails_the_attempt(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    summary = await execute(db, spawn_plan(children=0, wait_on=["nope"]), ScriptedProvider())
    assert summary["counts"]["failed"] == 1
    [(error,)] = rows(db, "SELECT error FROM tasks WHERE task_id='boss'")
    assert "unknown tasks: ['nope']" in error


async def test_a_resumed_run_waits_again_on_what_it_waited_on(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    started = anyio.Event()
    box: list[RunDriver] = []

    async def slow(request: ModelRequest) -> str:
        if "sub" in request.prompt and not started.is_set():
            started.set()
            box[0].cancel()  # the run stops while the boss waits on its children
            await anyio.sleep(10)
        return "ok"

    hooks = runs.Hooks(on_start=box.append)
    first = await execute(db, spawn_plan(children=2), ScriptedProvider(slow), hooks)
    assert first["status"] == "cancelled"
    assert rows(db, "SELECT status, attempt FROM tasks WHERE task_id='boss'") == [("waiting", 1)]
    store = await Store.open(db)
    try:
        waits = await store.waits("r")
    finally:
        await store.close()
    assert {t: (w.attempt, w.on, w.reason) for t, w in waits.items()} == {
        "boss": (1, ("boss.0", "boss.1"), "spawn")
    }
    summary = await resume(db, ScriptedProvider())
    assert summary["status"] == "succeeded"
    assert Spawner.runs == [("boss", 1), ("boss", 2)]
    assert rows(db, "SELECT status, attempt FROM tasks WHERE task_id='boss'") == [("succeeded", 2)]

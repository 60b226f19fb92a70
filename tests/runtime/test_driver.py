"""The driver end to end on a file database: ordering, retries, failures, budgets, cancel."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.errors import ConfigError, PlanError, ProviderError, StoreError
from swarm.plan import Plan, loads_plan
from swarm.providers.base import ModelRequest
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.store import Store
from tests.fakes import Script, ScriptedProvider, chain, plan_data

pytestmark = pytest.mark.anyio


async def execute(
    db: Path, data: dict[str, Any], provider: ScriptedProvider, **options: Any
) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        return await runs.execute(
            store, Plan.model_validate(data), provider, runs.RunOptions(**options), run_id="r"
        )
    finally:
        await store.close()


def rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def task_key(request: ModelRequest) -> str:
    return request.call_key.split("/")[1]


async def test_chain_runs_in_order_and_dependents_wait_for_commit(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    provider = ScriptedProvider()
    summary = await execute(db, plan_data(chain("a", "b", "c")), provider)
    assert summary["status"] == "succeeded"
    assert summary["counts"]["succeeded"] == 3
    assert provider.tasks_called() == ["a", "b", "c"]
    events = rows(db, "SELECT type, task_id FROM events WHERE run_id='r' ORDER BY id")
    order = [(t, task) for t, task in events if task]
    assert order.index(("task.succeeded", "a")) < order.index(("task.started", "b"))
    assert order.index(("task.succeeded", "b")) < order.index(("task.started", "c"))
    # b's prompt carries a's result
    assert "answer to do a" in provider.calls[1].prompt
    assert summary["steps_total"] == 3 and summary["steps_critical"] == 3


async def test_critical_path_first(tmp_path: Path) -> None:
    tasks = [{"id": "short", "kind": "llm", "prompt": "x"}, *chain("l1", "l2", "l3")]
    provider = ScriptedProvider()
    await execute(tmp_path / "s.db", plan_data(tasks, budget={"max_concurrency": 1}), provider)
    assert provider.tasks_called()[0] == "l1"


async def test_concurrency_limit_holds_at_300(tmp_path: Path) -> None:
    async def slow(request: ModelRequest) -> str:
        await anyio.sleep(0.05)
        return "ok"

    provider = ScriptedProvider(slow)
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": "x"} for i in range(900)]
    summary = await execute(
        tmp_path / "s.db", plan_data(tasks, budget={"max_concurrency": 300}), provider
    )
    assert summary["counts"]["succeeded"] == 900
    assert 250 <= provider.peak <= 300


async def test_per_kind_limit(tmp_path: Path) -> None:
    async def slow(request: ModelRequest) -> str:
        await anyio.sleep(0.01)
        return "ok"

    provider = ScriptedProvider(slow)
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": "x"} for i in range(20)]
    data = plan_data(tasks, budget={"max_concurrency": 10, "per_kind_concurrency": {"llm": 3}})
    await execute(tmp_path / "s.db", data, provider)
    assert provider.peak <= 3


def flaky(failures: dict[str, int], answer: Callable[[str], str]) -> Script:
    """A script whose calls for each task in ``failures`` fail (HTTP 503) that many times
    first; then a call for task ``t`` answers ``answer(t)``."""

    async def script(request: ModelRequest) -> str:
        task = task_key(request)
        if failures.get(task, 0) > 0:
            failures[task] -= 1
            raise ProviderError("HTTP 503", retryable=True, status=503)
        return answer(task)

    return script


async def test_retry_then_success(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    data = plan_data(chain("a", "b"), defaults={"retries": 3})
    summary = await execute(db, data, ScriptedProvider(flaky({"a": 2}, lambda task: "fine")))
    assert summary["status"] == "succeeded"
    attempts = rows(db, "SELECT attempt, status FROM attempts WHERE task_id='a' ORDER BY attempt")
    assert attempts == [(1, "failed"), (2, "failed"), (3, "succeeded")]


async def test_permanent_failure_skips_descendants_only(tmp_path: Path) -> None:
    async def broken(request: ModelRequest) -> str:
        if task_key(request) == "a":
            raise ProviderError("HTTP 422: bad input", retryable=False, status=422)
        return "ok"

    db = tmp_path / "s.db"
    tasks = chain("a", "b", "c") + chain("x", "y")
    summary = await execute(db, plan_data(tasks), ScriptedProvider(broken))
    assert summary["status"] == "failed"
    status = dict(rows(db, "SELECT task_id, status FROM tasks"))
    assert status == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "x": "succeeded",
        "y": "succeeded",
    }
    (error,) = rows(db, "SELECT error FROM tasks WHERE task_id='a'")[0]
    assert "task 'a' attempt 1" in error and "422" in error


async def test_fail_fast_stops_dispatch(tmp_path: Path) -> None:
    async def broken(request: ModelRequest) -> str:
        if task_key(request) == "a":
            raise ProviderError("nope", retryable=False)
        return "ok"

    tasks = chain("a") + chain("x", "y", "z")
    provider = ScriptedProvider(broken)
    data = plan_data(tasks, budget={"max_concurrency": 1})
    summary = await execute(tmp_path / "s.db", data, provider, fail_fast=True)
    assert summary["status"] == "failed"
    assert summary["counts"]["succeeded"] < 3


async def test_timeout_is_a_cancel_scope_and_retried(tmp_path: Path) -> None:
    async def hang(request: ModelRequest) -> str:
        await anyio.sleep_forever()
        return ""

    db = tmp_path / "s.db"
    data = plan_data(chain("a"), defaults={"timeout_s": 0.1, "retries": 1})
    with anyio.fail_after(10):
        summary = await execute(db, data, ScriptedProvider(hang))
    assert summary["status"] == "failed"
    assert rows(db, "SELECT status FROM attempts ORDER BY attempt") == [("timeout",), ("timeout",)]


async def test_a_spent_step_pool_pauses_the_run_and_fails_no_task(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": "x"} for i in range(10)]
    data = plan_data(
        tasks, budget={"max_steps": 4, "max_concurrency": 2}, defaults={"max_steps": 1}
    )
    summary = await execute(db, data, ScriptedProvider())
    assert summary["status"] == "paused"
    assert summary["counts"]["succeeded"] == 4
    assert summary["counts"]["pending"] == 6 and summary["counts"]["failed"] == 0
    assert summary["steps_total"] == 4
    assert summary["paused"]["resource"] == "steps" and summary["paused"]["flag"] == "--max-steps"
    assert rows(db, "SELECT status FROM runs") == [("paused",)]


async def test_a_spent_token_budget_pauses_the_run_and_fails_no_task(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": "x"} for i in range(10)]
    data = plan_data(
        tasks,
        budget={"max_tokens": 130, "max_concurrency": 1},
        defaults={"params": {"max_tokens": 100}},
    )
    summary = await execute(db, data, ScriptedProvider())
    # each call reserves its worst case (about 120 tokens) but uses only a few
    assert summary["status"] == "paused"
    assert summary["counts"]["succeeded"] >= 1 and summary["counts"]["failed"] == 0
    assert summary["tokens_in"] + summary["tokens_out"] <= 130
    assert summary["paused"]["resource"] == "tokens"
    paused = rows(db, "SELECT status, error_kind FROM attempts WHERE status = 'paused'")
    assert paused == [("paused", "BudgetExhausted")]
    assert rows(db, "SELECT count(*) FROM events WHERE type = 'task.paused'") == [(1,)]


async def test_cancel_then_resume_reruns_no_succeeded_task(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    started = anyio.Event()

    async def slow(request: ModelRequest) -> str:
        if task_key(request).startswith("w"):
            started.set()
            await anyio.sleep(0.2)
        return "ok"

    provider = ScriptedProvider(slow)
    tasks = [{"id": "root", "kind": "llm", "prompt": "r"}] + [
        {"id": f"w{i}", "kind": "llm", "prompt": f"w{i}", "deps": ["root"]} for i in range(20)
    ]
    data = plan_data(tasks, budget={"max_concurrency": 4})
    holder: list[RunDriver] = []

    async def cancel_soon() -> None:
        await started.wait()
        await anyio.sleep(0.25)
        holder[0].cancel()

    store = await Store.open(db)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_soon)
            hooks = runs.Hooks(on_start=holder.append)
            summary = await runs.execute(
                store,
                Plan.model_validate(data),
                provider,
                runs.RunOptions(),
                run_id="r",
                hooks=hooks,
            )
        assert summary["status"] == "cancelled"
        assert summary["counts"]["cancelled"] >= 1
        done_before = {t for (t,) in rows(db, "SELECT task_id FROM tasks WHERE status='succeeded'")}
        assert "root" in done_before
        assert rows(db, "SELECT status FROM runs") == [("cancelled",)]
        calls_before = list(provider.tasks_called())
        summary = await runs.resume(store, "r", provider)
    finally:
        await store.close()
    assert summary["status"] == "succeeded"
    rerun = provider.tasks_called()[len(calls_before) :]
    assert not set(rerun) & done_before


async def test_a_refused_result_means_another_process_took_over_and_this_one_stops(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"

    async def taken_over(request: ModelRequest) -> str:
        if task_key(request) == "b":  # another process resumed the run: b's attempt moved on
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE tasks SET attempt = attempt + 1 WHERE task_id = 'b'")
        await anyio.lowlevel.checkpoint()
        return "done"

    provider = ScriptedProvider(taken_over)
    with pytest.raises(StoreError, match="taken over by another process"):
        await execute(db, plan_data(chain("a", "b", "c")), provider)
    assert provider.tasks_called() == ["a", "b"]  # c, released with b's result, never ran
    assert rows(db, "SELECT status FROM runs") == [("running",)]  # left to the new owner
    assert rows(db, "SELECT status, attempt FROM tasks WHERE task_id = 'b'") == [("running", 2)]
    assert rows(db, "SELECT count(*) FROM attempts WHERE task_id = 'b'") == [(0,)]


async def test_when_the_last_result_is_refused_the_runs_end_is_not_written_either(
    tmp_path: Path,
) -> None:
    """The run's end is submitted with its last result; the writer refuses both."""
    db = tmp_path / "s.db"

    async def taken_over(request: ModelRequest) -> str:
        if task_key(request) == "b":
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE tasks SET attempt = attempt + 1 WHERE task_id = 'b'")
        await anyio.lowlevel.checkpoint()
        return "done"

    with pytest.raises(StoreError, match="taken over by another process"):
        await execute(db, plan_data(chain("a", "b")), ScriptedProvider(taken_over))
    assert rows(db, "SELECT status, finished_at, summary_json FROM runs") == [
        ("running", None, None)
    ]
    assert rows(db, "SELECT count(*) FROM events WHERE type = 'run.finished'") == [(0,)]


async def test_a_new_run_with_a_taken_id_is_refused_and_the_old_run_is_untouched(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    first = await execute(db, plan_data(chain("a", "b")), ScriptedProvider())
    before = rows(db, "SELECT * FROM runs"), rows(db, "SELECT count(*) FROM events")
    provider = ScriptedProvider()
    with pytest.raises(ConfigError, match="run 'r' already exists"):
        await execute(db, plan_data(chain("x", "y", "z")), provider)
    assert first["status"] == "succeeded" and provider.calls == []
    assert (rows(db, "SELECT * FROM runs"), rows(db, "SELECT count(*) FROM events")) == before
    assert rows(db, "SELECT task_id FROM tasks ORDER BY task_id") == [("a",), ("b",)]


async def test_the_pool_fills_while_the_first_task_runs_and_shrinks_in_the_tail(
    tmp_path: Path,
) -> None:
    """After the first commit idle workers are started up to the concurrency limit, so the
    40-task wave after the root is handed to idle workers; in the run's tail, workers that
    cannot be needed any more return, so only the last task's worker is left at its end."""
    seen: dict[str, tuple[int, int]] = {}
    box: list[RunDriver] = []

    async def script(request: ModelRequest) -> str:
        task = task_key(request)
        if task == "root":
            await anyio.sleep(0.2)  # the loop is idle: the filler runs
            seen["root"] = box[0].pool
        elif task == "last":
            seen["last"] = box[0].pool
        await anyio.lowlevel.checkpoint()
        return "ok"

    wave = [{"id": f"w{i}", "kind": "llm", "prompt": "x", "deps": ["root"]} for i in range(40)]
    tasks = [
        {"id": "root", "kind": "llm", "prompt": "x"},
        *wave,
        {"id": "join", "kind": "llm", "prompt": "x", "deps": [t["id"] for t in wave]},
        {"id": "last", "kind": "llm", "prompt": "x", "deps": ["join"]},
    ]
    store = await Store.open(tmp_path / "s.db")
    try:
        summary = await runs.execute(
            store,
            Plan.model_validate(plan_data(tasks, budget={"max_concurrency": 20})),
            ScriptedProvider(script),
            runs.RunOptions(),
            run_id="r",
            hooks=runs.Hooks(on_start=box.append),
        )
    finally:
        await store.close()
    assert summary["status"] == "succeeded"
    assert seen["root"] == (20, 19)  # the root's worker and 19 idle ones
    assert seen["last"] == (1, 0)  # the others left as they went idle
    assert box[0].pool == (0, 0)


async def test_estimates_put_the_longest_path_in_time_first(tmp_path: Path) -> None:
    tasks = [
        {"id": "quick", "kind": "llm", "prompt": "x", "estimate_s": 1},
        {"id": "slow", "kind": "llm", "prompt": "x", "estimate_s": 300},
        *chain("c1", "c2"),  # no estimates: 2048 tokens at the assumed rate, ~51 s each
    ]
    provider = ScriptedProvider()
    await execute(tmp_path / "s.db", plan_data(tasks, budget={"max_concurrency": 1}), provider)
    assert provider.tasks_called() == ["slow", "c1", "c2", "quick"]


def test_an_estimate_must_be_a_positive_number_of_seconds() -> None:
    bad = plan_data([{"id": "a", "kind": "llm", "prompt": "x", "estimate_s": -3}])
    with pytest.raises(PlanError, match="estimate_s"):
        loads_plan(json.dumps(bad))


async def test_a_new_runs_summary_from_memory_equals_the_databases_totals(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    tasks = [*chain("a", "b", "c"), {"id": "d", "kind": "llm", "prompt": "x", "deps": ["a"]}]
    provider = ScriptedProvider(flaky({"b": 2}, lambda task: f"result of {task} " * 20))
    summary = await execute(db, plan_data(tasks, defaults={"retries": 3}), provider)
    assert summary["status"] == "succeeded"
    store = await Store.open(db)
    try:
        totals = await store.task_totals("r")
    finally:
        await store.close()
    assert summary["tasks"] == totals["tasks"] == 4
    assert summary["counts"]["succeeded"] == totals["counts"]["succeeded"] == 4
    for key in ("steps_total", "tokens_in", "tokens_out"):
        assert summary[key] == totals[key], key
    assert summary["steps_total"] == 6  # b's two failed attempts count their steps too
    assert summary["cost_usd"] == round(totals["cost_usd"], 6)


async def test_the_run_end_waits_for_a_cancel_poll_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store query cancelled half-way leaves SQLAlchemy closing its aiosqlite connection in
    a task of its own, which could hang the event loop's shutdown: the poll is shielded."""
    from swarm.runtime import driver as driver_module

    monkeypatch.setattr(driver_module, "CANCEL_POLL_S", 0.0)
    polls: list[str] = []

    async def slow_poll(self: Store, run_id: str) -> bool:
        polls.append("asked")
        await anyio.sleep(0.2)  # the run's one task ends long before this
        polls.append("answered")
        return False

    monkeypatch.setattr(Store, "cancel_requested", slow_poll)
    summary = await execute(tmp_path / "s.db", plan_data(chain("a")), ScriptedProvider())
    assert summary["status"] == "succeeded"
    assert polls[:2] == ["asked", "answered"]


async def test_a_new_run_writes_its_first_tasks_rows_first_and_the_rest_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first transaction carries only the rows of the tasks it starts; the rest follow in
    the next one, ahead of any start of theirs."""
    from swarm.store import writer as writer_module
    from swarm.store.ops import AttemptStarted, RunCreated, TasksRecorded

    groups: list[list[Any]] = []
    original = writer_module.Writer._commit

    async def recording(self: writer_module.Writer, ops: list[Any]) -> None:
        groups.append(list(ops))
        await original(self, ops)

    monkeypatch.setattr(writer_module.Writer, "_commit", recording)
    tasks = [*chain("a", "b", "c"), {"id": "x", "kind": "llm", "prompt": "x"}]
    summary = await execute(tmp_path / "s.db", plan_data(tasks), ScriptedProvider())
    assert summary["status"] == "succeeded"
    (created,) = [op for op in groups[0] if isinstance(op, RunCreated)]
    assert created.tasks_now is not None
    assert {t.task_id for t in created.tasks_now} == {"a", "x"}
    assert len(created.run.tasks) == 4
    ops = [op for group in groups[1:] for op in group]
    (rest,) = [i for i, op in enumerate(ops) if isinstance(op, TasksRecorded)]
    assert {t.task_id for t in ops[rest].tasks} == {"b", "c"}
    first_dependent_start = min(
        i for i, op in enumerate(ops) if isinstance(op, AttemptStarted) and op.task_id in "bc"
    )
    assert rest < first_dependent_start
    statuses = rows(tmp_path / "s.db", "SELECT task_id, status FROM tasks ORDER BY task_id")
    assert statuses == [(t, "succeeded") for t in ("a", "b", "c", "x")]
    assert rows(tmp_path / "s.db", "SELECT data_json FROM events WHERE type='run.created'") == [
        ('{"tasks": 4}',)
    ]


async def test_resume_writes_the_rows_a_crash_left_out(tmp_path: Path) -> None:
    """A crash between a new run's first two transactions leaves some tasks without a row;
    the resumed run writes them before it starts anything."""
    from swarm.store.records import NewRun, NewTask

    db = tmp_path / "s.db"
    plan = Plan.model_validate(plan_data(chain("a", "b", "c")))
    store = await Store.open(db)
    try:
        first = NewTask("a", "llm", (), 3.0, None)
        await store.create_run(
            NewRun("r", plan.goal, plan.to_json(), runs.RunOptions().to_config(), 1.0, (first,))
        )
        assert rows(db, "SELECT task_id FROM tasks") == [("a",)]
        provider = ScriptedProvider()
        summary = await runs.resume(store, "r", provider)
    finally:
        await store.close()
    assert summary["status"] == "succeeded"
    assert provider.tasks_called() == ["a", "b", "c"]
    statuses = rows(db, "SELECT task_id, status FROM tasks ORDER BY task_id")
    assert statuses == [("a", "succeeded"), ("b", "succeeded"), ("c", "succeeded")]

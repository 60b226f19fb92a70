"""Tasks that arrive while the run goes (a streaming planner): dispatched before the stream
ends, recorded before they start, and resumable from the stored plan."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from swarm.errors import PlanError, Problem, SwarmError
from swarm.plan import Plan, TaskSpec
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.fakes import ScriptedProvider

pytestmark = pytest.mark.anyio

HEADER = Plan.model_validate(
    {"goal": "streamed", "tasks": [{"id": "x", "kind": "llm", "prompt": "x"}]}
)


def spec(tid: str, *deps: str) -> TaskSpec:
    return TaskSpec(id=tid, kind="llm", prompt=f"do {tid}", deps=list(deps))


async def test_first_task_runs_before_the_stream_ends(tmp_path: Path) -> None:
    provider = ScriptedProvider()
    seen_first = anyio.Event()

    async def script(request: object) -> str:
        seen_first.set()
        return "ok"

    provider.script = script  # type: ignore[assignment]

    async def tasks() -> AsyncIterator[TaskSpec]:
        yield spec("a")
        with anyio.fail_after(5):
            await seen_first.wait()  # the stream goes on only once a has been called
        yield spec("b", "a")
        yield spec("c", "a")
        yield spec("d", "b", "c")

    db = tmp_path / "s.db"
    store = await Store.open(db)
    try:
        summary = await runs.execute_streamed(
            store, HEADER, tasks(), provider, runs.RunOptions(), run_id="r"
        )
        assert summary["status"] == "succeeded"
        assert summary["counts"]["succeeded"] == 4
        assert provider.tasks_called()[0] == "a" and provider.tasks_called()[-1] == "d"
        record = await store.load_run("r")
        assert [t.id for t in Plan.model_validate_json(record.plan_json).tasks] == list("abcd")
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:
        added = conn.execute("SELECT count(*) FROM events WHERE type='task.added'").fetchone()
    assert added[0] == 4


async def test_a_rejected_stream_stops_the_run_as_failed(tmp_path: Path) -> None:
    async def tasks() -> AsyncIterator[TaskSpec]:
        yield spec("a")
        await anyio.sleep(0.05)
        raise PlanError("planner", [Problem("task 'b'", "deps", "unknown dependency 'zz'")])

    store = await Store.open(tmp_path / "s.db")
    try:
        with pytest.raises(SwarmError, match="unknown dependency 'zz'"):
            await runs.execute_streamed(
                store, HEADER, tasks(), ScriptedProvider(), runs.RunOptions(), run_id="r"
            )
        assert (await store.load_run("r")).status == "failed"
    finally:
        await store.close()


async def test_a_task_whose_dependency_failed_is_skipped_on_arrival(tmp_path: Path) -> None:
    async def script(request: object) -> str:
        from swarm.errors import ProviderError

        raise ProviderError("bad", retryable=False)

    async def tasks() -> AsyncIterator[TaskSpec]:
        yield spec("a")
        await anyio.sleep(0.2)  # a has failed by now
        yield spec("b", "a")

    store = await Store.open(tmp_path / "s.db")
    try:
        summary = await runs.execute_streamed(
            store, HEADER, tasks(), ScriptedProvider(script), runs.RunOptions(), run_id="r"
        )
    finally:
        await store.close()
    assert summary["counts"]["failed"] == 1 and summary["counts"]["skipped"] == 1

"""The ``map`` kind end to end: expansion recorded, children run, results joined, resumable."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.plan import Plan
from swarm.providers.base import ModelRequest
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.store import Store
from swarm.validation import validate_data
from tests.fakes import ScriptedProvider

pytestmark = pytest.mark.anyio

PLAN: dict[str, Any] = {
    "goal": "fan out",
    "tasks": [
        {"id": "topics", "kind": "llm", "prompt": "List topics."},
        {
            "id": "each",
            "kind": "map",
            "deps": ["topics"],
            "config": {
                "over": "topics",
                "template": {"kind": "llm", "prompt": "Research {item} (#{index})."},
            },
        },
        {"id": "report", "kind": "llm", "prompt": "Write it up.", "deps": ["each"]},
    ],
}


async def answer(request: ModelRequest) -> str:
    if request.prompt.startswith("List topics"):
        return json.dumps(["alpha", "beta", "gamma"])
    return f"notes on {request.prompt.split()[1]}"


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_map_expands_joins_and_feeds_its_dependents(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    provider = ScriptedProvider(answer)
    store = await Store.open(db)
    try:
        summary = await runs.execute(
            store, validate_data(PLAN), provider, runs.RunOptions(), run_id="r"
        )
    finally:
        await store.close()
    assert summary["status"] == "succeeded"
    assert summary["counts"]["succeeded"] == 6  # topics, each, 3 items, report
    results = dict(rows(db, "SELECT task_id, result FROM tasks"))
    assert json.loads(results["each"]) == ["notes on alpha", "notes on beta", "notes on gamma"]
    report_prompt = next(r.prompt for r in provider.calls if r.prompt.startswith("Write"))
    assert "notes on gamma" in report_prompt
    stored = Plan.model_validate_json(rows(db, "SELECT plan_json FROM runs")[0][0])
    assert [t.id for t in stored.tasks][-3:] == ["each:0000", "each:0001", "each:0002"]
    assert stored.task("each").deps == ["topics", "each:0000", "each:0001", "each:0002"]
    # the task's row too, so `swarm show`, the report and the dashboard connect them
    (deps,) = rows(db, "SELECT deps_json FROM tasks WHERE task_id = 'each'")[0]
    assert json.loads(deps) == stored.task("each").deps
    events = [t for (t,) in rows(db, "SELECT type FROM events WHERE task_id='each'")]
    assert "task.expanded" in events and events[-1] == "task.succeeded"


async def test_a_bad_list_fails_the_map_and_skips_its_branch(tmp_path: Path) -> None:
    async def not_a_list(request: ModelRequest) -> str:
        return '{"topics": 3}'

    store = await Store.open(tmp_path / "s.db")
    try:
        summary = await runs.execute(
            store, validate_data(PLAN), ScriptedProvider(not_a_list), runs.RunOptions()
        )
    finally:
        await store.close()
    assert summary["counts"]["failed"] == 1 and summary["counts"]["skipped"] == 1


async def test_a_resumed_run_keeps_the_recorded_expansion(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    children_started = anyio.Event()

    async def slow(request: ModelRequest) -> str:
        if request.prompt.startswith("Research"):
            children_started.set()
            await anyio.sleep(0.3)
        return await answer(request)

    provider = ScriptedProvider(slow)
    holder: list[RunDriver] = []
    data = {**PLAN, "budget": {"max_concurrency": 1}}

    async def cancel_soon() -> None:
        await children_started.wait()
        holder[0].cancel()

    store = await Store.open(db)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_soon)
            first = await runs.execute(
                store, validate_data(data), provider, runs.RunOptions(), run_id="r",
                hooks=runs.Hooks(on_start=holder.append),
            )  # fmt: skip
        assert first["status"] == "cancelled"
        topics_calls = sum(r.prompt.startswith("List") for r in provider.calls)
        summary = await runs.resume(store, "r", provider)
    finally:
        await store.close()
    assert summary["status"] == "succeeded" and summary["counts"]["succeeded"] == 6
    assert sum(r.prompt.startswith("List") for r in provider.calls) == topics_calls == 1


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"template": {"kind": "llm", "prompt": "x"}}, "config.over"),
        ({"over": "topics"}, "config.template"),
        ({"over": "topics", "template": {"kind": "llm", "id": "x"}}, "config.template"),
        ({"over": "topics", "template": {"kind": "llm"}, "max_items": 0}, "config.max_items"),
        ({"over": "topics", "template": {"kind": "llm", "retries": -1}}, "config.template.retries"),
    ],
)
def test_map_config_is_checked_before_the_run(config: dict[str, Any], field: str) -> None:
    from swarm.errors import PlanError

    bad = {**PLAN, "tasks": [PLAN["tasks"][0], {**PLAN["tasks"][1], "config": config}]}
    with pytest.raises(PlanError) as exc:
        validate_data(bad)
    assert ("task 'each'", field) in {(p.where, p.field) for p in exc.value.problems}

"""An orchestrator-mode run on a real 2-node local cluster: the orchestrator's turns run on the
attempt hosts (its model calls served by the driver through the mailbox), each spawning turn
comes back with its sub-agents, its wait and its recorded turn, and the run gives what the
local executor gives."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from swarm.orchestrate import orchestrator_plan
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.ray.conftest import inside_namespace

pytestmark = [pytest.mark.anyio, inside_namespace]

GOAL = "Compare message queues\n- Kafka\n- RabbitMQ\n- NATS"


async def execute(tmp_path: Path, executor: str) -> dict[str, Any]:
    store = await Store.open(tmp_path / f"{executor}.db")
    try:
        options = runs.RunOptions(
            artifacts_dir=str(tmp_path / f"runs-{executor}"),
            executor=executor,
            ray_kinds=("orchestrator", "agent", "llm"),
        )
        plan = orchestrator_plan(GOAL)
        return await runs.execute(store, plan, SimProvider(), options, run_id="r")
    finally:
        await store.close()


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_an_orchestrator_on_the_cluster_gives_the_local_run(
    cluster: Any, tmp_path: Path
) -> None:
    summaries = {executor: await execute(tmp_path, executor) for executor in ("local", "ray")}
    for summary in summaries.values():
        assert summary["status"] == "succeeded", summary
    local, ray = tmp_path / "local.db", tmp_path / "ray.db"
    tasks = "SELECT task_id, kind, status, result, deps_json, steps_used FROM tasks ORDER BY 1"
    assert rows(local, tasks) == rows(ray, tasks)
    assert [t for (t,) in rows(ray, "SELECT task_id FROM tasks ORDER BY 1")] == [
        "orchestrator",
        "orchestrator:s1-1",
        "orchestrator:s1-2",
        "orchestrator:s1-3",
        "orchestrator:s2-1",
    ]
    steps = "SELECT task_id, attempt, n, kind, name FROM steps ORDER BY 1, 2, 3"
    assert rows(local, steps) == rows(ray, steps)
    waits = "SELECT data_json FROM events WHERE type = 'task.waiting' ORDER BY id"
    assert [json.loads(d)["reason"] for (d,) in rows(ray, waits)] == ["spawn", "spawn"]
    outcomes = "SELECT status FROM attempts WHERE task_id = 'orchestrator' ORDER BY attempt"
    assert [o for (o,) in rows(ray, outcomes)] == ["suspended", "suspended", "succeeded"]
    plans = [json.loads(p) for (p,) in rows(ray, "SELECT plan_json FROM runs")]
    history = plans[0]["tasks"][0]["config"]["history"]
    assert [len(turn["children"]) for turn in history] == [3, 1]
    metrics = {e: s["metrics"] for e, s in summaries.items()}
    assert metrics["local"]["steps_critical"] == metrics["ray"]["steps_critical"]
    assert metrics["local"]["stages"] == metrics["ray"]["stages"]

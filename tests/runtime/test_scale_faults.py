"""1,000 tasks at concurrency 300 with injected faults (5% errors, 1% hangs, 2% malformed
output, 3% rate-limited calls): every task ends succeeded, or failed/skipped for a stated reason,
and the database is consistent."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import anyio
import pytest

from swarm.plan import Plan
from swarm.providers.sim import Latency, SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store

pytestmark = pytest.mark.anyio
N = 1000


def plan() -> Plan:
    rng = random.Random(5)
    tasks = []
    for i in range(N):
        window = range(max(0, i - 50), i)
        deps = rng.sample(list(window), k=min(len(window), rng.randint(0, 2))) if i > 100 else []
        task: dict[str, object] = {"id": f"t{i}", "kind": "llm", "prompt": f"task {i}"}
        task["deps"] = [f"t{d}" for d in deps]
        if i % 10 == 0:
            task["output_schema"] = {"type": "object", "properties": {"n": {"type": "integer"}}}
        tasks.append(task)
    return Plan.model_validate(
        {
            "goal": "scale with faults",
            "defaults": {"timeout_s": 0.5, "retries": 3},
            "budget": {"max_concurrency": 300, "max_steps": 10 * N},
            "tasks": tasks,
        }
    )


async def test_a_thousand_tasks_with_faults_end_consistently(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    provider = SimProvider(
        latency=Latency("lognormal", 0.02, 0.5),
        faults={"error": 0.05, "timeout": 0.01, "malformed": 0.02, "ratelimit": 0.03},
    )
    store = await Store.open(db)
    try:
        with anyio.fail_after(90):
            summary = await runs.execute(store, plan(), provider, runs.RunOptions(), run_id="r")
    finally:
        await store.close()
    counts = summary["counts"]
    assert counts["succeeded"] + counts["failed"] + counts["skipped"] == N
    assert counts["succeeded"] >= 0.9 * N  # retries absorb almost every injected fault
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT task_id, status, attempt, error FROM tasks").fetchall()
        for task_id, status, attempt, error in rows:
            assert status in ("succeeded", "failed", "skipped"), task_id
            assert attempt <= 4, task_id  # retries + 1
            if status != "succeeded":
                assert error, f"{task_id} is {status} without a stated reason"
        attempts = conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
        assert attempts == sum(a for _, _, a, _ in rows)  # every attempt recorded once
        kinds = dict(
            conn.execute(
                "SELECT outcome_kind, n FROM (SELECT status AS outcome_kind, "
                "count(*) AS n FROM attempts GROUP BY status)"
            )
        )
    assert kinds.get("timeout", 0) > 0 and kinds.get("failed", 0) > 0
    assert summary["steps_total"] <= 10 * N

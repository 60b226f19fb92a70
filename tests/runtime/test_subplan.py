"""The ``subplan`` kind: a sub-goal planned at run time, its tasks added to the run (within the
run's budgets), and their results joined for the task's dependents."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from swarm.errors import PlanError
from swarm.plan import Plan
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from swarm.validation import validate_data

pytestmark = pytest.mark.anyio

PLAN: dict[str, Any] = {
    "goal": "hierarchical",
    "tasks": [
        {"id": "scope", "kind": "llm", "prompt": "Scope the study of heat pumps."},
        {
            "id": "deep",
            "kind": "subplan",
            "deps": ["scope"],
            "prompt": "Research the European heat pump market and its suppliers",
            "config": {"max_tasks": 12},
        },
        {"id": "memo", "kind": "llm", "prompt": "Write the memo.", "deps": ["deep"]},
    ],
}


async def test_a_subplan_joins_the_run_and_feeds_its_dependents(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = await Store.open(db)
    try:
        summary = await runs.execute(
            store,
            validate_data(PLAN),
            SimProvider(),
            runs.RunOptions(artifacts_dir=str(tmp_path / "runs")),
            run_id="r",
        )
        stored = Plan.model_validate_json((await store.load_run("r")).plan_json)
    finally:
        await store.close()
    assert summary["status"] == "succeeded", summary
    sub = [t for t in stored.tasks if t.id.startswith("deep:")]
    assert 2 <= len(sub) <= 12
    assert all(dep.startswith("deep:") or dep in ("scope",) for t in sub for dep in t.deps)
    assert set(stored.task("deep").deps) == {"scope", *(t.id for t in sub)}
    with sqlite3.connect(db) as conn:
        results = dict(conn.execute("SELECT task_id, result FROM tasks"))
        planning = conn.execute(
            "SELECT count(*) FROM steps WHERE task_id = 'deep' AND kind = 'model'"
        ).fetchone()[0]
    joined = json.loads(results["deep"])
    assert set(joined) == {t.id.removeprefix("deep:") for t in sub}
    assert planning >= 1  # the planning call was metered as one of the task's steps
    assert summary["counts"]["succeeded"] == 3 + len(sub)


def test_subplan_config_is_checked() -> None:
    bad = {**PLAN, "tasks": [{**PLAN["tasks"][1], "deps": [], "config": {"max_tasks": 0}}]}
    with pytest.raises(PlanError) as exc:
        validate_data(bad)
    assert ("task 'deep'", "config.max_tasks") in {(p.where, p.field) for p in exc.value.problems}

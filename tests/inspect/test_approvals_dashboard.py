"""The "Pending approvals" dashboard's SQL over a real database: one row per gate waiting,
text HTML-escaped, and a row saying none waits when none does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from swarm.dashboard import dashboards
from swarm.plan import Plan
from swarm.runtime import run as runs
from swarm.store.approvals import ApprovalStore
from swarm.store.store import Store
from tests.fakes import ScriptedProvider, plan_data

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def charts() -> dict[str, dict[str, str]]:
    return dashboards.dashboards()["approvals"]["charts"]


def query(db: Path, chart: str) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(charts()[chart]["query"]).fetchall()]


async def test_pending_approvals_are_listed_escaped_until_decided(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    gate = {"prompt": "<b>ship</b> it?"}
    tasks = [
        {"id": "a", "kind": "llm", "prompt": "a", "approval": gate, "title": "A & B"},
        {"id": "b", "kind": "llm", "prompt": "b"},
    ]
    store = await Store.open(db)
    try:
        plan = Plan.model_validate(plan_data(tasks))
        await runs.execute(store, plan, ScriptedProvider(), runs.RunOptions(), run_id="r")
        [row] = query(db, "list")
        assert row["task_id"] == "a" and row["title"] == "A &amp; B"
        assert row["prompt"] == "&lt;b&gt;ship&lt;/b&gt; it?" and row["run_status"] == "waiting"
        assert row["decide"] == "swarm approve r a"
        assert query(db, "waiting") == [{"n": "1"}] and query(db, "runs") == [{"n": "1"}]
        await ApprovalStore(store).decide("r", "a", "approved", by="ann", note=None)
    finally:
        await store.close()
    assert [r["task_id"] for r in query(db, "list")] == ["none waiting"]
    assert query(db, "waiting") == [{"n": "0"}]

"""Replanning: a task that fails for good has its branch revised by the planner; finished work
is kept, the revision is recorded, and the revised tasks run instead."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from swarm.errors import ProviderError
from swarm.plan import Plan
from swarm.providers.base import ModelRequest, ModelResponse
from swarm.providers.sim import SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from swarm.validation import validate_data

pytestmark = pytest.mark.anyio

PLAN: dict[str, Any] = {
    "goal": "a report on heat pumps",
    "defaults": {"retries": 0},
    "tasks": [
        {"id": "facts", "kind": "llm", "prompt": "Collect facts on heat pumps."},
        {
            "id": "fragile",
            "kind": "llm",
            "prompt": "BREAK analyse the supply chain.",
            "deps": ["facts"],
        },
        {"id": "after", "kind": "llm", "prompt": "Summarise the analysis.", "deps": ["fragile"]},
        {"id": "side", "kind": "llm", "prompt": "Independent note on prices."},
    ],
}


class Breaking(SimProvider):
    """The sim, except that prompts starting with BREAK fail for good."""

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if request.prompt.startswith("BREAK"):
            raise ProviderError("HTTP 422: the input was refused", retryable=False, status=422)
        return await super().complete(request)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def run(db: Path, max_replans: int) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        options = runs.RunOptions(max_replans=max_replans, artifacts_dir=str(db.parent / "runs"))
        return await runs.execute(store, validate_data(PLAN), Breaking(), options, run_id="r")
    finally:
        await store.close()


async def test_a_failed_branch_is_revised_and_the_run_succeeds(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    summary = await run(db, max_replans=1)
    assert summary["status"] == "succeeded", summary
    status = dict(rows(db, "SELECT task_id, status FROM tasks"))
    assert status["fragile"] == "replaced" and status["after"] == "replaced"
    assert status["facts"] == "succeeded" and status["side"] == "succeeded"
    revised = [t for t in status if t.startswith("fragile.r1:")]
    assert revised and all(status[t] == "succeeded" for t in revised)
    (data,) = rows(db, "SELECT data_json FROM events WHERE type = 'plan.revised'")[0]
    note = json.loads(data)
    assert note["replaced"] == ["fragile", "after"] and set(note["added"]) == set(revised)
    assert "422" in note["error"]
    facts_calls = rows(db, "SELECT count(*) FROM attempts WHERE task_id = 'facts'")[0][0]
    assert facts_calls == 1  # finished work is kept, not redone
    stored = Plan.model_validate_json(rows(db, "SELECT plan_json FROM runs")[0][0])
    assert {t.id for t in stored.tasks} >= set(revised)


async def test_without_replans_the_branch_is_skipped(tmp_path: Path) -> None:
    summary = await run(tmp_path / "s.db", max_replans=0)
    assert summary["status"] == "failed"
    assert summary["counts"]["failed"] == 1 and summary["counts"]["skipped"] == 1


async def test_replans_are_bounded(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    data = {**PLAN, "tasks": [*PLAN["tasks"], {"id": "also", "kind": "llm", "prompt": "BREAK x"}]}
    store = await Store.open(db)
    try:
        options = runs.RunOptions(max_replans=1, artifacts_dir=str(db.parent / "runs"))
        summary = await runs.execute(store, validate_data(data), Breaking(), options, run_id="r")
    finally:
        await store.close()
    assert summary["status"] == "failed"  # one branch revised, the second failure stays
    assert len(rows(db, "SELECT id FROM events WHERE type = 'plan.revised'")) == 1

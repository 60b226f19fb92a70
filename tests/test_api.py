"""The Python API: execute, follow events live, resume, sync wrappers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import swarm
from swarm import Swarm
from swarm.errors import PlanError

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]
PLAN = {
    "goal": "api",
    "tasks": [
        {"id": "a", "kind": "llm", "prompt": "first"},
        {"id": "b", "kind": "llm", "prompt": "second", "deps": ["a"]},
    ],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_public_surface_is_pinned() -> None:
    assert set(swarm.__all__) == {
        "BudgetExceeded", "ConfigError", "InputError", "ModelParams", "Plan", "PlanError",
        "ProviderError", "RunBudget", "RunHandle", "RunNotFound", "StoreError", "Swarm",
        "SwarmError", "TaskDefaults", "TaskError", "TaskSpec", "__version__",
    }  # fmt: skip


async def test_execute_plan_data_and_read_events(tmp_path: Path) -> None:
    async with Swarm(tmp_path / "s.db", artifacts_dir=tmp_path / "runs") as sw:
        summary = await sw.execute(PLAN, run_id="r")
        assert summary["status"] == "succeeded"
        types = [e["type"] async for e in sw.events("r")]
    assert types[0] == "run.created" and types[-1] == "run.finished"
    assert types.count("task.succeeded") == 2


async def test_start_follows_events_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_SIM_LATENCY", "fixed:0.05")
    seen = []
    async with Swarm(tmp_path / "s.db") as sw, sw.start(PLAN) as run:
        async for event in run.events():
            seen.append(event["type"])
        summary = await run.wait()
    assert summary["status"] == "succeeded" and summary["run_id"] == run.run_id
    assert seen[-1] == "run.finished" and "task.started" in seen


async def test_bad_plan_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    async with Swarm(tmp_path / "s.db") as sw:
        with pytest.raises(PlanError):
            await sw.execute({"goal": "x", "tasks": [{"id": "a", "kind": "nope"}]})
        assert await sw.store.list_runs() == []


def test_sync_wrappers(tmp_path: Path) -> None:
    sw = Swarm(tmp_path / "s.db")
    summary = sw.execute_sync(PLAN, run_id="r")
    assert summary["status"] == "succeeded"
    assert sw.resume_sync("r")["status"] == "succeeded"


def test_the_api_example_runs(tmp_path: Path) -> None:
    env = dict(os.environ, SWARM_DB=str(tmp_path / "ex.db"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "api_quickstart.py")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert json.loads(out.strip().splitlines()[-1])["status"] == "succeeded"
    _ = anyio  # the module is used by the async tests above

"""Goal → plan → run: `swarm run`, Swarm.plan/submit, and dispatch before the plan is done."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from planners import plan_goal
from swarm import Swarm
from swarm.api_submit import submit_goal
from swarm.plan import Plan
from swarm.providers.base import ModelRequest, ModelResponse
from swarm.providers.sim import Latency, SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store

pytestmark = pytest.mark.anyio
GOAL = "Compare three open-source vector databases for a retrieval startup"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clocked(SimProvider):
    """The sim, noting when the planning stream ended and when each task's call began."""

    def __init__(self) -> None:
        super().__init__(latency=Latency("fixed", 0.6))
        self.stream_ended = float("inf")
        self.task_calls: list[float] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        async for chunk in super().stream(request):
            yield chunk
        self.stream_ended = time.monotonic()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.task_calls.append(time.monotonic())
        return await super().complete(request)


async def test_first_task_starts_before_the_plan_stream_ends(tmp_path: Path) -> None:
    provider = Clocked()
    store = await Store.open(tmp_path / "s.db")
    try:
        options = runs.RunOptions(artifacts_dir=str(tmp_path / "runs"))
        summary = await submit_goal(lambda: _opened(store), GOAL, provider, options, run_id="r")
        stored = Plan.model_validate_json((await store.load_run("r")).plan_json)
    finally:
        await store.close()
    assert summary["status"] == "succeeded"
    assert provider.task_calls and min(provider.task_calls) < provider.stream_ended
    whole = await plan_goal(GOAL, SimProvider())
    assert stored.tasks == whole.tasks and stored.goal == whole.goal


async def _opened(store: Store) -> Store:
    return store


async def test_swarm_plan_and_submit(tmp_path: Path) -> None:
    async with Swarm(tmp_path / "s.db", artifacts_dir=tmp_path / "runs") as sw:
        plan = await sw.plan(GOAL)
        summary = await sw.submit(GOAL, run_id="r")
    assert summary.status == "succeeded"
    assert summary.tasks == len(plan.tasks)

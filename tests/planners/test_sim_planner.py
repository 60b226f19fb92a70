"""The sim provider's planner: a valid, deterministic, plausible plan for any goal, streamed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planners import PlannerSettings, PlanReady, TaskReady, plan_goal, stream_plan
from planners.prompt import Limits
from swarm.errors import PlannerError
from swarm.plan import Plan
from swarm.providers.base import ModelRequest, ModelResponse
from swarm.providers.sim import Latency, SimProvider
from swarm.providers.sim_planner import (
    FINDINGS_SCHEMA,
    SIM_PLAN_LABEL,
    TALLY_CODE,
    plan_lines,
    subjects,
)
from swarm.validation import validate_data
from workers.registry import registry

goals = st.text(min_size=1, max_size=300).filter(lambda g: g.strip() != "")


def plan_for(goal: str, max_tasks: int = 300) -> Plan:
    return anyio.run(plan_goal, goal, SimProvider(), PlannerSettings(max_tasks=max_tasks))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(goal=goals)
def test_any_goal_gets_a_valid_deterministic_plan(goal: str) -> None:
    plan = plan_for(goal)
    assert validate_data(plan.model_dump(mode="json")) == plan
    assert plan == plan_for(goal)
    assert plan.goal == f"{SIM_PLAN_LABEL} {goal}"
    ids = [spec.id for spec in plan.tasks]
    assert ids[0] == "scope" and ids[-1] == "report"
    assert 6 <= len(plan.tasks) <= 300
    assert any(spec.output_schema == FINDINGS_SCHEMA for spec in plan.tasks)
    tally = ["tally"] if "tally" in ids else []
    assert plan.task("report").deps == [i for i in ids if i.endswith("-synth")] + tally
    assert {spec.kind for spec in plan.tasks} <= set(registry())


@pytest.mark.parametrize("max_tasks", [1, 2, 3, 4, 5, 7, 10, 25, 100, 300, 2000])
def test_the_plan_fits_the_task_limit_and_grows_with_it(max_tasks: int) -> None:
    plan = plan_for("offshore wind in the North Sea", max_tasks)
    assert 1 <= len(plan.tasks) <= max_tasks
    assert plan.tasks[-1].id == "report"
    if max_tasks >= 100:
        assert len(plan.tasks) > len(plan_for("offshore wind in the North Sea", 25).tasks)


def test_subjects_are_the_goals_content_phrases() -> None:
    assert subjects("How do heat pumps compare to gas boilers?") == ["heat pumps", "gas boilers"]
    assert subjects("?!") == ["the goal"]


class Watched:
    """The sim, with a note of when its stream has ended."""

    def __init__(self, inner: SimProvider) -> None:
        self.inner = inner
        self.name = "watched-sim"
        self.simulated = True
        self.ended_at: float | None = None

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await self.inner.complete(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        async for chunk in self.inner.stream(request):
            yield chunk
        self.ended_at = time.perf_counter()

    async def aclose(self) -> None:
        return None


@pytest.mark.anyio
async def test_the_first_task_arrives_before_the_sim_stream_ends() -> None:
    provider = Watched(SimProvider(latency=Latency("fixed", 0.4)))
    first: float | None = None
    final: Plan | None = None
    async for event in stream_plan("batteries for the grid", provider):
        if isinstance(event, TaskReady) and first is None:
            first = time.perf_counter()
            assert provider.ended_at is None
        if isinstance(event, PlanReady):
            final = event.plan
    assert first is not None and provider.ended_at is not None
    assert provider.ended_at - first > 0.2  # most of the latency came after the first task
    assert final == await plan_goal("batteries for the grid", SimProvider())


@pytest.mark.anyio
async def test_a_malformed_sim_answer_is_cut_off_and_named() -> None:
    with pytest.raises(PlannerError, match="cut off"):
        await plan_goal("g", SimProvider(faults={"malformed": 1.0}))


@pytest.mark.anyio
async def test_sim_stream_raises_its_faults_before_any_chunk() -> None:
    provider = SimProvider(faults={"error": 1.0})
    request = ModelRequest(model="m", prompt="hello")
    chunks = []
    with pytest.raises(Exception, match="simulated server error"):
        async for chunk in provider.stream(request):
            chunks.append(chunk)
    assert chunks == []


def test_with_the_code_kind_a_code_task_tallies_the_structured_findings() -> None:
    _, *tasks, end = plan_lines("tidal power", Limits(max_tasks=40), ("llm", "code"))
    by_id = {task["id"]: task for task in tasks}
    tally = by_id["tally"]
    assert tally["kind"] == "code" and "tally" in by_id["report"]["deps"]
    assert all(by_id[dep].get("output_schema") == FINDINGS_SCHEMA for dep in tally["deps"])
    assert len(tasks) <= 40 and end == {"end": True}
    results = {"a": {"findings": ["x", "y"], "confidence": 0.5}, "b": "x", "c": {"confidence": 1}}
    done = subprocess.run(
        [sys.executable, "-c", TALLY_CODE],
        input=json.dumps(results),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == {"sources": 2, "findings": 2, "mean_confidence": 0.75}
    assert "code" not in {t["kind"] for t in plan_lines("tidal power", Limits(), ("llm",))[1:-1]}

"""plan_goal and stream_plan: what they ask, how they repair, and that they agree."""

from __future__ import annotations

import json

import pytest

from planners import (
    LineProblem,
    PlanHeader,
    PlannerSettings,
    PlanReady,
    RepairStarted,
    TaskReady,
    can_stream,
    plan_goal,
    stream_plan,
)
from planners.events import PlanEvent
from planners.prompt import MARKER
from swarm.errors import ConfigError, PlannerError, ProviderError
from swarm.providers.base import ModelRequest
from swarm.providers.sim import SimProvider
from tests.fakes import ScriptedProvider
from tests.planners.fakes import GOAL, GOOD, OUTPUTS, StreamingFake, answering, read_output

pytestmark = pytest.mark.anyio


async def collect(events: object) -> list[PlanEvent]:
    return [event async for event in events]  # type: ignore[attr-defined]


def test_default_settings() -> None:
    s = PlannerSettings()
    assert (s.model, s.reasoning_effort, s.max_tokens) == ("moonshotai/kimi-k2.6", "high", 16384)
    assert (s.max_tasks, s.max_repairs, s.concurrency, s.step_pool) == (300, 2, 64, 4000)


async def test_the_request_asks_for_a_plan_with_reasoning_and_images() -> None:
    provider = answering(GOOD)
    await plan_goal(GOAL, provider, images=("chart.png", "https://example.com/map.png"))
    (request,) = provider.calls
    assert request.model == "moonshotai/kimi-k2.6"
    assert request.reasoning_effort == "high" and request.max_tokens == 16384
    assert request.images == ("chart.png", "https://example.com/map.png")
    assert request.system_prompt is not None and request.system_prompt.startswith(MARKER)
    assert json.dumps(GOAL) in request.prompt and request.json_schema is None
    assert request.call_key.startswith("planner/") and request.call_key.endswith("/0/1")


@pytest.mark.parametrize(
    ("goal", "settings", "words"),
    [
        ("  \n", PlannerSettings(), "the goal is empty"),
        ("x" * 20_001, PlannerSettings(), "at most 20000"),
        ("bad \udc80 bytes", PlannerSettings(), "not valid Unicode"),
        ("g", PlannerSettings(max_tasks=0), "max_tasks=0"),
        ("g", PlannerSettings(max_repairs=-1), "max_repairs=-1"),
        ("g", PlannerSettings(reasoning_effort="extreme"), "reasoning_effort='extreme'"),
    ],
)
async def test_bad_inputs_are_config_errors(
    goal: str, settings: PlannerSettings, words: str
) -> None:
    provider = answering(GOOD)
    with pytest.raises(ConfigError, match=words):
        await plan_goal(goal, provider, settings)
    assert provider.calls == []


async def test_no_repairs_means_one_answer() -> None:
    provider = answering("nothing useful")
    with pytest.raises(PlannerError, match="after 1 attempts"):
        await plan_goal(GOAL, provider, PlannerSettings(max_repairs=0))
    assert len(provider.calls) == 1


async def test_a_provider_error_is_not_a_plan_error() -> None:
    async def fail(request: ModelRequest) -> str:
        raise ProviderError("down", retryable=True, status=503)

    with pytest.raises(ProviderError):
        await plan_goal(GOAL, ScriptedProvider(script=fail))


async def test_streaming_and_one_shot_planning_give_the_same_plan() -> None:
    for name in ("ok/plain_lines.txt", "ok/whole_in_prose.txt", "ok/thinking_decoy_then_plan.txt"):
        text = read_output(OUTPUTS / name)
        whole = await plan_goal(GOAL, answering(text))
        streamed = await collect(stream_plan(GOAL, StreamingFake([text], chunk=2)))
        replayed = await collect(stream_plan(GOAL, answering(text)))
        assert streamed[-1] == replayed[-1] == PlanReady(whole)


async def test_without_stream_the_answer_is_replayed_into_the_same_events() -> None:
    assert not can_stream(answering(GOOD)) and can_stream(StreamingFake([GOOD]))
    streamed = await collect(stream_plan(GOAL, StreamingFake([GOOD], chunk=5)))
    replayed = await collect(stream_plan(GOAL, answering(GOOD)))
    assert streamed == replayed
    assert [type(e) for e in streamed] == [PlanHeader, *[TaskReady] * 4, PlanReady]


async def test_the_first_task_is_dispatchable_before_the_answer_ends() -> None:
    provider = StreamingFake([GOOD], chunk=8)
    async for event in stream_plan(GOAL, provider):
        if isinstance(event, TaskReady):
            assert provider.finished == 0
            assert provider.sent * 8 < len(GOOD) / 2
            break


async def test_a_cut_off_stream_is_continued_and_nothing_is_dispatched_twice() -> None:
    cut = GOOD[: GOOD.index('{"id": "milvus"') + 10]
    rest = GOOD[GOOD.index('{"id": "milvus"') :]
    provider = StreamingFake([cut, rest])
    events = await collect(stream_plan(GOAL, provider))
    repair = next(e for e in events if isinstance(e, RepairStarted))
    assert repair.continuation and repair.attempt == 1
    assert "cut off" in str(repair.problems[0])
    reask = provider.calls[1].prompt
    assert "these 2 tasks were" in reask and "criteria, qdrant" in reask
    assert f"- {repair.problems[0]}" in reask
    dispatched = [e.spec.id for e in events if isinstance(e, TaskReady)]
    assert dispatched == ["criteria", "qdrant", "milvus", "report"]
    final = events[-1]
    assert isinstance(final, PlanReady) and final.plan == await plan_goal(GOAL, answering(GOOD))


async def test_a_rejected_stream_with_nothing_dispatched_is_asked_again_whole() -> None:
    provider = StreamingFake(["I cannot plan that.", GOOD])
    events = await collect(stream_plan(GOAL, provider))
    repair = next(e for e in events if isinstance(e, RepairStarted))
    assert not repair.continuation
    assert "Write the whole plan again" in provider.calls[1].prompt
    assert isinstance(events[-1], PlanReady)


async def test_after_a_whole_reask_the_new_header_is_announced() -> None:
    rejected = json.dumps({"goal": "first try"}) + "\n" + '{"end": true}\n'
    whole = read_output(OUTPUTS / "ok" / "whole_in_prose.txt")
    events = await collect(stream_plan(GOAL, StreamingFake([rejected, whole])))
    headers = [e.goal for e in events if isinstance(e, PlanHeader)]
    assert headers == ["first try", GOAL]
    assert sum(isinstance(e, TaskReady) for e in events) == 4


async def test_a_whole_json_answer_is_announced_deps_first_when_it_ends() -> None:
    text = read_output(OUTPUTS / "ok" / "whole_deps_in_any_order.txt")
    events = await collect(stream_plan(GOAL, StreamingFake([text], chunk=16)))
    assert isinstance(events[0], PlanHeader)
    order = [e.spec.id for e in events if isinstance(e, TaskReady)]
    assert order == ["criteria", "milvus", "qdrant", "report"]
    assert isinstance(events[-1], PlanReady)
    assert [spec.id for spec in events[-1].plan.tasks] == ["report", "milvus", "qdrant", "criteria"]


async def test_line_problems_are_reported_as_they_happen() -> None:
    text = read_output(OUTPUTS / "unknown_kind_line.txt")
    provider = StreamingFake([text, GOOD])
    events = await collect(stream_plan(GOAL, provider))
    first_problem = next(i for i, e in enumerate(events) if isinstance(e, LineProblem))
    first_repair = next(i for i, e in enumerate(events) if isinstance(e, RepairStarted))
    assert first_problem < first_repair
    assert isinstance(events[-1], PlanReady)


async def test_the_sim_plans_through_both_paths() -> None:
    plan = await plan_goal("solar in Kenya", SimProvider())
    events = await collect(stream_plan("solar in Kenya", SimProvider()))
    assert events[-1] == PlanReady(plan)

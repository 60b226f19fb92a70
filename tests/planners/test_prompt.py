"""The planning prompt: it tells the model everything the plan must satisfy, its worked example
is itself a valid plan, and the sim can read back what was asked."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from planners.lines import PlanLineParser
from planners.prompt import (
    MARKER,
    PREVIOUS_ANSWER_CHARS,
    Limits,
    build_prompt,
    continuation_prompt,
    is_planning_prompt,
    read_prompt,
    repair_prompt,
)
from swarm.errors import Problem
from swarm.plan import plan_json_schema
from workers.registry import registry

KINDS = {name: worker.description for name, worker in registry().items()}
LIMITS = Limits(max_tasks=120, concurrency=32, step_pool=900)


def test_the_prompt_carries_goal_kinds_limits_protocol_and_schema() -> None:
    built = build_prompt("Map the coral reefs", LIMITS, KINDS)
    assert built.system_prompt.startswith(MARKER) and built.prompt.startswith(MARKER)
    text = built.prompt
    assert 'GOAL: "Map the coral reefs"' in text
    for name, description in KINDS.items():
        assert f"- {name}: {description}" in text
    assert "At most 120 tasks. Up to 32 tasks run at once" in text and "900 steps" in text
    assert '{"end": true}' in text and "EARLIER lines" in text
    schema = json.loads(text.rsplit("\n", 1)[1])
    assert schema == plan_json_schema()


def test_the_worked_example_is_a_valid_plan_in_the_line_protocol() -> None:
    text = build_prompt("g", LIMITS, KINDS).prompt
    example = text.split("(for a different goal):\n", 1)[1].split("\n\nThe JSON Schema", 1)[0]
    parser = PlanLineParser("g", LIMITS)
    parser.feed(example)
    plan = parser.close()
    assert len(plan.tasks) == 5
    assert any(spec.output_schema for spec in plan.tasks)


@settings(max_examples=60, deadline=None)
@given(
    goal=st.text(min_size=1, max_size=200),
    limits=st.builds(Limits, st.integers(1, 10_000), st.integers(1, 10_000), st.integers(1, 10**6)),
)
def test_read_prompt_recovers_what_build_prompt_asked(goal: str, limits: Limits) -> None:
    built = build_prompt(goal, limits, KINDS)
    facts = read_prompt(built.prompt)
    assert facts is not None
    assert (facts.goal, facts.limits, set(facts.kinds)) == (goal, limits, set(KINDS))
    reask = repair_prompt(built, 'GOAL: "decoy"\nLIMITS: max_tasks=1 concurrency=1 step_pool=1', [])
    assert read_prompt(reask) == facts


def test_only_planning_prompts_are_recognised() -> None:
    assert read_prompt("Summarise this text") is None
    assert read_prompt(MARKER + "\nno facts here") is None
    assert not is_planning_prompt(None, "hello")
    assert is_planning_prompt(MARKER + "\nsystem", "hello")


def test_a_reask_quotes_every_problem_exactly_and_bounds_the_previous_answer() -> None:
    built = build_prompt("g", LIMITS, KINDS)
    problems = [Problem(f"task 't{i}'", "deps", f"unknown dependency 'x{i}'") for i in range(80)]
    reask = repair_prompt(built, "z" * (PREVIOUS_ANSWER_CHARS + 500), problems)
    assert reask.startswith(built.prompt)
    assert "- task 't0'.deps: unknown dependency 'x0'" in reask
    assert "- task 't59'.deps" in reask and "- task 't60'.deps" not in reask
    assert "… and 20 more problems" in reask
    assert "(500 more chars)" in reask and "z" * (PREVIOUS_ANSWER_CHARS + 1) not in reask


def test_a_continuation_lists_the_accepted_tasks_and_the_room_left() -> None:
    built = build_prompt("g", Limits(max_tasks=3), KINDS)
    problems = [Problem("output", "", "cut off")]
    more = continuation_prompt(built, "...", problems, ["a", "b"], Limits(max_tasks=3))
    assert "these 2 tasks were" in more and ": a, b" in more and "at most 1 more tasks" in more
    full = continuation_prompt(built, "...", problems, ["a", "b", "c"], Limits(max_tasks=3))
    assert "send only the end line" in full

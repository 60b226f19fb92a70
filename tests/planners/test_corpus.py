"""The corpus of malformed planner outputs: each is repaired (a good answer follows) or rejected
clearly (bad answers only), through plan_goal and through stream_plan, and never crashes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from planners import PlannerSettings, PlanReady, RepairStarted, TaskReady, plan_goal, stream_plan
from planners.extract import MAX_LINE_CHARS, MAX_OUTPUT_CHARS
from planners.lines import PlanLineParser
from swarm.errors import PlanError, PlannerError, Problem
from swarm.plan import Plan
from tests.planners.fakes import GOAL, GOOD, OUTPUTS, StreamingFake, answering, read_output

pytestmark = pytest.mark.anyio

SETTINGS = PlannerSettings(max_tasks=50)
HEADER = json.dumps({"goal": GOAL}) + "\n"


def _task(i: int) -> str:
    return json.dumps({"id": f"t{i}", "kind": "llm", "prompt": f"do {i}"})


def _many_lines() -> str:
    return HEADER + "".join(_task(i) + "\n" for i in range(3000)) + '{"end": true}\n'


def _many_whole() -> str:
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": f"do {i}"} for i in range(3000)]
    return json.dumps({"goal": GOAL, "tasks": tasks})


def _huge_task() -> str:
    big = json.dumps({"id": "big", "kind": "llm", "prompt": "x" * (MAX_LINE_CHARS + 10)})
    return HEADER + big + "\n" + '{"end": true}\n'


def _huge_output() -> str:
    line = json.dumps({"note": "y" * 1000}) + "\n"
    return HEADER + line * (MAX_OUTPUT_CHARS // len(line) + 10)


GENERATED: dict[str, Callable[[], str]] = {
    "generated:thousands_of_task_lines": _many_lines,
    "generated:thousands_of_tasks_whole": _many_whole,
    "generated:huge_single_task": _huge_task,
    "generated:huge_output": _huge_output,
}

# For every malformed output: words that one of its problems must contain.
EXPECTED: dict[str, str] = {
    "array_of_tasks.txt": "no plan found",
    "bad_output_schema.txt": "not a JSON Schema",
    "bad_task_id.txt": "must start with a letter or digit",
    "control_characters.txt": "Invalid control character",
    "cycle_whole.txt": "cycle: criteria -> qdrant -> report -> criteria",
    "deep_nesting.txt": "nested more than 32 levels",
    "deps_on_later_line.txt": "deps may only name tasks on earlier lines",
    "duplicate_ids_line.txt": "duplicate id",
    "duplicate_ids_whole.txt": "duplicate id (also tasks[1])",
    "empty.txt": "the answer is empty",
    "invalid_json_line.txt": "not a complete JSON object",
    "invalid_json_whole.txt": "invalid JSON at line 8 column 17",
    "llm_without_prompt.txt": "an llm task needs a prompt",
    "lone_surrogate.txt": "not valid Unicode",
    "missing_end_line.txt": 'stopped before its {"end": true} line',
    "negative_retries.txt": "must be at least 0",
    "neither_task_nor_end.txt": "neither a task",
    "no_header_unknown_dependency.txt": "2 task lines came with no header line",
    "over_step_pool.txt": "over the planner's limit of 4000",
    "prose_only.txt": "prose only",
    "second_header_differs.txt": "a second header",
    "self_dependency.txt": "cannot depend on itself",
    "several_fences_none_valid.txt": "cycle:",
    "stray_think_close_after_tasks.txt": "</think> came after tasks were accepted",
    "tasks_not_a_list.txt": "must be a list",
    "thinking_decoy_then_truncated.txt": "cut off and dropped",
    "thinking_unterminated.txt": "ended inside its thinking trace",
    "truncated_line.txt": "cut off and dropped",
    "truncated_whole.txt": "never closes: the answer is truncated",
    "unknown_dependency_line.txt": "unknown dependency 'ghost'",
    "unknown_dependency_whole.txt": "unknown dependency 'ghost'",
    "unknown_field_header.txt": "plan.deadline: unknown field",
    "unknown_field_task.txt": "promt: unknown field",
    "unknown_kind_line.txt": "unknown kind 'telepathy'",
    "unknown_kind_whole.txt": "unknown kind 'oracle'",
    "whitespace_only.txt": "the answer is empty",
    "wrong_types_header.txt": "budget.max_concurrency: must be a whole number",
    "wrong_types_task.txt": "retries: must be a whole number",
    "yaml_instead.txt": "prose only",
    "zero_tasks.txt": "header but no tasks",
    "generated:thousands_of_task_lines": "over the limit of 50 tasks",
    "generated:thousands_of_tasks_whole": "3000 tasks is over the limit of 50",
    "generated:huge_single_task": f"longer than {MAX_LINE_CHARS} characters",
    "generated:huge_output": f"over {MAX_OUTPUT_CHARS} characters",
}
CONTINUATION_FIXES = {"deps_on_later_line.txt", "stray_think_close_after_tasks.txt"}
"""Cases where the same answer, sent again as a continuation, completes the plan."""
FULL = {"generated:thousands_of_task_lines"}
"""Cases that fill the plan while streaming: the only good continuation is the end line."""
FILES = sorted(p.name for p in OUTPUTS.glob("*.txt"))
CASES = FILES + sorted(GENERATED)


def bad_output(case: str) -> str:
    if case in GENERATED:
        return GENERATED[case]()
    return read_output(OUTPUTS / case)


def problems_of(text: str) -> list[Problem]:
    parser = PlanLineParser(GOAL, SETTINGS.limits)
    parser.feed(text)
    with pytest.raises(PlanError) as caught:
        parser.close()
    return caught.value.problems


def good_plan() -> Plan:
    parser = PlanLineParser(GOAL, SETTINGS.limits)
    parser.feed(GOOD)
    return parser.close()


def test_the_corpus_is_complete() -> None:
    assert len(FILES) >= 30
    assert set(EXPECTED) == set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_each_output_is_rejected_with_the_expected_problem(case: str) -> None:
    problems = problems_of(bad_output(case))
    assert problems
    assert any(EXPECTED[case] in str(p) for p in problems), [str(p) for p in problems]


@pytest.mark.parametrize("case", CASES)
async def test_a_good_repair_gives_a_plan_and_the_reask_quotes_every_problem(case: str) -> None:
    bad = bad_output(case)
    provider = answering(bad, GOOD)
    plan = await plan_goal(GOAL, provider, SETTINGS)
    assert plan == good_plan()
    assert len(provider.calls) == 2
    reask = provider.calls[1].prompt
    assert "Your previous answer could not be used" in reask
    for problem in problems_of(bad)[:60]:
        assert f"- {problem}" in reask


@pytest.mark.parametrize("case", CASES)
async def test_bad_answers_only_end_in_a_planner_error(case: str) -> None:
    bad = bad_output(case)
    provider = answering(bad)
    with pytest.raises(PlannerError) as caught:
        await plan_goal(GOAL, provider, SETTINGS)
    assert len(provider.calls) == 1 + SETTINGS.max_repairs
    error = caught.value
    assert error.exit_code == 2
    assert error.attempts == 3
    assert any(EXPECTED[case] in str(p) for p in error.problems)
    assert "after 3 attempts" in str(error) and "hint:" in str(error)


@pytest.mark.parametrize("case", CASES)
async def test_streaming_repairs_or_rejects_every_case(case: str) -> None:
    bad = bad_output(case)
    repaired = StreamingFake([bad, '{"end": true}\n' if case in FULL else GOOD], chunk=4096)
    events = [event async for event in stream_plan(GOAL, repaired, SETTINGS)]
    last = events[-1]
    assert isinstance(last, PlanReady)
    assert any(isinstance(e, RepairStarted) for e in events)
    dispatched = [e.spec.id for e in events if isinstance(e, TaskReady)]
    assert sorted(dispatched) == sorted(spec.id for spec in last.plan.tasks)
    assert len(set(dispatched)) == len(dispatched)
    if case in FULL:
        assert "send only the end line" in repaired.calls[1].prompt

    stubborn = StreamingFake([bad], chunk=4096)
    if case in CONTINUATION_FIXES:
        # Sent again as a continuation, its early lines are now known: the late task fits.
        events = [event async for event in stream_plan(GOAL, stubborn, SETTINGS)]
        assert isinstance(events[-1], PlanReady)
        return
    with pytest.raises(PlannerError):
        async for _ in stream_plan(GOAL, stubborn, SETTINGS):
            pass
    assert len(stubborn.calls) == 3


@pytest.mark.parametrize("name", sorted(p.name for p in (OUTPUTS / "ok").glob("*.txt")))
async def test_recoverable_outputs_need_no_repair_and_stream_to_the_same_plan(name: str) -> None:
    text = read_output(OUTPUTS / "ok" / name)
    provider = answering(text)
    plan = await plan_goal(GOAL, provider, SETTINGS)
    assert len(provider.calls) == 1
    assert [spec.id for spec in plan.tasks] != []
    assert plan.goal == GOAL
    events = [e async for e in stream_plan(GOAL, StreamingFake([text], chunk=3), SETTINGS)]
    final = events[-1]
    assert isinstance(final, PlanReady) and final.plan == plan


def test_fixture_files_are_what_the_tests_say(tmp_path: Path) -> None:
    # Guard against an editor "fixing" a fixture: the broken ones must stay broken.
    for name in FILES:
        text = read_output(OUTPUTS / name)
        assert problems_of(text), name

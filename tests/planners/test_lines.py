"""The line protocol parser: incremental, chunk-independent, and every announced task is
dispatchable (its deps were announced before it)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planners.events import LineProblem, PlanEvent, PlanHeader, TaskReady
from planners.lines import MAX_PROBLEMS, PlanLineParser
from planners.prompt import DEFAULT_LIMITS, Limits
from swarm.errors import PlanError
from swarm.providers.sim_planner import plan_lines
from tests.planners.fakes import GOAL, GOOD, OUTPUTS, read_output

ALL_OUTPUTS = sorted(OUTPUTS.glob("*.txt")) + sorted((OUTPUTS / "ok").glob("*.txt"))
SIM_TEXT = "".join(json.dumps(line) + "\n" for line in plan_lines("grid batteries", Limits()))


def lines(*objs: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def task(tid: str, *deps: str, **extra: object) -> dict[str, object]:
    return {"id": tid, "kind": "llm", "prompt": f"do {tid}", "deps": list(deps), **extra}


def run(
    text: str, cuts: list[int] | None = None, limits: Limits = DEFAULT_LIMITS
) -> tuple[list[PlanEvent], object]:
    """Feed ``text`` cut at ``cuts``; the events and the plan (or the PlanError's problems)."""
    parser = PlanLineParser(GOAL, limits)
    events: list[PlanEvent] = []
    bounds = [0, *sorted(cuts or []), len(text)]
    for start, end in itertools.pairwise(bounds):
        events += parser.feed(text[start:end])
    events += parser.finish()
    try:
        outcome: object = parser.close()
    except PlanError as exc:
        outcome = exc.problems
    return events, outcome


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_events_do_not_depend_on_how_the_text_is_cut(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from([*ALL_OUTPUTS, None]))
    text = SIM_TEXT if path is None else read_output(path)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=12))
    assert run(text, cuts) == run(text)


@pytest.mark.parametrize("path", [*ALL_OUTPUTS, None], ids=lambda p: p.name if p else "sim")
def test_every_announced_task_has_its_deps_announced_before_it(path: Path | None) -> None:
    text = SIM_TEXT if path is None else read_output(path)
    events, _ = run(text, list(range(0, len(text), 5)))
    announced: set[str] = set()
    for event in events:
        if isinstance(event, TaskReady):
            assert set(event.spec.deps) <= announced
            assert event.spec.id not in announced
            announced.add(event.spec.id)


def test_a_task_is_announced_as_soon_as_its_line_is_complete() -> None:
    parser = PlanLineParser(GOAL)
    first, second, *rest = GOOD.splitlines(keepends=True)
    assert isinstance(parser.feed(first)[0], PlanHeader)
    assert parser.feed(second[:-1]) == []  # not before its newline
    (event,) = parser.feed("\n")
    assert isinstance(event, TaskReady) and event.spec.id == "criteria" and event.line == 2
    for line in rest:
        parser.feed(line)
    assert [spec.id for spec in parser.close().tasks] == ["criteria", "qdrant", "milvus", "report"]


def test_think_tags_split_across_chunks_are_still_removed() -> None:
    text = (
        "<think>\n" + lines({"goal": "decoy"}, task("decoy"), {"end": True}) + "</think>\n" + GOOD
    )
    events, plan = run(text, [3, 5, len(text) - len(GOOD) - 4, len(text) - len(GOOD) - 6])
    assert not isinstance(plan, list)
    assert all(e.spec.id != "decoy" for e in events if isinstance(e, TaskReady))


def test_a_stray_think_close_before_any_task_discards_a_decoy_header() -> None:
    text = lines({"goal": "decoy"}) + "more thinking</think>\n" + GOOD
    events, plan = run(text)
    headers = [e for e in events if isinstance(e, PlanHeader)]
    assert [h.goal for h in headers] == ["decoy", GOAL]
    assert getattr(plan, "goal", None) == GOAL


def test_resume_keeps_accepted_tasks_and_ignores_lines_repeated_unchanged() -> None:
    parser = PlanLineParser(GOAL)
    parser.feed(lines({"goal": GOAL}, task("a"), task("b", "a")) + '{"id": "c", "ki')
    parser.finish()
    with pytest.raises(PlanError, match="cut off and dropped"):
        parser.close()
    parser.resume()
    events = parser.feed(
        lines({"goal": GOAL}, task("a"), task("b", "a", prompt="changed"), task("c", "b"))
        + lines({"end": True})
    )
    kinds = [(type(e).__name__, getattr(e, "line", 0)) for e in events]
    assert kinds == [("LineProblem", 3), ("TaskReady", 4)]
    assert "duplicate id" in str(events[0].problem)  # type: ignore[union-attr]
    with pytest.raises(PlanError, match="duplicate id"):
        parser.close()
    parser.resume()
    parser.feed(lines({"end": True}))
    assert [spec.id for spec in parser.close().tasks] == ["a", "b", "c"]


def test_a_different_second_header_is_a_problem_and_the_first_one_counts() -> None:
    events, outcome = run(lines({"goal": GOAL}, task("a"), {"goal": "other"}, {"end": True}))
    assert any(isinstance(e, LineProblem) and "second header" in str(e.problem) for e in events)
    assert isinstance(outcome, list)


def test_tasks_over_the_limit_are_dropped_with_one_problem() -> None:
    text = lines({"goal": GOAL}, *(task(f"t{i}") for i in range(20)), {"end": True})
    events, outcome = run(text, limits=Limits(max_tasks=5))
    assert sum(isinstance(e, TaskReady) for e in events) == 5
    problems = [e for e in events if isinstance(e, LineProblem)]
    assert len(problems) == 1 and "over the limit of 5 tasks" in str(problems[0].problem)
    assert isinstance(outcome, list)


def test_problems_are_capped() -> None:
    text = lines({"goal": GOAL}, *({"id": f"t{i}", "kind": "nope"} for i in range(500)))
    events, outcome = run(text + lines({"end": True}))
    assert sum(isinstance(e, LineProblem) for e in events) == MAX_PROBLEMS
    assert isinstance(outcome, list)
    assert len(outcome) == MAX_PROBLEMS + 1
    assert "more problems" in str(outcome[-1])


def test_the_header_fills_the_goal_and_the_planners_limits() -> None:
    events, plan = run(
        lines({"defaults": {"retries": 1}}, task("a"), {"end": True}),
        limits=Limits(concurrency=8, step_pool=100),
    )
    header = events[0]
    assert isinstance(header, PlanHeader)
    assert (header.goal, header.budget.max_concurrency, header.budget.max_steps) == (GOAL, 8, 100)
    assert header.defaults.retries == 1
    assert getattr(plan, "budget", None) == header.budget


def test_lines_after_the_end_line_and_an_end_line_before_the_header_are_ignored() -> None:
    text = lines({"end": True}, {"goal": GOAL}, task("a"), {"end": True}, {"oops": 1}, task("z"))
    events, plan = run(text)
    assert [e.spec.id for e in events if isinstance(e, TaskReady)] == ["a"]
    assert not any(isinstance(e, LineProblem) for e in events)
    assert [spec.id for spec in getattr(plan, "tasks", [])] == ["a"]


def test_feeding_after_the_end_is_ignored_and_finish_is_idempotent() -> None:
    parser = PlanLineParser(GOAL)
    parser.feed(GOOD)
    parser.finish()
    assert parser.finish() == [] and parser.feed(task("late").__repr__()) == []
    assert len(parser.close().tasks) == 4


def test_task_lines_without_a_header_still_give_a_plan_with_the_goal_and_defaults() -> None:
    text = lines(task("a"), task("b", "a"), {"end": True})
    _, outcome = run(text)
    with_header = run(lines({"goal": GOAL}) + text)[1]
    assert outcome == with_header  # the same plan as with the header the model left out
    assert not isinstance(outcome, list) and [s.id for s in outcome.tasks] == ["a", "b"]


def test_task_lines_without_a_header_that_are_wrong_name_their_problem() -> None:
    _, outcome = run(lines(task("a"), task("b", "ghost"), {"end": True}))
    assert isinstance(outcome, list)
    text = [str(p) for p in outcome]
    assert any("unknown dependency 'ghost'" in t for t in text), text
    assert any("2 task lines came with no header line" in t for t in text), text

"""Whole-plan validation: every rule, each problem named by task and field, all reported at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from swarm.errors import PlanError
from swarm.validation import validate_data, validate_file


def task(tid: str, *deps: str, **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": tid, "kind": "llm", "prompt": f"do {tid}"}
    if deps:
        spec["deps"] = list(deps)
    spec.update(fields)
    return spec


def plan(*tasks: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"goal": "g", **top, "tasks": list(tasks)}


def problems(raw: Any) -> list[tuple[str, str, str]]:
    """Every (where, field, message) that validation reports for ``raw``."""
    with pytest.raises(PlanError) as exc:
        validate_data(raw, source="test")
    assert exc.value.source == "test"
    return [(p.where, p.field, p.message) for p in exc.value.problems]


def located(raw: Any) -> set[tuple[str, str]]:
    return {(where, field) for where, field, _ in problems(raw)}


def only(raw: Any) -> tuple[str, str, str]:
    [problem] = problems(raw)
    return problem


def test_a_good_plan_validates() -> None:
    result = validate_data(plan(task("a"), task("b", "a"), task("c", "a", "b")))
    assert [t.id for t in result.tasks] == ["a", "b", "c"]


# -- one rule at a time ----------------------------------------------------------------------


def test_ids_are_unique() -> None:
    assert only(plan(task("a"), task("a"))) == ("task 'a'", "id", "duplicate id (also tasks[0])")


def test_ids_follow_the_pattern() -> None:
    where, field, message = only(plan(task("-starts-with-dash")))
    assert (where, field) == ("task '-starts-with-dash'", "id")
    assert "should match pattern" in message


def test_dependencies_must_exist() -> None:
    assert only(plan(task("a", "ghost"))) == ("task 'a'", "deps", "unknown dependency 'ghost'")


def test_no_self_dependency() -> None:
    assert only(plan(task("a", "a"))) == ("task 'a'", "deps", "a task cannot depend on itself")


def test_cycles_show_the_cycle_path() -> None:
    raw = plan(task("start"), task("x", "start", "z"), task("y", "x"), task("z", "y"))
    assert only(raw) == ("task 'x'", "deps", "cycle: x -> y -> z -> x")


def test_kinds_must_be_registered() -> None:
    where, field, message = only(plan(task("a", kind="telepathy")))
    assert (where, field) == ("task 'a'", "kind")
    assert message.startswith("unknown kind 'telepathy' (known: ") and "llm" in message


def test_unknown_fields_are_refused_everywhere() -> None:
    raw = plan(
        task("a", promt="typo"),
        task("b", params={"temprature": 1}),
        defaults={"retry": 3},
        budget={"max_step": 3},
        extra=1,
    )
    assert located(raw) == {
        ("task 'a'", "promt"),
        ("task 'b'", "params.temprature"),
        ("plan", "defaults.retry"),
        ("plan", "budget.max_step"),
        ("plan", "extra"),
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"retries": "two"}, "retries"),
        ({"timeout_s": [1]}, "timeout_s"),
        ({"deps": "a"}, "deps"),
        ({"prompt": 3}, "prompt"),
        ({"params": {"reasoning_effort": "extreme"}}, "params.reasoning_effort"),
        ({"output_schema": "object"}, "output_schema"),
        ({"config": []}, "config"),
    ],
)
def test_wrong_types_name_the_field(fields: dict[str, Any], field: str) -> None:
    assert located(plan(task("a"), task("b", **fields))) == {("task 'b'", field)}


def test_goal_and_tasks_are_required() -> None:
    assert located({"tasks": [task("a")]}) == {("plan", "goal")}
    assert located({"goal": ""}) == {("plan", "goal"), ("plan", "tasks")}
    assert located(plan()) == {("plan", "tasks")}


@pytest.mark.parametrize(
    ("top", "field"),
    [
        ({"budget": {"max_steps": -1}}, "budget.max_steps"),
        ({"budget": {"max_concurrency": 0}}, "budget.max_concurrency"),
        ({"budget": {"max_tokens": 0}}, "budget.max_tokens"),
        ({"budget": {"max_cost_usd": -0.5}}, "budget.max_cost_usd"),
        ({"defaults": {"retries": 21}}, "defaults.retries"),
        ({"defaults": {"timeout_s": 0}}, "defaults.timeout_s"),
        ({"defaults": {"params": {"max_tokens": 40_000}}}, "defaults.params.max_tokens"),
    ],
)
def test_plan_limits(top: dict[str, Any], field: str) -> None:
    assert located(plan(task("a"), **top)) == {("plan", field)}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"retries": -1}, "retries"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": 4001}, "max_steps"),
        ({"timeout_s": -3}, "timeout_s"),
        ({"params": {"temperature": 2.5}}, "params.temperature"),
    ],
)
def test_task_limits(fields: dict[str, Any], field: str) -> None:
    assert located(plan(task("a", **fields))) == {("task 'a'", field)}


def test_task_allowance_cannot_exceed_the_step_pool() -> None:
    raw = plan(task("a"), task("big", max_steps=50), budget={"max_steps": 10})
    assert only(raw) == (
        "task 'big'",
        "max_steps",
        "allowance 50 exceeds the run's step pool budget.max_steps=10",
    )


def test_a_default_allowance_over_the_pool_is_reported_per_task() -> None:
    raw = plan(
        task("a"), task("b", max_steps=5), budget={"max_steps": 10}, defaults={"max_steps": 20}
    )
    assert located(raw) == {("task 'a'", "max_steps")}


def test_per_kind_limits_must_be_positive_and_name_a_kind() -> None:
    raw = plan(task("a"), budget={"per_kind_concurrency": {"llm": 0}})
    assert only(raw) == ("plan", "budget.per_kind_concurrency.llm", "must be at least 1")
    raw = plan(task("a"), budget={"per_kind_concurrency": {"llm": 2, "telepathy": 1}})
    assert only(raw) == (
        "plan",
        "budget.per_kind_concurrency.telepathy",
        "unknown kind 'telepathy'",
    )


@pytest.mark.parametrize("prompt", [None, "", "  \n"])
def test_llm_tasks_need_a_prompt(prompt: str | None) -> None:
    spec = (
        {"id": "a", "kind": "llm"}
        if prompt is None
        else {"id": "a", "kind": "llm", "prompt": prompt}
    )
    assert only(plan(spec)) == ("task 'a'", "prompt", "an llm task needs a prompt")


def test_output_schema_must_be_a_json_schema() -> None:
    where, field, message = only(plan(task("a", output_schema={"type": "nonsense"})))
    assert (where, field) == ("task 'a'", "output_schema")
    assert message.startswith("not a JSON Schema:")
    ok = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    validate_data(plan(task("a", output_schema=ok)))


def test_llm_config_is_checked() -> None:
    assert only(plan(task("a", config={"temperature": 1}))) == (
        "task 'a'",
        "config",
        "unknown keys for llm: ['temperature']",
    )
    for reasks in (-1, 11, "2", True):
        assert located(plan(task("a", config={"reasks": reasks}))) == {
            ("task 'a'", "config.reasks")
        }
    validate_data(plan(task("a", config={"reasks": 0})))


# -- every problem at once -------------------------------------------------------------------


def test_model_and_graph_problems_are_reported_together() -> None:
    raw = plan(
        task("a", retries="x"),
        task("a"),
        task("b", "ghost"),
        task("c", "d"),
        task("d", "c"),
        task("e", kind="telepathy"),
        task("f", "f", promt="typo"),
        budget={"max_steps": 0},
    )
    assert located(raw) == {
        ("task 'a'", "retries"),
        ("task 'a'", "id"),
        ("task 'b'", "deps"),
        ("task 'c'", "deps"),
        ("task 'e'", "kind"),
        ("task 'f'", "deps"),
        ("task 'f'", "promt"),
        ("plan", "budget.max_steps"),
    }


def test_kind_problems_are_reported_together() -> None:
    raw = plan(
        {"id": "a", "kind": "llm"},
        {"id": "b", "kind": "llm", "prompt": " "},
        task("c", output_schema={"type": 5}, config={"reasks": 99}),
        budget={"per_kind_concurrency": {"shell": 1}},
    )
    assert located(raw) == {
        ("task 'a'", "prompt"),
        ("task 'b'", "prompt"),
        ("task 'c'", "output_schema"),
        ("task 'c'", "config.reasks"),
        ("plan", "budget.per_kind_concurrency.shell"),
    }


@pytest.mark.parametrize(
    "other",
    [task("b", retries="x"), task("b", max_steps=50)],
    ids=["model-problem", "limit-problem"],
)
def test_kind_problems_are_reported_with_every_other_problem(other: dict[str, Any]) -> None:
    raw = plan({"id": "a", "kind": "llm"}, other, budget={"max_steps": 20})
    assert ("task 'a'", "prompt") in located(raw)


def test_validate_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan(task("a", "ghost"))), encoding="utf-8")
    with pytest.raises(PlanError) as exc:
        validate_file(path)
    assert exc.value.source == str(path)
    assert str(exc.value).startswith(f"{path}: invalid plan, 1 problem:")
    assert "  - task 'a'.deps: unknown dependency 'ghost'" in str(exc.value)


def test_validate_file_runs_the_kind_checks(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan({"id": "a", "kind": "llm"})), encoding="utf-8")
    with pytest.raises(PlanError) as exc:
        validate_file(path)
    assert [(p.where, p.field) for p in exc.value.problems] == [("task 'a'", "prompt")]
    assert exc.value.source == str(path)

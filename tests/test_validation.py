"""Whole-plan validation: every rule, each problem named by task and field, all reported at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from swarm.errors import PlanError
from swarm.plan import Plan
from swarm.providers.pricing import Price
from swarm.validation import budget_problems, check_budget, validate_data, validate_file


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
    assert "must start with a letter or digit" in message


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


# -- plain words and did-you-mean ------------------------------------------------------------


def test_a_misspelt_field_gets_the_closest_known_name() -> None:
    raw = plan(task("a", dep=["b"]), task("b", timeout=3))
    assert set(problems(raw)) == {
        ("task 'a'", "dep", "unknown field; did you mean 'deps'?"),
        ("task 'b'", "timeout", "unknown field; did you mean 'timeout_s'?"),
    }


def test_misspelt_fields_in_the_plan_sections_name_the_section() -> None:
    raw = plan(task("a"), budget={"max_step": 3}, defaults={"params": {"max_token": 9}})
    assert set(problems(raw)) == {
        ("plan", "budget.max_step", "unknown field; did you mean 'budget.max_steps'?"),
        (
            "plan",
            "defaults.params.max_token",
            "unknown field; did you mean 'defaults.params.max_tokens'?",
        ),
    }


def test_a_field_like_nothing_known_stays_an_unknown_field() -> None:
    [(_, field, message)] = problems(plan(task("a", zzzzzz=1)))
    assert field == "zzzzzz" and message.startswith("unknown field")
    assert "did you mean" not in message


def test_validator_messages_are_plain_words_not_pydantic_text() -> None:
    raw = plan(task("a b", retries="x"), task("c", retries=-1), task("d", timeout_s="soon"))
    found = {(where, field): message for where, field, message in problems(raw)}
    assert found[("task 'a b'", "id")].startswith("must start with a letter or digit")
    assert found[("task 'a b'", "retries")] == "must be a whole number"
    assert found[("task 'c'", "retries")] == "must be at least 0"
    assert found[("task 'd'", "timeout_s")] == "must be a number"
    assert not any("Input should" in m or "pattern" in m for m in found.values())


# -- budgets a plan cannot fit ---------------------------------------------------------------


def _llm_plan(n: int, **budget: Any) -> Plan:
    return validate_data(plan(*(task(f"t{i}") for i in range(n)), budget=budget))


def test_more_model_tasks_than_the_step_pool_is_a_budget_problem() -> None:
    [problem] = budget_problems(_llm_plan(5000))  # the default pool holds 4000 steps
    assert (problem.where, problem.field) == ("plan", "budget.max_steps")
    assert "at least 5000 steps" in problem.message and "raise budget.max_steps" in problem.message
    assert budget_problems(_llm_plan(4000)) == []
    assert budget_problems(_llm_plan(5000, max_steps=5000)) == []


def test_tasks_that_call_no_model_need_no_step() -> None:
    tasks = [{"id": f"c{i}", "kind": "code", "config": {"code": "print(1)"}} for i in range(3)]
    raw = {"goal": "g", "budget": {"max_steps": 1}, "tasks": [task("a"), *tasks]}
    assert budget_problems(validate_data(raw)) == []


def test_a_token_budget_below_the_prompts_is_a_budget_problem() -> None:
    long = "x" * 1600  # at least 100 tokens in, plus one out
    raw = plan(task("a", prompt=long), task("b", prompt=long), budget={"max_tokens": 150})
    [problem] = budget_problems(validate_data(raw))
    assert problem.field == "budget.max_tokens" and "at least 202 tokens" in problem.message


def test_a_dollar_budget_below_the_cheapest_run_is_a_budget_problem() -> None:
    prices = {"moonshotai/kimi-k2.6": Price(1_000_000.0, 1_000_000.0)}  # $1 a token
    cheap = _llm_plan(3, max_cost_usd=5.0)  # 3 tasks: 1 token in ("do tN" / 16) + 1 out each
    [problem] = budget_problems(cheap, prices)
    assert problem.field == "budget.max_cost_usd"
    assert "at least $6.00" in problem.message and "$5.00" in problem.message
    assert budget_problems(_llm_plan(3, max_cost_usd=6.0), prices) == []
    assert budget_problems(cheap, {}) == []  # an unpriced model is not guessed at


def test_check_budget_raises_a_plan_error_naming_every_field() -> None:
    with pytest.raises(PlanError) as caught:
        check_budget(_llm_plan(5000, max_tokens=10), source="p.json")
    assert caught.value.exit_code == 2
    assert {p.field for p in caught.value.problems} == {"budget.max_steps", "budget.max_tokens"}

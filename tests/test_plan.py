"""Plan files: the model's defaults and overrides, its JSON Schema, loading with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

import swarm.plan
import swarm.plan_file
from swarm.errors import InputError, PlanError, Problem
from swarm.plan import (
    DEFAULT_MODEL,
    PLAN_VERSION,
    ModelParams,
    load_plan,
    loads_plan,
    parse_plan,
    plan_json_schema,
)

# The smallest plan the README shows.
SMALLEST: dict[str, Any] = {
    "goal": "…",
    "tasks": [
        {"id": "a", "kind": "llm", "prompt": "…"},
        {"id": "b", "kind": "llm", "prompt": "…", "deps": ["a"]},
    ],
}


def problems_of(exc: pytest.ExceptionInfo[PlanError]) -> set[tuple[str, str]]:
    return {(p.where, p.field) for p in exc.value.problems}


# -- defaults and overrides ----------------------------------------------------------------


def test_smallest_plan_gets_every_default() -> None:
    plan = parse_plan(SMALLEST)
    assert plan.version == PLAN_VERSION == 1
    assert plan.defaults.model == DEFAULT_MODEL
    assert plan.defaults.params == ModelParams(max_tokens=2048)
    assert plan.defaults.max_steps is None
    assert plan.defaults.timeout_s == 600.0
    assert plan.defaults.retries == 2
    assert plan.budget.max_steps == 4000
    assert plan.budget.max_concurrency == 64
    assert plan.budget.per_kind_concurrency == {}
    assert plan.budget.max_tokens is None and plan.budget.max_cost_usd is None
    b = plan.task("b")
    assert b.deps == ["a"]
    assert (b.model, b.params, b.max_steps, b.timeout_s, b.retries) == (None,) * 5
    assert b.config == {} and b.output_schema is None and b.title is None


def test_task_fields_override_plan_defaults() -> None:
    raw = {
        "goal": "g",
        "defaults": {"model": "m/default", "retries": 4, "params": {"temperature": 0.2}},
        "tasks": [
            {
                "id": "a",
                "kind": "llm",
                "prompt": "p",
                "model": "m/special",
                "retries": 0,
                "timeout_s": 5,
                "max_steps": 3,
                "params": {"temperature": 1.5, "top_p": 0.9},
            }
        ],
    }
    plan = parse_plan(raw)
    assert plan.defaults.model == "m/default"
    assert plan.defaults.retries == 4
    # A plan that sets ``params`` replaces the default params wholesale (max_tokens included).
    assert plan.defaults.params == ModelParams(temperature=0.2)
    a = plan.task("a")
    assert (a.model, a.retries, a.timeout_s, a.max_steps) == ("m/special", 0, 5.0, 3)
    merged = plan.defaults.params.merged(a.params)
    assert merged == ModelParams(temperature=1.5, top_p=0.9)


def test_merged_takes_only_the_fields_the_override_sets() -> None:
    base = ModelParams(max_tokens=2048, temperature=0.7, system_prompt="be brief")
    override = ModelParams(temperature=0.0, reasoning_effort="high")
    merged = base.merged(override)
    assert merged == ModelParams(
        max_tokens=2048, temperature=0.0, system_prompt="be brief", reasoning_effort="high"
    )
    # Neither side changes, and an explicit 0.0 is an override, not "unset".
    assert base.temperature == 0.7
    assert override.max_tokens is None


def test_merged_with_no_override_is_the_base() -> None:
    base = ModelParams(max_tokens=10)
    assert base.merged(None) is base
    assert base.merged(ModelParams()) == base


def test_plan_models_are_frozen() -> None:
    plan = parse_plan(SMALLEST)
    with pytest.raises(ValidationError):
        setattr(plan, "goal", "other")  # noqa: B010 (typed code could not even try)


def test_task_lookup() -> None:
    plan = parse_plan(SMALLEST)
    assert plan.task("a").id == "a"
    with pytest.raises(KeyError):
        plan.task("zz")


def test_to_json_leaves_defaults_out_and_round_trips() -> None:
    plan = parse_plan(SMALLEST)
    text = plan.to_json()
    assert json.loads(text) == SMALLEST
    assert loads_plan(text) == plan


# -- JSON Schema -----------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = plan_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == f"swarm plan, version {PLAN_VERSION}"


def test_smallest_plan_validates_against_the_schema() -> None:
    jsonschema.Draft202012Validator(plan_json_schema()).validate(SMALLEST)


@pytest.mark.parametrize(
    "raw",
    [
        {"tasks": SMALLEST["tasks"]},
        {"goal": "g", "tasks": []},
        {"goal": "g", "tasks": [{"id": "a", "kind": "llm", "promt": "typo"}]},
        {"goal": "g", "tasks": [{"id": "has space", "kind": "llm"}]},
        {"goal": "g", "version": 2, "tasks": SMALLEST["tasks"]},
        {"goal": "g", "budget": {"max_steps": 0}, "tasks": SMALLEST["tasks"]},
    ],
    ids=["no-goal", "no-tasks", "unknown-field", "bad-id", "version", "zero-pool"],
)
def test_schema_rejects_what_the_model_rejects(raw: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(plan_json_schema())
    assert not validator.is_valid(raw)
    with pytest.raises(PlanError):
        parse_plan(raw)


# -- loading ---------------------------------------------------------------------------------


def test_plan_error_is_an_input_error_with_exit_code_2() -> None:
    with pytest.raises(PlanError) as exc:
        loads_plan("[]", source="x.json")
    assert isinstance(exc.value, InputError)
    assert exc.value.exit_code == 2
    assert exc.value.source == "x.json"
    text = str(exc.value)
    assert text.startswith("x.json: invalid plan, 1 problem:")
    assert "hint: fix the plan file" in text


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text(text: str) -> None:
    with pytest.raises(PlanError) as exc:
        loads_plan(text)
    assert exc.value.problems == [Problem("plan", "", "the file is empty; a plan is a JSON object")]


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(PlanError) as exc:
        loads_plan('{"goal": "g",\n  "tasks": [,]}')
    [problem] = exc.value.problems
    assert problem.message.startswith("invalid JSON at line 2 column 13:")


@pytest.mark.parametrize(
    ("text", "name"), [("[]", "an array"), ('"plan"', "a string"), ("3", "a number")]
)
def test_top_level_must_be_an_object(text: str, name: str) -> None:
    with pytest.raises(PlanError) as exc:
        loads_plan(text)
    assert exc.value.problems == [Problem("plan", "", f"a plan is a JSON object, not {name}")]


def test_load_plan_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(SMALLEST), encoding="utf-8")
    assert load_plan(path) == parse_plan(SMALLEST)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as exc:
        load_plan(tmp_path / "nope.json")
    [problem] = exc.value.problems
    assert (problem.where, problem.field) == ("file", "")
    assert problem.message.startswith("cannot read:")


def test_file_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps(SMALLEST), encoding="utf-8")
    monkeypatch.setattr(swarm.plan_file, "MAX_PLAN_BYTES", 16)
    with pytest.raises(PlanError) as exc:
        load_plan(path)
    [problem] = exc.value.problems
    assert problem.where == "file"
    assert "over the 16 byte limit" in problem.message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"goal": "café", "tasks": []}'.encode("latin-1"))
    with pytest.raises(PlanError) as exc:
        load_plan(path)
    [problem] = exc.value.problems
    assert problem.where == "file"
    assert problem.message.startswith("not UTF-8 text")


# -- where a model error is reported ---------------------------------------------------------


def test_task_errors_name_the_task_id() -> None:
    raw = {"goal": "g", "tasks": [{"id": "a", "kind": "llm", "retries": "two"}]}
    with pytest.raises(PlanError) as exc:
        parse_plan(raw)
    assert problems_of(exc) == {("task 'a'", "retries")}


def test_task_errors_without_a_usable_id_name_the_index() -> None:
    raw = {"goal": "g", "tasks": [{"id": "a", "kind": "llm"}, {"id": 7, "kind": "llm"}, "x"]}
    with pytest.raises(PlanError) as exc:
        parse_plan(raw)
    assert problems_of(exc) == {("tasks[1]", "id"), ("tasks[2]", "")}


def test_nested_fields_are_dotted() -> None:
    raw = {
        "goal": "g",
        "defaults": {"params": {"temperature": 9}},
        "tasks": [{"id": "a", "kind": "llm", "params": {"top_p": 2}}],
    }
    with pytest.raises(PlanError) as exc:
        parse_plan(raw)
    assert problems_of(exc) == {
        ("plan", "defaults.params.temperature"),
        ("task 'a'", "params.top_p"),
    }


def test_unknown_fields_point_at_swarm_schema() -> None:
    raw = {"goal": "g", "colour": "red", "tasks": [{"id": "a", "kind": "llm", "promt": "x"}]}
    with pytest.raises(PlanError) as exc:
        parse_plan(raw)
    assert problems_of(exc) == {("plan", "colour"), ("task 'a'", "promt")}
    assert all("swarm schema" in p.message for p in exc.value.problems)

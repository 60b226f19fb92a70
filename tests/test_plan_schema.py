"""The committed plan schema and its pydantic-free checker: the file is the models' schema, and
whatever the checker vouches for the models accept and dump to exactly the checker's filling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import swarm.plan_schema
from swarm.plan import Plan, TaskSpec, plan_json_schema
from swarm.plan_schema import EMPTY, SCHEMA_FILE, fill_plan, fill_task, unknown_keywords

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = plan_json_schema()
DEFS = SCHEMA["$defs"]


def test_the_committed_schema_is_the_models_schema() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == SCHEMA, "the models changed: run `swarm schema -o swarm/plan_schema.json`"


def test_a_keyword_it_does_not_read_makes_it_vouch_for_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = {"goal": "g", "tasks": [{"id": "a", "kind": "llm", "prompt": "x"}]}
    assert fill_plan(plan) is not None
    changed = json.loads(json.dumps(SCHEMA))
    changed["$defs"]["TaskSpec"]["properties"]["id"]["format"] = "hostname"
    assert unknown_keywords(changed) == {"format"}
    path = tmp_path / "plan_schema.json"
    path.write_text(json.dumps(changed), encoding="utf-8")
    monkeypatch.setattr(swarm.plan_schema, "SCHEMA_FILE", path)
    swarm.plan_schema.plan_schema.cache_clear()
    try:
        assert fill_plan(plan) is None and fill_task(plan["tasks"][0]) is None
    finally:
        monkeypatch.undo()
        swarm.plan_schema.plan_schema.cache_clear()
    assert fill_plan(plan) is not None


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for field in model.model_fields.values():
        for arg in _types(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                _models(arg, seen)
    return seen


def _types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", ())
    return [annotation, *(t for a in args for t in _types(a))]


def test_a_field_without_a_default_in_the_schema_defaults_to_its_empty_value() -> None:
    checked = 0
    for model in _models(Plan, set()):
        props = DEFS.get(model.__name__, SCHEMA)["properties"]
        for name, field in model.model_fields.items():
            if field.default_factory is not None:
                assert "default" not in props[name]
                assert field.default_factory() == EMPTY[props[name]["type"]], (model, name)  # type: ignore[call-arg]
                checked += 1
    assert checked >= 10


# -- generated data: valid, nearly valid, and wrong in every way the schema can tell -----------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=5,
)


def _near(bound: float) -> st.SearchStrategy[Any]:
    return st.sampled_from([bound - 1, bound, bound + 1, bound - 0.5, bound + 0.5, float(bound)])


def _value(node: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    if "$ref" in node:
        return _value(DEFS[node["$ref"].removeprefix("#/$defs/")], depth)
    if "anyOf" in node:
        return st.one_of([_value(b, depth) for b in node["anyOf"]])
    if "const" in node:
        c = node["const"]
        return st.sampled_from([c, float(c), True, str(c), c + 1])
    if "enum" in node:
        return st.sampled_from([*node["enum"], "other", node["enum"][0].upper(), 1])
    kind = node.get("type")
    odd = st.sampled_from([None, True, 0, 1.5, "5", [], {}, float("nan"), float("inf")])
    if kind in ("integer", "number"):
        bounds = [node[k] for k in ("minimum", "maximum", "exclusiveMinimum") if k in node]
        nums: st.SearchStrategy[Any] = st.integers(-(2**70), 2**70) | st.floats()
        if bounds:
            nums = st.one_of([_near(b) for b in bounds]) | st.integers(-5, 40_000) | nums
        return nums | odd
    if kind == "string":
        texts = st.text(max_size=8) | st.sampled_from(
            ["a", "a\n", "", "has space", "t:1.a_b-c", "x" * 129, "é", "http://x", "https://h/p q"]
        )
        return texts | odd
    if kind == "boolean":
        return st.booleans() | odd
    if kind == "array":
        items = _value(node.get("items", {}), depth + 1) if depth < 3 else st.just("s")
        sized = st.lists(items, max_size=3)
        return sized | st.just(["x"] * 257) | odd
    if kind == "object":
        return _object(node, depth) | odd
    return JSON


def _object(node: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    props: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", ()))
    extra = node.get("additionalProperties", True)
    if not props:
        values = _value(extra, depth + 1) if isinstance(extra, dict) else JSON
        return st.dictionaries(st.text(max_size=4), values, max_size=3)
    if depth > 3:
        return st.just({})

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, prop in props.items():
            keep = draw(st.floats(0, 1)) < (0.95 if name in required else 0.3)
            if keep:
                out[name] = draw(_value(prop, depth + 1))
        if draw(st.floats(0, 1)) < 0.05:
            out[draw(st.sampled_from(["dep", "timeout", "extra"]))] = 1
        return out

    return build()


def _valid_task(i: int) -> st.SearchStrategy[dict[str, Any]]:
    return _object(DEFS["TaskSpec"], 1).map(lambda t: {**t, "id": f"t{i}", "kind": "llm"})


def _typed(value: Any) -> Any:
    """``value`` with each number tagged by its type, so 30 and 30.0 differ."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value if value == value else "nan")


def _agrees(fill: Any, model: type[BaseModel], data: Any) -> bool:
    filled = fill(data)
    try:
        dumped = model.model_validate(data).model_dump()
    except ValidationError:
        assert filled is None, data  # vouched for what the model refuses
        return False
    if filled is not None:
        assert _typed(filled) == _typed(dumped), data
    return filled is not None


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_value(SCHEMA) | JSON)
def test_what_it_vouches_for_the_plan_model_accepts_and_dumps_alike(data: Any) -> None:
    _agrees(fill_plan, Plan, data)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_value(DEFS["TaskSpec"]) | _valid_task(0) | JSON)
def test_what_it_vouches_for_the_task_model_accepts_and_dumps_alike(data: Any) -> None:
    _agrees(fill_task, TaskSpec, data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_valid_task(0), min_size=1, max_size=4))
def test_it_vouches_for_most_valid_plans(tasks: list[dict[str, Any]]) -> None:
    data = {"goal": "g", "tasks": [{**t, "id": f"t{i}"} for i, t in enumerate(tasks)]}
    _agrees(fill_plan, Plan, data)


def test_it_vouches_for_every_example_and_valid_corpus_plan() -> None:
    for path in sorted((ROOT / "examples").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert _agrees(fill_plan, Plan, data), path.name


def test_strict_where_the_models_are_lax() -> None:
    task = {"id": "a", "kind": "llm"}
    for lax in ({"retries": "3"}, {"retries": 3.0}, {"retries": True}, {"approval": 1}):
        assert fill_task({**task, **lax}) is None  # the models accept it; they judge it
        TaskSpec.model_validate({**task, **lax})
    assert fill_task({**task, "id": "a\n"}) is None
    assert fill_plan({"goal": "g", "tasks": [task], "version": 1.0}) is None
    filled = fill_task({**task, "timeout_s": 30})
    assert filled is not None and type(filled["timeout_s"]) is float


def test_the_checker_imports_the_standard_library_only() -> None:
    code = (
        "import sys; from swarm.plan_schema import fill_plan; "
        "assert fill_plan({'goal': 'g', 'tasks': [{'id': 'a', 'kind': 'llm'}]}); "
        "tops = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(t for t in tops if t not in sys.stdlib_module_names and t[0] != '_'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['swarm']"

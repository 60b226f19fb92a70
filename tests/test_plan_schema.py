"""The committed plan schema and its pydantic-free checker: the file is the models' schema, every
default is in it, and whatever the checker vouches for the plan models accept and dump exactly
as the checker filled it (soundness, tested against pydantic itself on generated data)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import swarm.plan as plan_models
import swarm.plan_schema
from swarm.plan import MAX_TASKS, Plan, TaskSpec, plan_json_schema
from swarm.plan_schema import REGENERATE, SCHEMA_FILE, compile_schema, fill_plan, fill_task, same

ROOT = Path(__file__).resolve().parents[1]
SCHEMA: dict[str, Any] = json.loads(Path(SCHEMA_FILE).read_text(encoding="utf-8"))
MODELS = [
    getattr(plan_models, name)
    for name in dir(plan_models)
    if isinstance(getattr(plan_models, name), type)
    and issubclass(getattr(plan_models, name), BaseModel)
    and getattr(plan_models, name).__module__ == "swarm.plan"
    and not name.startswith("_")
]


def _model_dump(model: type[BaseModel], data: object) -> dict[str, Any] | None:
    try:
        return model.model_validate(data).model_dump()
    except ValidationError:
        return None


def _sound(model: type[BaseModel], data: object, filled: dict[str, Any] | None) -> None:
    """What the checker vouches for, the model accepts and dumps as the checker filled it."""
    if filled is not None:
        dumped = _model_dump(model, data)
        assert dumped is not None, f"the checker vouched for what {model.__name__} refuses"
        assert same(dumped, filled), f"{dumped!r} != {filled!r}"


def _task(**fields: Any) -> dict[str, Any]:
    return {"id": "a", "kind": "llm", **fields}


def _plan(*tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"goal": "g", "tasks": list(tasks) or [_task()], **fields}


# The committed file and the models' defaults


def test_the_committed_schema_is_the_models_schema() -> None:
    expected = json.dumps(plan_json_schema(), indent=2) + "\n"
    assert Path(SCHEMA_FILE).read_text(encoding="utf-8") == expected, (
        f"swarm/plan_schema.json is not the plan models' schema: run `{REGENERATE}`"
    )


def test_the_committed_schema_is_package_data() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "plan_schema.json" in project["tool"]["setuptools"]["package-data"]["swarm"]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_optional_field_has_its_default_in_the_schema(model: type[BaseModel]) -> None:
    node = SCHEMA if model is Plan else SCHEMA["$defs"][model.__name__]
    for name, field in model.model_fields.items():
        prop = node["properties"][name]
        if field.is_required():
            assert name in node["required"]
            continue
        default = field.get_default(call_default_factory=True, validated_data={})
        if isinstance(default, BaseModel):
            default = default.model_dump()
        assert "default" in prop, f"{model.__name__}.{name} has no default in the schema"
        assert same(prop["default"], default), f"{model.__name__}.{name}"


def test_a_default_factory_still_makes_a_new_value_per_instance() -> None:
    first, second = TaskSpec(id="a", kind="llm"), TaskSpec(id="b", kind="llm")
    first.deps.append("x")
    first.config["k"] = 1
    assert second.deps == [] and second.config == {}
    assert TaskSpec(id="c", kind="llm").deps == []
    assert TaskSpec.model_fields["deps"].default_factory is list


def test_the_canonical_json_leaves_the_defaults_out_as_before() -> None:
    plan = Plan.model_validate(_plan(_task(deps=[], config={}, tools=[])))
    assert plan.to_json() == '{"goal":"g","tasks":[{"id":"a","kind":"llm"}]}'


# The checker on real plans


def _corpus() -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_cli_startup import mixed_plan_file

    plans: dict[str, object] = {}
    folders = [ROOT / "examples", ROOT / "tests" / "fixtures" / "bad_plans"]
    for path in sorted(p for folder in folders for p in folder.glob("*.json")):
        try:
            plans[f"{path.parent.name}/{path.name}"] = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        mixed = mixed_plan_file(Path(folder), 300)
        plans["mixed-300"] = json.loads(mixed.read_text(encoding="utf-8"))
    return plans


def test_every_plan_the_models_accept_is_vouched_for_and_filled_alike() -> None:
    accepted = 0
    for name, raw in _corpus().items():
        dumped, filled = _model_dump(Plan, raw), fill_plan(raw)
        assert (dumped is None) == (filled is None), name
        if dumped is not None:
            accepted += 1
            assert same(dumped, filled), name
            for task, filled_task in zip(raw["tasks"], filled["tasks"], strict=True):  # type: ignore[index]
                assert same(fill_task(task), filled_task), name
    assert accepted >= 9  # the examples and the mixed plan


def test_a_float_field_is_filled_as_a_float() -> None:
    raw = _task(timeout_s=30, estimate_s=2)
    filled = fill_task(raw)
    assert filled is not None
    assert type(filled["timeout_s"]) is float and type(filled["estimate_s"]) is float
    _sound(TaskSpec, raw, filled)


def test_defaults_nested_and_partly_given_are_filled() -> None:
    raw = _plan(defaults={"params": {"temperature": 1}}, budget={"max_steps": 10})
    filled = fill_plan(raw)
    assert filled is not None
    assert filled["defaults"]["params"] == {
        **dict.fromkeys(filled["defaults"]["params"]),
        **{"temperature": 1.0},
    }
    _sound(Plan, raw, filled)
    other = fill_plan(_plan())
    assert other is not None and other["defaults"]["params"]["max_tokens"] == 2048
    other["fetch"]["allow_hosts"].append("x")  # a filled default is the document's own copy
    again = fill_plan(_plan())
    assert again is not None and again["fetch"]["allow_hosts"] == []


@pytest.mark.parametrize(
    "task",
    [
        _task(retries=True),
        _task(retries=2.0),
        _task(retries="2"),
        _task(max_steps=0),
        _task(timeout_s=True),
        _task(timeout_s=math.nan),
        _task(timeout_s=math.inf),
        _task(timeout_s=0),
        _task(timeout_s=10**400),
        _task(id="a\n"),
        _task(id="a b"),
        _task(id="-a"),
        _task(id="a" * 129),
        _task(id="a\ud800"),
        _task(kind=""),
        _task(kind="k" * 65),
        _task(prompt=None),
        _task(deps="a"),
        _task(deps=[1]),
        _task(tools=["t"] * 257),
        _task(config=[]),
        _task(config={1: 2}),
        _task(output_schema=[]),
        _task(approval=1),
        _task(approval={"on_timeout": "never"}),
        _task(approval={"timeout_s": -1}),
        _task(params={"reasoning_effort": "max"}),
        _task(params={"max_tokens": 32_769}),
        _task(unknown=1),
        {"id": "a"},
        {"kind": "llm"},
        ["id", "kind"],
        None,
    ],
)
def test_what_the_models_refuse_or_coerce_is_not_vouched_for(task: object) -> None:
    assert fill_task(task) is None
    assert fill_plan(_plan(task)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "plan",
    [
        _plan(version=True),
        _plan(version=1.0),
        _plan(version=2),
        _plan(goal=""),
        {"goal": "g", "tasks": []},
        _plan(budget={"per_kind_concurrency": {"llm": True}}),
        _plan(budget={"max_cost_usd": math.inf}),
        _plan(mcp_servers={"s": {"command": "c", "url": "http://x"}}),
        _plan(mcp_servers={"s": {}}),
        _plan(mcp_servers={"s": {"url": "http://a\x1cb"}}),
        _plan(mcp_servers={"s": {"url": "http://ab\n"}}),
        _plan(mcp_servers={"s": {"url": "ftp://ab"}}),
        _plan(fetch={"max_bytes": 1023}),
    ],
)
def test_plan_fields_the_models_refuse_or_coerce_are_not_vouched_for(plan: object) -> None:
    assert fill_plan(plan) is None


def test_each_kind_of_mcp_server_is_told_apart() -> None:
    raw = _plan(mcp_servers={"a": {"command": "c"}, "b": {"url": "https://x/mcp"}})
    filled = fill_plan(raw)
    assert filled is not None
    assert filled["mcp_servers"]["a"]["args"] == [] and filled["mcp_servers"]["b"]["headers"] == {}
    _sound(Plan, raw, filled)


def test_free_form_objects_of_any_depth_are_not_walked() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100_000):
        node["a"] = {}
        node = node["a"]
    filled = fill_task(_task(config={"deep": deep}, output_schema=deep))
    assert filled is not None and filled["config"]["deep"] is deep


def test_the_largest_plan_is_vouched_for_and_one_more_task_is_not() -> None:
    tasks = [{"id": f"t{i}", "kind": "llm"} for i in range(MAX_TASKS)]
    filled = fill_plan(_plan(*tasks))
    assert filled is not None and len(filled["tasks"]) == MAX_TASKS
    assert fill_plan(_plan(*tasks, {"id": "one-more", "kind": "llm"})) is None


# The checker refuses a schema it does not fully interpret


def _with(path: list[str], **change: Any) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(json.dumps(SCHEMA))
    node = schema
    for key in path:
        node = node[key]
    node.update(change)
    return schema


URL = ["$defs", "HttpServer", "properties", "url"]
RETRIES = ["$defs", "TaskDefaults", "properties", "retries"]
TASK = ["$defs", "TaskSpec"]


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        (_with(URL, format="uri"), "format"),
        (_with(RETRIES, multipleOf=2), "multipleOf"),
        (_with(TASK, patternProperties={}), "patternProperties"),
        (_with(TASK, additionalProperties=True), "additionalProperties"),
        (_with(URL, pattern=r"^\d+$"), "escape"),
        (_with(URL, pattern="(?i)^http"), "pattern"),
        (_with(URL, type=["string", "null"]), "type"),
        (_with(RETRIES, exclusiveMaximum=True), "exclusiveMaximum"),
        (_with(["$defs", "Approval", "properties", "on_timeout"], enum=["a", 1]), "enum"),
        (_with(["properties", "defaults"], **{"$ref": "other.json#/x"}), r"\$ref"),
        (_with(["$defs", "ModelParams", "properties", "top_p"], type="number"), "anyOf beside"),
        (_with(["$defs", "TaskDefaults", "properties"], extra={"type": "string"}), "default"),
        (_with(["$defs", "TaskSpec", "properties", "deps"], items=None), "schema node"),
        (
            _with([*TASK, "properties"], x={"$ref": "#/$defs/TaskSpec", "default": None}),
            "recursive",
        ),
        ({"type": "object"}, "TaskSpec"),
        (_with(URL, pattern="^[a"), "does not compile"),
        (_with(TASK, required=[["id"]]), "names"),
    ],
)
def test_a_schema_with_what_the_checker_does_not_interpret_is_refused(
    schema: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        compile_schema(schema)


def test_a_committed_file_the_checker_refuses_sends_everything_to_the_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "plan_schema.json"
    bad.write_text(json.dumps(_with(URL, format="uri")), encoding="utf-8")
    monkeypatch.setattr(swarm.plan_schema, "SCHEMA_FILE", str(bad))
    monkeypatch.setattr(swarm.plan_schema, "_loaded", [])
    assert fill_plan(_plan()) is None and fill_task(_task()) is None
    monkeypatch.setattr(swarm.plan_schema, "SCHEMA_FILE", str(tmp_path / "missing.json"))
    monkeypatch.setattr(swarm.plan_schema, "_loaded", [])
    assert fill_plan(_plan()) is None


def test_the_checker_imports_the_standard_library_only() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import swarm.plan_schema as s\n"
        "raw = json.load(open('examples/research-swarm.json'))\n"
        "assert s.fill_plan(raw) is not None\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "names = new - set(sys.stdlib_module_names)\n"
        "print(sorted(names - {'__main__', 'swarm'}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('swarm')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "['swarm', 'swarm.plan_schema']"]


def test_type_aware_equality() -> None:
    assert same({"a": [1, 2.0, None]}, {"a": [1, 2.0, None]})
    assert same(math.nan, math.nan)
    assert not same(1, 1.0) and not same(1, True) and not same([1], (1,))
    assert not same({"a": 1}, {"b": 1}) and not same([1], [1, 2])


# Differential: generated plan-like data, checked against pydantic


ODD_TEXT = st.sampled_from(["", "\n", "a\n", "\ud800", "\x1c", " ", "5", "1.5", "é", "a b"])
WILD: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**53 + 1, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 5.0, -0.0]),
    st.text(max_size=5),
    ODD_TEXT,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
"""Any JSON value (and a few that are not: 10**400 is no float) to put where a field goes."""
JSON = st.recursive(
    WILD, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner)
)
"""Any nested JSON, for a whole plan or task."""


def _mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` eleven times in twelve, else ``bad``: a plan of many fields is often valid."""

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(bad if draw(st.integers(0, 11)) == 11 else good)

    return pick()


_MADE: dict[str, st.SearchStrategy[Any]] = {}


def _values(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for a schema node: mostly of its shape and within its bounds, sometimes at or past
    a bound, of a near type (a bool, a float, a numeric string), or anything."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name not in _MADE:
            _MADE[name] = st.deferred(lambda: _values(SCHEMA["$defs"][name]))
        return _MADE[name]
    if "anyOf" in node:
        return _mostly(st.one_of(*(_values(b) for b in node["anyOf"])), WILD)
    good, near = _typed(node)
    return _mostly(good, st.one_of(near, WILD))


def _typed(node: dict[str, Any]) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """(values of the node's shape, values just off it)."""
    kind = node["type"]
    if kind == "string":
        if "enum" in node:
            return st.sampled_from(node["enum"]), ODD_TEXT
        if "pattern" in node:
            matching = st.from_regex(node["pattern"], fullmatch=True)
            return matching, st.one_of(matching.map(lambda s: s + "\n"), ODD_TEXT)
        low, high = node.get("minLength", 0), min(node.get("maxLength", 8), 8)
        edge = st.sampled_from([node.get("maxLength", 0) + 1, max(low - 1, 0)]).map("k".__mul__)
        return st.text(min_size=low, max_size=high), st.one_of(edge, ODD_TEXT)
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", -100))
        high = node.get("maximum", node.get("exclusiveMaximum", 100))
        edges = st.sampled_from([low, high, low - 1, high + 1])
        if kind == "number":
            floats = st.floats(min_value=low, max_value=high)
            good = st.one_of(floats, st.integers(min_value=math.ceil(low), max_value=int(high)))
            return good, st.one_of(edges, edges.map(float), st.booleans())
        ints = st.integers(min_value=low, max_value=high)
        if "const" in node:
            ints = st.just(node["const"])
        return ints, st.one_of(edges, ints.map(float), ints.map(str), st.booleans())
    if kind == "boolean":
        return st.booleans(), st.sampled_from([0, 1, "true"])
    if kind == "null":
        return st.none(), st.just("null")
    if kind == "array":
        items = _values(node["items"])
        return st.lists(items, max_size=3), st.one_of(st.just(None), items)
    return _objects(node), st.one_of(st.just([]), st.just({"extra": 1}))


def _objects(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "properties" not in node:
        extra = node["additionalProperties"]
        values = WILD if extra is True else _values(extra)
        keys = _mostly(st.text(max_size=4), ODD_TEXT)
        return st.dictionaries(keys, values, max_size=3)
    required = set(node.get("required", []))
    fields = {name: _values(sub) for name, sub in node["properties"].items()}

    @st.composite
    def draw(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, values in fields.items():
            if draw(st.integers(0, 19)) < (19 if name in required else 5):
                out[name] = draw(values)
        if draw(st.integers(0, 29)) == 0:
            out[draw(st.sampled_from(["extra", "dep", "timeout", "url", "command"]))] = 1
        return out

    return draw()


TASKS = _objects(SCHEMA["$defs"]["TaskSpec"])
PLANS = st.fixed_dictionaries(
    {"goal": st.one_of(st.just("g"), st.text(max_size=3)), "tasks": st.lists(TASKS, max_size=4)},
    optional={
        name: _values(SCHEMA["properties"][name])
        for name in ("version", "defaults", "budget", "mcp_servers", "fetch")
    },
)
SETTINGS = settings(
    max_examples=600,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize(
    ("model", "fill", "data", "share"),
    [(TaskSpec, fill_task, TASKS | JSON, 20), (Plan, fill_plan, PLANS | JSON, 50)],
    ids=["task", "plan"],
)
def test_what_the_checker_vouches_for_the_models_dump_alike(
    model: type[BaseModel],
    fill: Callable[[object], dict[str, Any] | None],
    data: st.SearchStrategy[dict[str, Any]],
    share: int,
) -> None:
    vouched: list[bool] = []

    @SETTINGS
    @given(data)
    def check(value: dict[str, Any]) -> None:
        filled = fill(value)
        vouched.append(filled is not None)
        _sound(model, value, filled)

    check()
    assert sum(vouched) >= len(vouched) // share  # the fast path is taken, not only refused


FULL: dict[str, Any] = {
    "version": 1,
    "goal": "g",
    "defaults": {
        "model": "m",
        "params": {
            "max_tokens": 10,
            "temperature": 0.5,
            "top_p": 1,
            "presence_penalty": -2,
            "frequency_penalty": 2.0,
            "reasoning_effort": "low",
            "system_prompt": "s",
        },
        "max_steps": 3,
        "timeout_s": 5,
        "retries": 0,
    },
    "budget": {
        "max_steps": 10,
        "max_concurrency": 2,
        "per_kind_concurrency": {"llm": 1},
        "max_tokens": 100,
        "max_cost_usd": 0.5,
    },
    "tasks": [
        {
            "id": "a.b:c-d_e",
            "kind": "llm",
            "prompt": "p",
            "deps": [],
            "title": "t",
            "model": "m",
            "params": {"max_tokens": 1, "reasoning_effort": "none"},
            "max_steps": 4000,
            "timeout_s": 86_400,
            "retries": 20,
            "estimate_s": 1.5,
            "output_schema": {"type": "object"},
            "config": {"k": [1, {"x": None}]},
            "tools": ["kb.*", "fetch"],
            "approval": {"prompt": "ok?", "timeout_s": 60, "on_timeout": "pause"},
        },
        {"id": "b", "kind": "map", "deps": ["a.b:c-d_e"], "approval": True},
    ],
    "mcp_servers": {
        "kb": {
            "command": "python",
            "args": ["kb.py"],
            "env": ["HOME"],
            "cwd": "/tmp",
            "max_concurrency": 1,
            "call_timeout_s": 1,
            "tools_ttl_s": 0,
            "max_restarts": 0,
        },
        "web": {"url": "https://example.com/mcp", "headers": {"Authorization": "TOKEN"}},
    },
    "fetch": {
        "allow_hosts": ["*.python.org"],
        "deny_hosts": [],
        "allow_private": True,
        "max_bytes": 1024,
        "timeout_s": 600,
        "max_redirects": 20,
    },
}
"""A plan that gives every field (at a bound where it has one)."""
ODD = [True, False, 0, 1, -1, 1.0, 5.0, 0.5, "5", "", "a\n", "\ud800", "\x1c", " ", None]
ODD += [math.nan, math.inf, 2**63, 10**400, [], ["x"], {}, {"extra": 1}, {1: 1}]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        found += [p for k, v in value.items() for p in _paths(v, (*path, k))]
    elif isinstance(value, list):
        found += [p for i, v in enumerate(value) for p in _paths(v, (*path, i))]
    return found


def _changed(path: tuple[Any, ...], new: Any) -> Any:
    """FULL with the value at ``path`` replaced by ``new`` (left out if ``new`` is ``...``)."""
    data = json.loads(json.dumps(FULL))
    if not path:
        return new
    node = data
    for key in path[:-1]:
        node = node[key]
    if new is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = new
    return data


def test_a_plan_with_every_field_is_vouched_for() -> None:
    filled = fill_plan(FULL)
    assert filled is not None
    _sound(Plan, FULL, filled)


def test_every_field_replaced_by_an_odd_value_or_left_out_stays_sound() -> None:
    vouched = 0
    for path in _paths(FULL):
        for new in [*ODD, ...]:
            data = _changed(path, new)
            filled = fill_plan(data)
            vouched += filled is not None
            _sound(Plan, data, filled)
    assert vouched >= 100


def test_an_any_of_two_branches_fit_alike_or_not_at_all() -> None:
    branches = [
        {"type": "object", "additionalProperties": True},
        {
            "type": "object",
            "properties": {"a": {"type": "integer", "default": 1}},
            "additionalProperties": False,
        },
    ]
    node = {"type": "object", "properties": {"x": {"anyOf": branches, "default": None}}}
    node["additionalProperties"] = False
    checker = compile_schema({**node, "$defs": {"TaskSpec": node}})
    assert checker.plan({"x": {"b": 1}}) == {"x": {"b": 1}}  # one branch fits
    assert checker.plan({"x": {"a": 2}}) == {"x": {"a": 2}}  # both, with one reading
    with pytest.raises(swarm.plan_schema._Refused):
        checker.plan({"x": {}})  # both, read as {} and as {"a": 1}: pydantic would choose


def _keys(value: Any) -> Any:
    """Every object's keys in order, throughout."""
    if isinstance(value, dict):
        return [(k, _keys(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_keys(v) for v in value]
    return None


def test_the_filled_document_has_the_models_key_order() -> None:
    for raw in (_plan(), FULL, json.loads((ROOT / "examples/research-swarm.json").read_text())):
        dumped = Plan.model_validate(raw).model_dump()
        assert _keys(fill_plan(raw)) == _keys(dumped)

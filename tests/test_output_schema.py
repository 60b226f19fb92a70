"""The light vouch for output schemas never accepts what jsonschema's meta-schema check
refuses, and accepts the schemas plans really carry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.output_schema import MAX_DEPTH, SCALARS, schema_error, vouch

ROOT = Path(__file__).resolve().parents[1]

ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
"""Any JSON value, NaN and duplicates included: the wrong shapes for a keyword."""
KEYWORDS = sorted(
    {
        *SCALARS,
        "items",
        "additionalProperties",
        "not",
        "properties",
        "anyOf",
        "allOf",
        "oneOf",
        "prefixItems",
        "$ref",
        "$defs",
        "if",
        "patternProperties",
        "unknownKeyword",
        "contains",
    }
)
GOOD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(["object", "string", "integer", ["string", "null"], ["a"], [], "x"]),
    "required": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    "pattern": st.sampled_from(["^a+$", "[", "(?P<x>a)", "\\d{2,}", "a{2,1}"]),
    "minimum": st.integers(-2, 2) | st.floats() | st.booleans(),
    "minLength": st.integers(-1, 3) | st.floats(0, 2) | st.booleans(),
    "multipleOf": st.integers(-1, 2) | st.floats(-1, 2),
}


def schemas() -> st.SearchStrategy[Any]:
    def node(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        def value(key: str) -> st.SearchStrategy[Any]:
            if key in ("items", "additionalProperties", "not"):
                return children | ANYTHING
            if key == "properties":
                return st.dictionaries(st.text(max_size=3), children, max_size=3) | ANYTHING
            if key in ("anyOf", "allOf", "oneOf", "prefixItems"):
                return st.lists(children, max_size=3) | ANYTHING
            return GOOD_VALUES.get(key, ANYTHING) | ANYTHING

        pairs = st.lists(st.sampled_from(KEYWORDS), max_size=4, unique=True).flatmap(
            lambda keys: st.tuples(*(value(k) for k in keys)).map(
                lambda vals: dict(zip(keys, vals, strict=True))
            )
        )
        return pairs | st.booleans()

    return st.recursive(node(st.booleans()), node, max_leaves=8)


def _meta_valid(schema: Any) -> bool:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError:
        return False
    return True


@settings(max_examples=1500, deadline=None)
@given(schemas())
def test_what_it_vouches_for_the_meta_schema_accepts(schema: Any) -> None:
    if vouch(schema):
        assert _meta_valid(schema), schema


def test_the_schemas_plans_carry_are_vouched_for() -> None:
    schemas = []
    for path in sorted((ROOT / "examples").glob("*.json")):
        plan = json.loads(path.read_text(encoding="utf-8"))
        schemas += [t["output_schema"] for t in plan["tasks"] if t.get("output_schema")]
    assert schemas  # research-swarm.json has them
    rich = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "description": "a heading"},
            "score": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True},
            "rows": {"type": "array", "items": {"type": "object", "additionalProperties": False}},
            "id": {"type": "string", "pattern": "^[a-z]+$"},
            "either": {"anyOf": [{"type": "integer"}, {"const": "none"}]},
        },
        "required": ["title"],
        "additionalProperties": False,
    }
    for schema in [*schemas, rich]:
        assert vouch(schema), schema
        assert schema_error(schema) is None


def test_what_it_does_not_vouch_for_jsonschema_words() -> None:
    bad = {"type": "object", "properties": {"a": {"type": "strnig"}}}
    assert not vouch(bad)
    message = schema_error(bad)
    assert message is not None and "strnig" in message
    assert schema_error({"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"}) is None
    assert not vouch({"minLength": -1}) and schema_error({"minLength": -1}) is not None
    assert not vouch({"pattern": "["}) and schema_error({"pattern": "["}) is not None


def test_deep_nesting_is_neither_a_crash_nor_vouched_for() -> None:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(5000):
        schema = {"items": schema}
    assert not vouch(schema)
    assert schema_error(schema) == "nested too deeply to check (hundreds of levels)"
    shallow: dict[str, Any] = {"type": "string"}
    for _ in range(MAX_DEPTH):
        shallow = {"items": shallow}
    assert vouch(shallow)


def test_vouching_imports_no_jsonschema() -> None:
    code = (
        "import sys; from swarm.output_schema import schema_error; "
        "assert schema_error({'type': 'object', 'required': ['a']}) is None; "
        "print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

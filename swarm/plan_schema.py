"""The plan's JSON Schema as committed beside the models (``plan_schema.json``), and a checker
of plan data against it that needs no pydantic: `swarm validate` vouches for a valid plan with
it and imports pydantic only to word a problem.

The checker says only "valid, and here it is with its defaults filled in" or "cannot vouch for
it" (None); a None sends the data to the plan models, which word every problem or accept what
only their lax mode accepts (``"5"`` for an integer, ``5.0`` for one, ``1`` for a boolean). So
it is strict where pydantic is lax, and sound where it says yes: a filled plan it returns is
what ``Plan.model_validate(data).model_dump()`` gives (a Hypothesis test compares them).

It reads the subset of JSON Schema pydantic writes for these models; a keyword outside it makes
the schema unusable (every call says None) rather than silently accepting more, and a test
keeps the committed file equal to the models' schema (``swarm schema -o swarm/plan_schema.json``
writes it again).
"""

from __future__ import annotations

import copy
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("plan_schema.json")
KEYWORDS = frozenset(
    {
        "$ref", "$defs", "$schema", "additionalProperties", "anyOf", "const", "default",
        "description", "enum", "exclusiveMaximum", "exclusiveMinimum", "items", "maxItems",
        "maxLength", "maximum", "minItems", "minLength", "minimum", "pattern", "properties",
        "required", "title", "type",
    }
)  # fmt: skip
"""The keywords the checker reads (``title``, ``description``, ``$schema`` only as notes)."""
EMPTY: dict[str, Any] = {"array": [], "object": {}}
"""The default of a field that is neither required nor given one in the schema: pydantic writes
no default for a ``default_factory`` (``list``/``dict``); a test checks each such field."""


class _Refused(Exception):
    """The data is not surely valid: the plan models must judge it."""


def fill_plan(data: object) -> dict[str, Any] | None:
    """``data`` as ``Plan.model_validate(data).model_dump()`` gives it, or None if the schema
    cannot vouch for it (the plan models then word its problems)."""
    return _fill_root(data, None)


def fill_task(data: object) -> dict[str, Any] | None:
    """``data`` as ``TaskSpec.model_validate(data).model_dump()`` gives it, or None if the
    schema cannot vouch for it (the plan model then words its problems)."""
    return _fill_root(data, "TaskSpec")


def _fill_root(data: object, definition: str | None) -> dict[str, Any] | None:
    schema = plan_schema()
    if schema is None:
        return None
    node = schema if definition is None else schema["$defs"][definition]
    try:
        filled = _Filler(schema["$defs"]).fill(node, data)
    except _Refused:
        return None
    return filled if isinstance(filled, dict) else None


@cache
def plan_schema() -> dict[str, Any] | None:
    """The committed schema, or None if it holds a keyword the checker does not read."""
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema if not unknown_keywords(schema) else None


def unknown_keywords(schema: dict[str, Any]) -> set[str]:
    """The keywords of ``schema`` outside :data:`KEYWORDS` (defaults and names not walked)."""
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            found.update(k for k in node if k not in KEYWORDS)
            for key, value in node.items():
                if key in ("properties", "$defs"):
                    stack.extend(value.values())
                elif key not in ("default", "const", "enum", "required"):
                    stack.append(value)
    return found


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}


class _Filler:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.patterns: dict[str, re.Pattern[str]] = {}

    def fill(self, node: dict[str, Any], value: Any) -> Any:
        ref = node.get("$ref")
        if ref is not None:
            return self.fill(self.defs[ref.removeprefix("#/$defs/")], value)
        branches = node.get("anyOf")
        if branches is not None:
            return self._one_of(branches, value)
        if "const" in node and not _same(value, node["const"]):
            raise _Refused
        if "enum" in node and not any(_same(value, choice) for choice in node["enum"]):
            raise _Refused
        kind = node.get("type")
        if kind is None:
            return value
        if type(value) not in _TYPES[kind]:  # exact types: a bool is no integer here
            raise _Refused
        if kind in ("integer", "number"):
            return self._number(node, value, kind)
        if kind == "string":
            return self._string(node, value)
        if kind == "array":
            return self._array(node, value)
        if kind == "object":
            return self._object(node, value)
        return value

    def _one_of(self, branches: list[dict[str, Any]], value: Any) -> Any:
        results = []
        for branch in branches:
            try:
                results.append(self.fill(branch, value))
            except _Refused:
                continue
        if len(results) != 1:  # none, or two readings pydantic might choose between
            raise _Refused
        return results[0]

    def _number(self, node: dict[str, Any], value: float, kind: str) -> float:
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused
        low, high = node.get("minimum"), node.get("maximum")
        above, below = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        if (
            (low is not None and not value >= low)
            or (high is not None and not value <= high)
            or (above is not None and not value > above)
            or (below is not None and not value < below)
        ):
            raise _Refused
        if kind == "number":
            try:
                return float(value)  # a pydantic float field holds 30 as 30.0
            except OverflowError:
                raise _Refused from None
        return value

    def _string(self, node: dict[str, Any], value: str) -> str:
        low, high = node.get("minLength"), node.get("maxLength")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise _Refused
        pattern = node.get("pattern")
        # Python's `$` also matches before a final newline; pydantic's (Rust) regex does not
        if pattern is not None and ("\n" in value or not self._compiled(pattern).search(value)):
            raise _Refused
        return value

    def _compiled(self, pattern: str) -> re.Pattern[str]:
        compiled = self.patterns.get(pattern)
        if compiled is None:
            compiled = self.patterns[pattern] = re.compile(pattern)
        return compiled

    def _array(self, node: dict[str, Any], value: list[Any]) -> list[Any]:
        low, high = node.get("minItems"), node.get("maxItems")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise _Refused
        items = node.get("items")
        return [self.fill(items, item) for item in value] if items is not None else list(value)

    def _object(self, node: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        required = node.get("required", ())
        if extra is False and not properties.keys() >= value.keys():
            raise _Refused
        filled: dict[str, Any] = {}
        for name, prop in properties.items():
            if name in value:
                filled[name] = self.fill(prop, value[name])
            elif name in required:
                raise _Refused
            elif "default" in prop:
                filled[name] = copy.deepcopy(prop["default"])
            elif prop.get("type") in EMPTY:
                filled[name] = copy.copy(EMPTY[prop["type"]])
            else:
                raise _Refused  # a field whose default the schema does not tell
        for name, item in value.items():
            if name not in properties:
                filled[name] = self.fill(extra, item) if isinstance(extra, dict) else item
        return filled


def _same(value: Any, expected: Any) -> bool:
    """Equal and of the same JSON type: ``1.0`` and ``True`` are not ``1``."""
    return type(value) is type(expected) and value == expected

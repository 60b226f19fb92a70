"""Is a task's ``output_schema`` a JSON Schema (draft 2020-12)? Vouched for without jsonschema
when it keeps to the keywords output schemas use; jsonschema's meta-schema check otherwise.

Importing jsonschema costs about as much as the whole rest of `swarm validate` (0.12–0.15 s
here), for schemas that are nearly always a few ``type``/``properties``/``required`` lines.
:func:`vouch` accepts only what the draft 2020-12 meta-schema surely accepts (a test checks
it against jsonschema on generated schemas); anything else — an unknown keyword, ``$ref``, a
value of an unusual shape, deep nesting — goes to jsonschema, which words the problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
MAX_DEPTH = 64
"""Nesting past this goes to jsonschema (the checker walks with its own stack: no recursion)."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _count(value: object) -> bool:
    return _is_int(value) and value >= 0  # type: ignore[operator]


def _text(value: object) -> bool:
    return isinstance(value, str)


def _type(value: object) -> bool:
    if isinstance(value, str):
        return value in TYPES
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, str) and t in TYPES for t in value)
        and len(set(value)) == len(value)
    )


def _names(value: object) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(n, str) for n in value)
        and len(set(value)) == len(value)
    )


def _pattern(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        re.compile(value)
    except re.error:
        return False
    return True


SCALARS: dict[str, Callable[[object], bool]] = {
    "type": _type,
    "required": _names,
    "enum": lambda v: isinstance(v, list),
    "const": lambda v: True,
    "default": lambda v: True,
    "examples": lambda v: isinstance(v, list),
    "title": _text,
    "description": _text,
    "$comment": _text,
    "format": _text,
    "pattern": _pattern,
    "minimum": _is_number,
    "maximum": _is_number,
    "exclusiveMinimum": _is_number,
    "exclusiveMaximum": _is_number,
    "multipleOf": lambda v: _is_number(v) and v > 0,  # type: ignore[operator]
    "minLength": _count,
    "maxLength": _count,
    "minItems": _count,
    "maxItems": _count,
    "minProperties": _count,
    "maxProperties": _count,
    "uniqueItems": lambda v: isinstance(v, bool),
    "deprecated": lambda v: isinstance(v, bool),
    "readOnly": lambda v: isinstance(v, bool),
    "writeOnly": lambda v: isinstance(v, bool),
}
"""Keywords whose value is not a schema, and what the meta-schema requires of it."""
ONE_SCHEMA = frozenset({"items", "additionalProperties", "not"})
SCHEMA_MAP = frozenset({"properties"})
SCHEMA_LIST = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})


def vouch(schema: object) -> bool:
    """True only if ``schema`` is surely a valid draft 2020-12 JSON Schema; False means "ask
    jsonschema", not "invalid"."""
    stack: list[tuple[object, int]] = [(schema, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict) or depth > MAX_DEPTH:
            return False
        for key, value in node.items():
            rule = SCALARS.get(key)
            if rule is not None:
                if not rule(value):
                    return False
            elif key in ONE_SCHEMA:
                stack.append((value, depth + 1))
            elif key in SCHEMA_MAP:
                if not isinstance(value, dict):
                    return False
                stack.extend((sub, depth + 1) for sub in value.values())
            elif key in SCHEMA_LIST:
                if not isinstance(value, list) or not value:
                    return False
                stack.extend((sub, depth + 1) for sub in value)
            else:
                return False
    return True


def schema_error(schema: dict[str, Any]) -> str | None:
    """None if ``schema`` is a JSON Schema, else jsonschema's words for what is wrong."""
    if vouch(schema):
        return None
    try:
        return _checked(json.dumps(schema, sort_keys=True))
    except RecursionError:
        return "nested too deeply to check (hundreds of levels)"


@lru_cache(maxsize=256)
def _checked(canonical: str) -> str | None:
    """jsonschema's meta-schema check, once per distinct schema (a plan's tasks share a few)."""
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(json.loads(canonical))
    except jsonschema.SchemaError as exc:
        return str(exc.message)
    return None

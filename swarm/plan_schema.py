"""The plan's JSON Schema as committed beside the models, and a checker of plan data against
it that needs no pydantic: `swarm validate` vouches for a valid plan with it and imports
pydantic only to word a problem.

The checker says only "valid, and here it is with its defaults filled in" or "cannot vouch for
it" (None); a None sends the data to the plan models, which word every problem. Its contract is
soundness: whenever it gives a dict, the plan models accept the data and dump exactly that dict
(same values, same types). It is stricter than pydantic's lax mode where the two differ (a bool
is not a number, ``"5"`` and ``5.0`` are not integers, NaN and infinities are refused, a
pattern's ``$`` does not match before a final newline), since a refusal costs only the slow path.

It interprets the subset of JSON Schema that the committed schema uses and refuses, when it
loads, a schema with any other keyword (or a known one where it does not know its meaning), so
a later change of the models cannot silently widen what it accepts. Free-form objects
(``config``, ``output_schema``) are type-checked, not walked: any nesting depth is fine, and the
filled document holds the input's own objects there.
"""

from __future__ import annotations

import json
import math
import os
import re

TYPE_CHECKING = False  # as typing's, without importing typing (a few ms of `swarm validate`)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    Check: TypeAlias = Callable[[Any], Any]
    """Checks a value and gives it with its defaults filled in, or raises :class:`_Refused`."""

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "plan_schema.json")
REGENERATE = "swarm schema -o swarm/plan_schema.json"
"""The command that writes :data:`SCHEMA_FILE` from the plan models."""

_ANNOTATIONS = frozenset({"title", "description", "default"})
"""Keywords that constrain nothing (``default`` is read by the object that holds the property)."""
_BY_TYPE: dict[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "pattern", "const", "enum"}),
    "integer": frozenset(
        {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "const", "enum"}
    ),
    "number": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}),
    "boolean": frozenset(),
    "null": frozenset(),
    "object": frozenset({"properties", "required", "additionalProperties"}),
    "array": frozenset({"items", "minItems", "maxItems"}),
}
"""The keywords understood beside each ``type``."""
_PY_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
}
_PY_ONLY_SPACE = "\x1c\x1d\x1e\x1f"
"""What Python's ``\\s`` matches and the Rust regex's (pydantic's: Unicode White_Space) does not."""
_PATTERN_ESCAPES = frozenset("s.-/\\^$()[]{}?*+|:_")
"""Escapes a pattern may use: ``\\s`` and escaped punctuation (their meaning is the same in
Python's ``re`` and the Rust regex; ``\\d``, ``\\w``, ``\\b`` and the like are not)."""
_FLOAT_EXACT = 2**53
"""Beyond this an integer given for a float field would be rounded: refused."""


class _Refused(Exception):
    """The data is not something the schema vouches for (never leaves this module)."""


class _Node:
    __slots__ = ("check", "types")

    def __init__(self, check: Check, types: frozenset[type]) -> None:
        self.check = check
        self.types = types
        """The Python types the check can accept (an ``anyOf`` tries only those branches)."""


class Checker:
    """The compiled schema: a check for a whole plan and one for a task (``$defs/TaskSpec``)."""

    __slots__ = ("plan", "task")

    def __init__(self, plan: Check, task: Check) -> None:
        self.plan = plan
        self.task = task


def compile_schema(schema: object) -> Checker:
    """The checker of a plan JSON Schema; ValueError naming the keyword and where it is if the
    schema uses anything this module does not interpret."""
    if not isinstance(schema, dict):
        raise ValueError("the plan schema is not a JSON object")
    defs = schema.get("$defs", {})
    if not isinstance(defs, dict) or "TaskSpec" not in defs:
        raise ValueError("the plan schema has no $defs/TaskSpec")
    root = {k: v for k, v in schema.items() if k not in ("$defs", "$schema")}
    compiler = _Compiler(defs)
    return Checker(compiler.node(root, "#").check, compiler.ref("#/$defs/TaskSpec", "#").check)


class _Compiler:
    """Turns schema nodes into checks, each ``$defs`` entry once."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self._defs = defs
        self._done: dict[str, _Node] = {}
        self._busy: set[str] = set()

    def ref(self, ref: object, where: str) -> _Node:
        name = ref[len("#/$defs/") :] if isinstance(ref, str) else ""
        if not isinstance(ref, str) or not ref.startswith("#/$defs/") or name not in self._defs:
            raise ValueError(f"{where}: $ref {ref!r} is not one of this schema's $defs")
        if name not in self._done:
            if name in self._busy:
                raise ValueError(f"{where}: $ref {ref!r} is recursive, which is not supported")
            self._busy.add(name)
            self._done[name] = self.node(self._defs[name], f"#/$defs/{name}")
        return self._done[name]

    def node(self, node: object, where: str) -> _Node:
        if not isinstance(node, dict):
            raise ValueError(f"{where}: a schema node is not an object")
        constraints = set(node) - _ANNOTATIONS
        if "$ref" in node or "anyOf" in node:
            form = "$ref" if "$ref" in node else "anyOf"
            if constraints != {form}:
                raise ValueError(f"{where}: {form} beside {sorted(constraints - {form})}")
            if form == "$ref":
                return self.ref(node["$ref"], where)
            return self._any_of(node["anyOf"], where)
        kind = node.get("type")
        if not isinstance(kind, str) or kind not in _BY_TYPE:
            raise ValueError(f"{where}: type {kind!r} is not one of {sorted(_BY_TYPE)}")
        unknown = constraints - {"type"} - _BY_TYPE[kind]
        if unknown:
            raise ValueError(f"{where}: keyword(s) {sorted(unknown)} on a {kind} not supported")
        build = {
            "string": _string,
            "integer": _integer,
            "number": _number,
            "boolean": _boolean,
            "null": _null,
            "object": self._object,
            "array": self._array,
        }[kind]
        return _Node(build(node, where), _PY_TYPES[kind])

    def _any_of(self, branches: object, where: str) -> _Node:
        if not isinstance(branches, list) or not branches:
            raise ValueError(f"{where}: anyOf is not a non-empty list")
        nodes = [self.node(b, f"{where}/anyOf/{i}") for i, b in enumerate(branches)]
        types = frozenset().union(*(n.types for n in nodes))
        by_type = {t: tuple(n.check for n in nodes if t in n.types) for t in types}
        return _Node(_any_of_check(by_type), types)

    def _object(self, node: dict[str, Any], where: str) -> Check:
        extra = node.get("additionalProperties")
        if "properties" not in node:
            if "required" in node or extra is None or extra is False:
                raise ValueError(f"{where}: an object needs properties or additionalProperties")
            if extra is True:
                return _free_object
            return _map_check(self.node(extra, f"{where}/additionalProperties").check)
        if extra is not False:
            raise ValueError(f"{where}: properties without additionalProperties: false")
        properties, required = node["properties"], node.get("required", [])
        if not isinstance(properties, dict) or not isinstance(required, list):
            raise ValueError(f"{where}: properties is not an object or required not a list")
        if any(type(name) is not str for name in required):
            raise ValueError(f"{where}: required holds something other than names")
        if not set(required) <= set(properties):
            raise ValueError(f"{where}: required names a property it does not define")
        fields: list[tuple[str, Check, Callable[[], Any] | None]] = []
        for name, sub in properties.items():
            check = self.node(sub, f"{where}/properties/{name}").check
            if name in required:
                fields.append((name, check, None))
            elif isinstance(sub, dict) and "default" in sub:
                fields.append((name, check, _factory(sub["default"], check)))
            else:
                raise ValueError(f"{where}/properties/{name}: neither required nor a default")
        return _fields_check(tuple(fields))

    def _array(self, node: dict[str, Any], where: str) -> Check:
        if "items" not in node:
            raise ValueError(f"{where}: an array without items is not supported")
        item = self.node(node["items"], f"{where}/items").check
        low, high = _count(node, "minItems", where), _count(node, "maxItems", where)

        def check(value: Any) -> Any:
            if type(value) is not list or not low <= len(value) <= high:
                raise _Refused
            return [item(x) for x in value]

        return check


def _any_of_check(by_type: dict[type, tuple[Check, ...]]) -> Check:
    def check(value: Any) -> Any:
        branches = by_type.get(type(value), ())
        if len(branches) == 1:
            return branches[0](value)
        results = []
        for branch in branches:
            try:
                results.append(branch(value))
            except _Refused:  # (contextlib.suppress would cost an import)
                continue
        if not results or any(not same(results[0], r) for r in results[1:]):
            raise _Refused  # none fits, or two fit with different results: pydantic decides
        return results[0]

    return check


def _fields_check(fields: tuple[tuple[str, Check, Callable[[], Any] | None], ...]) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not dict:
            raise _Refused
        out = {}
        given = 0
        for name, sub, default in fields:
            if name in value:
                out[name] = sub(value[name])
                given += 1
            elif default is None:
                raise _Refused  # a required property is missing
            else:
                out[name] = default()
        if given != len(value):
            raise _Refused  # a key the schema does not define
        return out

    return check


def _map_check(sub: Check) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not dict:
            raise _Refused
        return {_key(k): sub(v) for k, v in value.items()}

    return check


def _free_object(value: Any) -> Any:
    if type(value) is not dict:
        raise _Refused
    for key in value:
        _key(key)
    return value


def _key(key: Any) -> str:
    """A string with no lone surrogate (pydantic refuses one in a constrained string:
    ``string_unicode``), which UTF-8 cannot encode."""
    if type(key) is not str:
        raise _Refused
    if not key.isascii():
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused from None
    return key


def _string(node: dict[str, Any], where: str) -> Check:
    low, high = _count(node, "minLength", where), _count(node, "maxLength", where)
    choices = _choices(node, str, where)
    pattern = node.get("pattern")
    if pattern is None and choices is None and low == 0 and high == math.inf:
        return _key
    search = _pattern(pattern, where).search if pattern is not None else None
    dollar = isinstance(pattern, str) and "$" in pattern
    spaces = isinstance(pattern, str) and "\\s" in pattern

    def check(value: Any) -> Any:
        _key(value)
        if not low <= len(value) <= high or (choices is not None and value not in choices):
            raise _Refused
        if search is not None and (
            not search(value)
            or (dollar and "\n" in value)
            or (spaces and any(c in value for c in _PY_ONLY_SPACE))
        ):
            raise _Refused
        return value

    return check


def _pattern(pattern: object, where: str) -> re.Pattern[str]:
    """``pattern`` compiled, if it keeps to constructs that mean the same in Python's ``re`` and
    pydantic's Rust regex."""
    if not isinstance(pattern, str) or "(?" in pattern:
        raise ValueError(f"{where}: pattern {pattern!r} is not supported")
    escapes = re.findall(r"\\(.)", pattern)
    if any(e not in _PATTERN_ESCAPES for e in escapes):
        raise ValueError(f"{where}: pattern {pattern!r} has an escape not supported")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{where}: pattern {pattern!r} does not compile: {exc}") from None


def _integer(node: dict[str, Any], where: str) -> Check:
    low, low_x, high, high_x = _bounds(node, int, where)
    choices = _choices(node, int, where)

    def check(value: Any) -> Any:
        if type(value) is not int or not (low <= value <= high and low_x < value < high_x):
            raise _Refused
        if choices is not None and value not in choices:
            raise _Refused
        return value

    return check


def _number(node: dict[str, Any], where: str) -> Check:
    """A float field: an int is given as the float pydantic makes of it."""
    low, low_x, high, high_x = _bounds(node, (int, float), where)

    def check(value: Any) -> Any:
        kind = type(value)
        if kind is int and -_FLOAT_EXACT <= value <= _FLOAT_EXACT:
            value = float(value)
        elif kind is not float or not math.isfinite(value):
            raise _Refused
        if not (low <= value <= high and low_x < value < high_x):
            raise _Refused
        return value

    return check


def _boolean(node: dict[str, Any], where: str) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not bool:
            raise _Refused
        return value

    return check


def _null(node: dict[str, Any], where: str) -> Check:
    def check(value: Any) -> Any:
        if value is not None:
            raise _Refused
        return None

    return check


def _bounds(
    node: dict[str, Any], kinds: type | tuple[type, ...], where: str
) -> tuple[float, float, float, float]:
    """(minimum, exclusiveMinimum, maximum, exclusiveMaximum), infinite where not given."""
    out = []
    for key, absent in (
        ("minimum", -math.inf),
        ("exclusiveMinimum", -math.inf),
        ("maximum", math.inf),
        ("exclusiveMaximum", math.inf),
    ):
        bound = node.get(key, absent)
        if key in node and (
            type(bound) not in (kinds if isinstance(kinds, tuple) else (kinds,))
            or not math.isfinite(bound)
        ):
            raise ValueError(f"{where}: {key} {bound!r} is not a finite number of the field's type")
        out.append(bound)
    return out[0], out[1], out[2], out[3]


def _count(node: dict[str, Any], key: str, where: str) -> float:
    if key not in node:
        return 0 if key.startswith("min") else math.inf
    value = node[key]
    if type(value) is not int or value < 0:
        raise ValueError(f"{where}: {key} {value!r} is not a count")
    return value


def _choices(node: dict[str, Any], kind: type, where: str) -> frozenset[Any] | None:
    """The values ``const`` or ``enum`` allow (each of the field's exact type), or None."""
    if "const" in node and "enum" in node:
        raise ValueError(f"{where}: both const and enum")
    values = [node["const"]] if "const" in node else node.get("enum")
    if values is None:
        return None
    if not isinstance(values, list) or any(type(v) is not kind for v in values):
        raise ValueError(f"{where}: const/enum values are not all {kind.__name__}s")
    return frozenset(values)


def _factory(default: Any, check: Check) -> Callable[[], Any]:
    """A fresh copy of a property's default for each filled document; an object default in the
    order of its properties, as the models dump it, if its check reads it as itself (the
    schema lists a model default's keys sorted)."""
    if default == [] and type(default) is list:
        return list
    if default == {} and type(default) is dict:
        return dict
    if isinstance(default, dict | list):
        try:
            ordered = check(_copy(default))
        except _Refused:
            ordered = default
        value = ordered if same(ordered, default) else default
        return lambda: _copy(value)
    return lambda: default


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """``a == b`` with the same types throughout (``1 == 1.0 == True`` are three different
    values here; NaN equals NaN); iterative, so any nesting depth is fine."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if type(x) is dict:
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif type(x) in (list, tuple):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif x != y and not (type(x) is float and math.isnan(x) and math.isnan(y)):
            return False
    return True


_loaded: list[Checker | None] = []


def _checker() -> Checker | None:
    """The committed schema's checker, loaded on first use; None (every call goes to the plan
    models) if the file is missing or uses what this module does not interpret, which
    tests/test_plan_schema.py reports."""
    if not _loaded:
        try:
            with open(SCHEMA_FILE, encoding="utf-8") as file:
                _loaded.append(compile_schema(json.load(file)))
        except (OSError, ValueError):
            _loaded.append(None)
    return _loaded[0]


def _fill(data: object, pick: Callable[[Checker], Check]) -> dict[str, Any] | None:
    checker = _checker()
    if checker is None:
        return None
    try:
        filled = pick(checker)(data)
    except _Refused:
        return None
    return filled if isinstance(filled, dict) else None


def fill_task(data: object) -> dict[str, Any] | None:
    """``data`` as ``TaskSpec.model_validate(data).model_dump()`` gives it, or None if the
    schema cannot vouch for it (the plan model then words its problems)."""
    return _fill(data, lambda c: c.task)


def fill_plan(data: object) -> dict[str, Any] | None:
    """``data`` as ``Plan.model_validate(data).model_dump()`` gives it, or None if the schema
    cannot vouch for it (the plan models then word its problems)."""
    return _fill(data, lambda c: c.plan)

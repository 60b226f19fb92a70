"""Checking a task kind's ``config`` settings: known keys, types and ranges, every problem at
once, each naming the task and the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarm.errors import Problem
from swarm.plan import TaskSpec


@dataclass(frozen=True, slots=True)
class Number:
    """A numeric setting: integer or not, and its inclusive range."""

    integer: bool
    low: float
    high: float

    def problem(self, value: Any) -> str | None:
        kinds = (int,) if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            noun = "an integer" if self.integer else "a number"
            return f"must be {noun} from {self.low:g} to {self.high:g}"
        if not self.low <= value <= self.high:
            return f"must be from {self.low:g} to {self.high:g}, not {value!r}"
        return None


def number_problems(spec: TaskSpec, rules: dict[str, Number], other: set[str]) -> list[Problem]:
    """Problems with ``spec.config``: unknown keys (neither in ``rules`` nor ``other``) and
    numbers of the wrong type or out of range."""
    where = f"task {spec.id!r}"
    problems = []
    unknown = set(spec.config) - set(rules) - other
    if unknown:
        known = ", ".join(sorted({*rules, *other}))
        problems.append(
            Problem(where, "config", f"unknown keys for {spec.kind}: {sorted(unknown)} ({known})")
        )
    for key, rule in rules.items():
        if key in spec.config:
            message = rule.problem(spec.config[key])
            if message:
                problems.append(Problem(where, f"config.{key}", message))
    return problems


def schema_problems(spec: TaskSpec) -> list[Problem]:
    if spec.output_schema is None:
        return []
    import jsonschema  # only for a schema: `swarm validate` of plain tasks skips it

    try:
        jsonschema.Draft202012Validator.check_schema(spec.output_schema)
    except jsonschema.SchemaError as exc:
        return [Problem(f"task {spec.id!r}", "output_schema", f"not a JSON Schema: {exc.message}")]
    return []


def setting(spec: TaskSpec, key: str, default: Any) -> Any:
    """A checked setting's value, or its default."""
    return spec.config.get(key, default)

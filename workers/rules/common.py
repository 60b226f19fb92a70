"""The checks several kinds share: numeric settings, a task's ``output_schema``, a file name
from a plan, and the settings every aggregator takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from swarm.errors import Problem
from swarm.output_schema import schema_error
from swarm.task_fields import TaskFields

COMMON_KEYS = {"title", "filename", "titles"}
"""The settings of every aggregator (``document``, ``sheet``, ``slides``, ``site``)."""


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


def number_problems(spec: TaskFields, rules: dict[str, Number], other: set[str]) -> list[Problem]:
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


def schema_problems(spec: TaskFields) -> list[Problem]:
    """The task's ``output_schema`` if it is not a JSON Schema (jsonschema is asked only about
    a schema :mod:`swarm.output_schema` cannot vouch for, once per distinct schema)."""
    if spec.output_schema is None:
        return []
    error = schema_error(spec.output_schema)
    if error is None:
        return []
    return [Problem(f"task {spec.id!r}", "output_schema", f"not a JSON Schema: {error}")]


def setting(spec: TaskFields, key: str, default: Any) -> Any:
    """A checked setting's value, or its default."""
    return spec.config.get(key, default)


def positive_int(spec: TaskFields, key: str, low: int, high: int) -> list[Problem]:
    value = spec.config.get(key, low)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return [Problem(f"task {spec.id!r}", f"config.{key}", f"must be an integer {low}–{high}")]
    return []


def name_problem(name: object) -> str | None:
    """Why a file name from a plan cannot be used, or None (checked before anything runs)."""
    if not isinstance(name, str) or not name.strip():
        return "must be a non-empty file name"
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return f"{name!r} is an absolute path; give a file name (it is written in the run folder)"
    if ".." in path.parts:
        return f"{name!r} leaves the run folder ('..'); give a plain file name"
    if len(path.parts) != 1:
        return f"{name!r} has folders; give a plain file name"
    return None


def common_problems(spec: TaskFields, allowed: set[str]) -> list[Problem]:
    """An aggregator's unknown keys, and the shape of ``title``, ``filename`` and ``titles``."""
    where, cfg = f"task {spec.id!r}", spec.config
    problems = []
    unknown = set(cfg) - allowed - COMMON_KEYS
    if unknown:
        known = ", ".join(sorted(allowed | COMMON_KEYS))
        problems.append(
            Problem(where, "config", f"unknown keys for {spec.kind}: {sorted(unknown)} ({known})")
        )
    if "title" in cfg and (not isinstance(cfg["title"], str) or not cfg["title"].strip()):
        problems.append(Problem(where, "config.title", "must be a non-empty string"))
    if "filename" in cfg and (message := name_problem(cfg["filename"])):
        problems.append(Problem(where, "config.filename", message))
    titles = cfg.get("titles", {})
    if not isinstance(titles, dict) or not all(isinstance(v, str) for v in titles.values()):
        problems.append(Problem(where, "config.titles", "must map dependency ids to titles"))
    elif stray := sorted(set(titles) - set(spec.deps)):
        problems.append(Problem(where, "config.titles", f"not dependencies of this task: {stray}"))
    if not spec.deps:
        problems.append(Problem(where, "deps", f"a {spec.kind} task needs results to combine"))
    return problems


def choice_problems(spec: TaskFields, key: str, allowed: tuple[str, ...]) -> list[Problem]:
    value = spec.config.get(key, list(allowed))
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v in allowed for v in value)
    ):
        return [Problem(f"task {spec.id!r}", f"config.{key}", f"must be a list from {allowed}")]
    return []

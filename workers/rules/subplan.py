"""The ``subplan`` kind's checks: a sub-goal, the planner's limits, and how deep it nests."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields

MAX_DEPTH = 2
"""A sub-plan may itself contain a ``subplan`` task, but no deeper than this."""


def check(spec: TaskFields) -> list[Problem]:
    where = f"task {spec.id!r}"
    problems = []
    if not spec.prompt.strip():
        problems.append(Problem(where, "prompt", "a subplan task needs a sub-goal as prompt"))
    unknown = set(spec.config) - {"max_tasks", "max_repairs"}
    if unknown:
        problems.append(Problem(where, "config", f"unknown keys for subplan: {sorted(unknown)}"))
    for key, low, high in (("max_tasks", 1, 300), ("max_repairs", 0, 5)):
        value = spec.config.get(key, low)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append(Problem(where, f"config.{key}", f"must be {low}..{high}"))
    if spec.id.count(":") >= MAX_DEPTH:
        problems.append(Problem(where, "kind", f"sub-plans nest at most {MAX_DEPTH} deep"))
    return problems

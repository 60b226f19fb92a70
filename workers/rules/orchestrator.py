"""The ``orchestrator`` kind's checks: its task as prompt, its limits, its recorded history,
and how deep it nests (read from the ids its sub-agents are given)."""

from __future__ import annotations

import re

from swarm.errors import Problem
from swarm.task_fields import TaskFields

DEFAULT_MAX_DEPTH = 2
CONFIG_KEYS = {"max_depth", "subagent_steps", "max_subagents", "history"}
_STAGE_ID = re.compile(r"^(?P<parent>.+):s(?P<stage>\d+)-(?P<n>\d+)$")


def stage_of(task_id: str) -> tuple[str, int] | None:
    """(parent orchestrator id, stage) of a sub-agent's id, or None for any other id."""
    match = _STAGE_ID.match(task_id)
    return (match["parent"], int(match["stage"])) if match else None


def depth_of(task_id: str) -> int:
    """How deep an orchestrator is nested: 0 for a root, 1 for a sub-agent, and so on."""
    depth, found = 0, stage_of(task_id)
    while found is not None:
        depth += 1
        found = stage_of(found[0])
    return depth


def check(spec: TaskFields) -> list[Problem]:
    where = f"task {spec.id!r}"
    problems = []
    if not spec.prompt.strip():
        problems.append(Problem(where, "prompt", "an orchestrator task needs its task as prompt"))
    unknown = set(spec.config) - CONFIG_KEYS
    if unknown:
        problems.append(
            Problem(where, "config", f"unknown keys for orchestrator: {sorted(unknown)}")
        )
    for key, low, high in (
        ("max_depth", 1, 5),
        ("subagent_steps", 1, 4000),
        ("max_subagents", 1, 5000),
    ):
        value = spec.config.get(key, low)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append(Problem(where, f"config.{key}", f"must be {low}..{high}"))
    if not isinstance(spec.config.get("history", []), list):
        problems.append(Problem(where, "config.history", "is the runtime's record: a list"))
    max_depth = spec.config.get("max_depth", DEFAULT_MAX_DEPTH)
    if isinstance(max_depth, int) and depth_of(spec.id) >= max_depth:
        problems.append(Problem(where, "kind", f"orchestrators nest at most {max_depth} deep"))
    return problems

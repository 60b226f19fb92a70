"""The ``llm`` kind's checks: a prompt, a JSON Schema if it has one, and ``reasks``."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields
from workers.rules.common import schema_problems

DEFAULT_REASKS = 2


def check(spec: TaskFields) -> list[Problem]:
    problems = []
    where = f"task {spec.id!r}"
    if not spec.prompt.strip():
        problems.append(Problem(where, "prompt", "an llm task needs a prompt"))
    problems += schema_problems(spec)
    unknown = set(spec.config) - {"reasks"}
    if unknown:
        problems.append(Problem(where, "config", f"unknown keys for llm: {sorted(unknown)}"))
    reasks = spec.config.get("reasks", DEFAULT_REASKS)
    if not isinstance(reasks, int) or isinstance(reasks, bool) or not 0 <= reasks <= 10:
        problems.append(Problem(where, "config.reasks", "must be an integer from 0 to 10"))
    return problems

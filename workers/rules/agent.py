"""The ``agent`` kind's checks: a prompt, a JSON Schema if it has one, its numeric settings."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields
from workers.rules.common import Number, number_problems, schema_problems

RULES = {
    "reasks": Number(True, 0, 10),
    "repeat_limit": Number(True, 2, 20),
    "observation_chars": Number(True, 200, 100_000),
    "python_timeout_s": Number(False, 0.1, 3600),
    "python_memory_mb": Number(True, 64, 65_536),
}
"""The agent's ``config`` settings."""


def check(spec: TaskFields) -> list[Problem]:
    problems = []
    if not spec.prompt.strip():
        problems.append(Problem(f"task {spec.id!r}", "prompt", "an agent task needs a prompt"))
    return problems + schema_problems(spec) + number_problems(spec, RULES, set())

"""The ``slides`` kind's checks: the aggregator settings, ``subtitle``, ``max_bullets``,
``charts``."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields
from workers.rules.common import common_problems, positive_int


def check(spec: TaskFields) -> list[Problem]:
    where, cfg = f"task {spec.id!r}", spec.config
    problems = common_problems(spec, {"subtitle", "max_bullets", "charts"})
    if not isinstance(cfg.get("subtitle", ""), str):
        problems.append(Problem(where, "config.subtitle", "must be a string"))
    problems += positive_int(spec, "max_bullets", 1, 20)
    if not isinstance(cfg.get("charts", True), bool):
        problems.append(Problem(where, "config.charts", "must be true or false"))
    return problems

"""The ``site`` kind's checks: the aggregator settings, ``intro``, ``tagline``, ``layout``."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields
from workers.rules.common import common_problems

LAYOUTS = ("pages", "landing")


def check(spec: TaskFields) -> list[Problem]:
    where = f"task {spec.id!r}"
    problems = common_problems(spec, {"intro", "layout", "tagline"})
    for key in ("intro", "tagline"):
        if not isinstance(spec.config.get(key, ""), str):
            problems.append(Problem(where, f"config.{key}", "must be a string"))
    if spec.config.get("layout", "pages") not in LAYOUTS:
        problems.append(Problem(where, "config.layout", f"must be one of {LAYOUTS}"))
    return problems

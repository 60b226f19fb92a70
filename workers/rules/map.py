"""The ``map`` kind's checks: the list's source among the deps, a template that is a valid task
(without the ``id`` and ``deps`` each item is given), and ``max_items``."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.task_fields import TaskFields, task_problem

DEFAULT_MAX_ITEMS = 1000
TEMPLATE_FORBIDDEN = {"id", "deps"}


def child_id(map_id: str, index: int) -> str:
    return f"{map_id}:{index:04d}"


def check(spec: TaskFields) -> list[Problem]:
    where = f"task {spec.id!r}"
    cfg = spec.config
    problems = []
    unknown = set(cfg) - {"over", "template", "path", "max_items"}
    if unknown:
        problems.append(Problem(where, "config", f"unknown keys for map: {sorted(unknown)}"))
    over = cfg.get("over")
    if not isinstance(over, str) or over not in spec.deps:
        problems.append(
            Problem(where, "config.over", "must name one of the task's deps (the list's source)")
        )
    template = cfg.get("template")
    if not isinstance(template, dict):
        problems.append(Problem(where, "config.template", "must be a task object"))
    else:
        bad = TEMPLATE_FORBIDDEN & set(template)
        if bad:
            problems.append(
                Problem(where, "config.template", f"may not set {sorted(bad)}: they are given")
            )
        found = task_problem({**template, "id": child_id(spec.id, 0)})
        if found is not None:
            loc, message = found
            problems.append(Problem(where, f"config.template.{loc}", message))
    max_items = cfg.get("max_items", DEFAULT_MAX_ITEMS)
    if not isinstance(max_items, int) or isinstance(max_items, bool) or max_items < 1:
        problems.append(Problem(where, "config.max_items", "must be a positive integer"))
    return problems

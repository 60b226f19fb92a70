"""Whole-plan validation: the plan model, the DAG checks, and each task kind's own checks,
all reported together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swarm.errors import PlanError, Problem
from swarm.plan import Plan, TaskSpec, parse_plan, read_plan_file


def kind_problems(raw: dict[str, Any]) -> list[Problem]:
    """Each task kind's checks, run on every task that is well-formed on its own."""
    from workers.registry import registry

    kinds = registry()
    problems: list[Problem] = []
    tasks = raw.get("tasks")
    for item in tasks if isinstance(tasks, list) else []:
        try:
            spec = TaskSpec.model_validate(item)
        except ValidationError:
            continue  # its problems are reported by the plan model
        worker = kinds.get(spec.kind)
        if worker is not None:
            problems.extend(worker.check(spec))
    budget = raw.get("budget")
    per_kind = budget.get("per_kind_concurrency") if isinstance(budget, dict) else None
    for kind in per_kind if isinstance(per_kind, dict) else {}:
        if kind not in kinds:
            field = f"budget.per_kind_concurrency.{kind}"
            problems.append(Problem("plan", field, f"unknown kind {kind!r}"))
    return problems


def validate_data(raw: dict[str, Any], *, source: str = "plan") -> Plan:
    """Validate decoded plan data with every check; one PlanError lists all problems."""
    from workers.registry import known_kinds

    problems: list[Problem] = []
    plan: Plan | None = None
    try:
        plan = parse_plan(raw, source=source, known_kinds=known_kinds())
    except PlanError as exc:
        problems.extend(exc.problems)
    problems.extend(p for p in kind_problems(raw) if p not in problems)
    if problems:
        raise PlanError(source, problems)
    assert plan is not None
    return plan


def validate_file(path: str | Path) -> Plan:
    """Read a plan file and validate it with every check."""
    return validate_data(read_plan_file(path), source=str(path))

"""Whole-plan validation: the plan model, the DAG checks, and each task kind's own checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swarm.errors import PlanError, Problem
from swarm.plan import Plan, load_plan, parse_plan


def kind_problems(plan: Plan) -> list[Problem]:
    from workers.registry import registry

    kinds = registry()
    problems: list[Problem] = []
    for spec in plan.tasks:
        worker = kinds.get(spec.kind)
        if worker is not None:
            problems.extend(worker.check(spec))
    for kind in plan.budget.per_kind_concurrency:
        if kind not in kinds:
            problems.append(
                Problem("plan", f"budget.per_kind_concurrency.{kind}", f"unknown kind {kind!r}")
            )
    return problems


def _known() -> set[str]:
    from workers.registry import known_kinds

    return known_kinds()


def validate_file(path: str | Path) -> Plan:
    """Load a plan file and run every check; raise one PlanError listing all problems."""
    plan = load_plan(path, known_kinds=_known())
    problems = kind_problems(plan)
    if problems:
        raise PlanError(str(path), problems)
    return plan


def validate_data(raw: Any, *, source: str = "plan") -> Plan:
    """Like :func:`validate_file` for plan data already decoded (planners, the Python API)."""
    plan = parse_plan(raw, source=source, known_kinds=_known())
    problems = kind_problems(plan)
    if problems:
        raise PlanError(source, problems)
    return plan

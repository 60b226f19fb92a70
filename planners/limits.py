"""The planner's own checks on top of plan validation: its limits (task count, concurrency,
step pool, sizes) applied to plan-level data, and the checking of a whole JSON plan."""

from __future__ import annotations

import json
from typing import Any

from planners.extract import MAX_LINE_CHARS, value_problem
from planners.prompt import Limits
from swarm.errors import PlanError, Problem
from swarm.plan import Plan
from swarm.validation import validate_data


def with_limits(
    raw: dict[str, Any], goal: str, limits: Limits
) -> tuple[dict[str, Any], list[Problem]]:
    """Plan-level data with the goal and the planner's limits filled in where the model left
    them out, and a problem for each limit it went over."""
    out = dict(raw)
    if out.get("goal") is None:
        out["goal"] = goal
    budget = out.get("budget", {})
    if not isinstance(budget, dict):
        return out, []  # the plan model reports it
    budget = dict(budget)
    problems = []
    for key, limit in (("max_steps", limits.step_pool), ("max_concurrency", limits.concurrency)):
        value = budget.setdefault(key, limit)
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            message = f"{value} is over the planner's limit of {limit}"
            problems.append(Problem("plan", f"budget.{key}", message))
    out["budget"] = budget
    return out, problems


def whole_plan(raw: dict[str, Any], goal: str, limits: Limits, *, source: str) -> Plan:
    """A whole JSON plan from an answer, checked against the planner's limits and validated."""
    bad = value_problem(raw)
    if bad:
        raise PlanError(source, [Problem("plan", "", bad)])
    data, problems = with_limits(raw, goal, limits)
    tasks = data.get("tasks")
    if isinstance(tasks, list):
        if len(tasks) > limits.max_tasks:
            message = (
                f"{len(tasks)} tasks is over the limit of {limits.max_tasks} "
                "(max_tasks); plan fewer, broader tasks"
            )
            raise PlanError(source, [*problems, Problem("plan", "tasks", message)])
        for index, task in enumerate(tasks):
            if len(json.dumps(task, ensure_ascii=False)) > MAX_LINE_CHARS:
                message = f"longer than {MAX_LINE_CHARS} characters"
                problems.append(Problem(f"tasks[{index}]", "", message))
    try:
        plan = validate_data(data, source=source)
    except PlanError as exc:
        raise PlanError(source, [*problems, *exc.problems]) from None
    if problems:
        raise PlanError(source, problems)
    return plan

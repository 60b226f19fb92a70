"""The scheduler core for a plan: each task's expected duration, its critical-path priority (the
longest remaining path in seconds), and what the core needs to know of it, with the plan's
defaults and budgets applied."""

from __future__ import annotations

from collections.abc import Mapping

from swarm.core.scheduler import Limits, Scheduler, TaskInfo
from swarm.core.steps import StepPool
from swarm.dag import Dag, longest_remaining
from swarm.plan import Plan, TaskSpec
from workers.base import Worker

ASSUMED_TOKENS_PER_S = 40.0
"""A decode rate assumed for tasks without ``estimate_s``, only to put them on the same scale
(seconds) as tasks with one; it orders tasks, it limits nothing."""


def task_weight(plan: Plan, spec: TaskSpec, workers: Mapping[str, Worker]) -> float:
    """Expected duration of a task in seconds, for critical-path priorities.

    The task's ``estimate_s`` if it has one (the planner's or the user's guess); otherwise a
    model call's time is taken to grow with the tokens it may write and an agent's with its
    steps: max_tokens / ASSUMED_TOKENS_PER_S x (steps the kind expects to use).
    """
    if spec.estimate_s is not None:
        return spec.estimate_s
    params = plan.defaults.params.merged(spec.params)
    steps = spec.max_steps or plan.defaults.max_steps or workers[spec.kind].default_steps
    expected = steps if spec.kind == "agent" else 1  # only agents use many steps
    return (params.max_tokens or 2048) / ASSUMED_TOKENS_PER_S * expected


def task_info(
    plan: Plan, spec: TaskSpec, priority: float, order: int, workers: Mapping[str, Worker]
) -> TaskInfo:
    """What the scheduler core needs to know of a task, with the plan's defaults applied."""
    defaults = plan.defaults
    retries = spec.retries if spec.retries is not None else defaults.retries
    return TaskInfo(
        id=spec.id,
        kind=spec.kind,
        deps=tuple(spec.deps),
        priority=priority,
        order=order,
        max_attempts=retries + 1,
        steps_wanted=spec.max_steps or defaults.max_steps or workers[spec.kind].default_steps,
    )


def build_scheduler(
    plan: Plan, graph: Dag, workers: Mapping[str, Worker], *, fail_fast: bool, seed: int
) -> Scheduler:
    """The core for a plan; priority ties are broken by the task's position in the plan."""
    weights = {spec.id: task_weight(plan, spec, workers) for spec in plan.tasks}
    remaining = longest_remaining(graph, weights)
    infos = [
        task_info(plan, spec, remaining[spec.id], index, workers)
        for index, spec in enumerate(plan.tasks)
    ]
    limits = Limits(
        concurrency=plan.budget.max_concurrency,
        per_kind=dict(plan.budget.per_kind_concurrency),
        fail_fast=fail_fast,
    )
    return Scheduler(infos, limits, StepPool(plan.budget.max_steps), seed=seed)

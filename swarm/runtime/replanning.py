"""The replanner the driver calls when a task fails for good: the planner revises the failed
branch, and its tasks join the run under ``<failed id>.r<revision>:`` ids."""

from __future__ import annotations

from swarm.errors import TaskError
from swarm.plan import Plan, TaskSpec, prefixed
from swarm.providers.base import Provider
from swarm.runtime.growth import Replanner


def make_replanner(plan: Plan, provider: Provider) -> Replanner:
    """A replanner asking ``provider`` (the run's model) through the planners package."""

    async def replan(
        failed_id: str,
        error: str,
        branch: list[TaskSpec],
        results: dict[str, str],
        revision: int,
    ) -> list[TaskSpec]:
        from planners import BranchFailure, PlannerSettings, revise_branch

        failure = BranchFailure(plan.goal, branch[0], error, branch, results)
        settings = PlannerSettings(model=plan.defaults.model, max_tasks=max(5, 3 * len(branch)))
        revised = await revise_branch(failure, provider, settings)
        prefix = f"{failed_id}.r{revision}:"
        try:
            return [prefixed(spec, prefix) for spec in revised.tasks]
        except ValueError as exc:
            raise TaskError(f"revision ids do not fit: {exc}", retryable=False) from None

    return replan

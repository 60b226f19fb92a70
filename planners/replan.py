"""Replanning: when a task fails for good, ask the planner to revise only the failed branch
(the failed task and its descendants, none of which ran), given the error and the results that
are already in. Finished work is kept: the revision's tasks can read those results, which are
quoted in the request, and nothing that succeeded runs again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planners.planner import PlannerSettings, plan_goal
from swarm.plan import Plan, TaskSpec
from swarm.providers.base import Provider

RESULT_CHARS = 600
"""How much of each finished result the revision request quotes."""


@dataclass(frozen=True)
class BranchFailure:
    """What the replanner is told: the failed task, its error, the branch, what is done."""

    goal: str
    failed: TaskSpec
    error: str
    branch: Sequence[TaskSpec]
    """The failed task first, then its descendants (none of them ran)."""
    finished: Mapping[str, str]
    """Results of the run's succeeded tasks, by id."""


def revision_goal(failure: BranchFailure) -> str:
    """The sub-goal the planner is given: achieve what the branch was for, another way."""
    lines = [
        f"Part of a larger plan for: {failure.goal}",
        f"The task {failure.failed.id!r} ({failure.failed.kind}) failed for good: {failure.error}",
        "Write replacement tasks for this branch, which did not run (achieve the same result "
        "another way, avoiding the failure):",
    ]
    lines += [f"- {spec.id} ({spec.kind}): {spec.prompt[:300]}" for spec in failure.branch]
    if failure.finished:
        lines.append("Results already available (reuse them; put what a task needs in its prompt):")
        lines += [f"- {k}: {v[:RESULT_CHARS]}" for k, v in sorted(failure.finished.items())]
    return "\n".join(lines)


async def revise_branch(
    failure: BranchFailure, provider: Provider, settings: PlannerSettings
) -> Plan:
    """A validated plan for the failed branch (PlannerError if the planner cannot give one)."""
    return await plan_goal(revision_goal(failure), provider, settings)

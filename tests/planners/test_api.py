"""The planners package's public surface is pinned."""

from __future__ import annotations

import planners


def test_public_api() -> None:
    assert sorted(planners.__all__) == [
        "BranchFailure",
        "Limits",
        "LineProblem",
        "PlanEvent",
        "PlanHeader",
        "PlanLineParser",
        "PlanReady",
        "PlannerSettings",
        "RepairStarted",
        "StreamingProvider",
        "TaskReady",
        "build_prompt",
        "can_stream",
        "plan_goal",
        "revise_branch",
        "stream_plan",
    ]
    for name in planners.__all__:
        assert getattr(planners, name) is not None

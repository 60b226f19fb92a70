"""Goal → plan: the planning prompt, reading untrusted model answers, repair, and streaming.

The public surface is re-exported here (and pinned by ``tests/planners/test_api.py``).
"""

from __future__ import annotations

from planners.events import (
    LineProblem,
    PlanEvent,
    PlanHeader,
    PlanReady,
    RepairStarted,
    TaskReady,
)
from planners.lines import PlanLineParser
from planners.planner import PlannerSettings, plan_goal, stream_plan
from planners.prompt import Limits, build_prompt
from planners.replan import BranchFailure, revise_branch
from planners.streaming import StreamingProvider, can_stream

__all__ = [
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

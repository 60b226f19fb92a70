"""Orchestrator mode: a run whose root is one ``orchestrator`` task instead of a plan."""

from __future__ import annotations

from collections.abc import Sequence

from swarm.errors import ConfigError
from swarm.plan import Plan, TaskSpec

MODES = ("plan", "orchestrate")
"""``plan``: the planner writes the DAG (the default); ``orchestrate``: an orchestrator agent
spawns sub-agents turn by turn (Kimi's Agent and AgentSwarm tools)."""
ROOT_ID = "orchestrator"


def check_mode(mode: str, images: Sequence[str] = ()) -> str:
    """The mode, if it is one and fits the request (ConfigError otherwise)."""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}", hint=f"use one of: {', '.join(MODES)}")
    if mode == "orchestrate" and images:
        raise ConfigError(
            "images go to the planner, and orchestrate mode has none",
            hint="leave out --image, or use --mode plan",
        )
    return mode


def orchestrator_plan(goal: str, *, max_steps: int | None = None) -> Plan:
    """The one-task plan of an orchestrator-mode run (``max_steps``: the orchestrator's own
    steps over all its turns; 15, Kimi's budget, if not given)."""
    root = TaskSpec(
        id=ROOT_ID, kind="orchestrator", title="orchestrator", prompt=goal, max_steps=max_steps
    )
    return Plan(goal=goal, tasks=[root])

"""What reading a planner's answer produces: the events of a plan arriving line by line.

A consumer (the streaming planner, a run that dispatches as tasks arrive) reads these; each is a
frozen value, so the same answer gives equal events however it was cut into chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarm.errors import Problem
from swarm.plan import Plan, RunBudget, TaskDefaults, TaskSpec


@dataclass(frozen=True, slots=True)
class PlanHeader:
    """The header line was read and is valid: the plan's goal, defaults and budget."""

    goal: str
    defaults: TaskDefaults
    budget: RunBudget
    line: int


@dataclass(frozen=True, slots=True)
class TaskReady:
    """A task that may be dispatched: valid, and every dep was announced before it."""

    spec: TaskSpec
    line: int
    """Its line in the answer (0 when the answer was a whole JSON plan)."""


@dataclass(frozen=True, slots=True)
class LineProblem:
    """A line that was not accepted, and why (``line`` 0: the answer as a whole)."""

    problem: Problem
    line: int


@dataclass(frozen=True, slots=True)
class RepairStarted:
    """The answer was rejected and the model is asked again (``attempt`` counts re-asks)."""

    attempt: int
    problems: tuple[Problem, ...]
    continuation: bool
    """True if accepted tasks are kept and only the rest is asked for."""


@dataclass(frozen=True, slots=True)
class PlanReady:
    """The last event of a planning stream: the whole plan, validated."""

    plan: Plan


PlanEvent = PlanHeader | TaskReady | LineProblem | RepairStarted | PlanReady

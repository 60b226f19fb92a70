"""Run metrics that tell whether a swarm is really parallel: critical steps and the like."""

from __future__ import annotations

from collections.abc import Mapping

from swarm.dag import build_graph, longest_remaining
from swarm.plan import Plan


def steps_critical(plan: Plan, steps_used: Mapping[str, int]) -> int:
    """Steps along the heaviest dependency chain: the steps no amount of parallelism hides."""
    graph = build_graph(plan)
    weights = {task: float(steps_used.get(task, 0)) for task in graph}
    remaining = longest_remaining(graph, weights)
    return int(max(remaining.values(), default=0.0))

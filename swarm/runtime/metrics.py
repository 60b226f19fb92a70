"""Run metrics that tell whether a swarm is really parallel: critical steps and the like."""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from swarm.dag import longest_remaining


def steps_critical(graph: nx.DiGraph[str], steps_used: Mapping[str, int]) -> int:
    """Steps along the heaviest dependency chain: the steps no amount of parallelism hides."""
    weights = {task: float(steps_used.get(task, 0)) for task in graph}
    remaining = longest_remaining(graph, weights)
    return int(max(remaining.values(), default=0.0))

"""Small checks of aggregator settings shared by several kinds."""

from __future__ import annotations

from swarm.errors import Problem
from swarm.plan import TaskSpec


def positive_int(spec: TaskSpec, key: str, low: int, high: int) -> list[Problem]:
    value = spec.config.get(key, low)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return [Problem(f"task {spec.id!r}", f"config.{key}", f"must be an integer {low}–{high}")]
    return []

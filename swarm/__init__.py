"""swarm: plans as DAGs of heterogeneous subtasks, run by a durable anyio scheduler over SQLite.

The public surface is re-exported here (and pinned by ``tests/test_public_api.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from swarm.errors import (
    BudgetExceeded,
    ConfigError,
    InputError,
    PlanError,
    ProviderError,
    RunNotFound,
    StoreError,
    SwarmError,
    TaskError,
)

if TYPE_CHECKING:
    from swarm.api import RunHandle, Swarm
    from swarm.plan import ModelParams, Plan, RunBudget, TaskDefaults, TaskSpec

__version__ = "0.1.0"


_PLAN_MODELS = frozenset({"ModelParams", "Plan", "RunBudget", "TaskDefaults", "TaskSpec"})


def __getattr__(name: str) -> Any:
    # The API pulls in the runtime and the planners, which themselves import swarm's modules:
    # loaded on first use so that `import planners` (or any swarm module) stays acyclic. The
    # plan models are loaded on first use too: pydantic costs `swarm --help` most of its start.
    if name in ("Swarm", "RunHandle"):
        from swarm import api

        return getattr(api, name)
    if name in _PLAN_MODELS:
        from swarm import plan

        return getattr(plan, name)
    raise AttributeError(f"module 'swarm' has no attribute {name!r}")


__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "InputError",
    "ModelParams",
    "Plan",
    "PlanError",
    "ProviderError",
    "RunBudget",
    "RunHandle",
    "RunNotFound",
    "StoreError",
    "Swarm",
    "SwarmError",
    "TaskDefaults",
    "TaskError",
    "TaskSpec",
    "__version__",
]

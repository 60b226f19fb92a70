"""swarm: plans as DAGs of heterogeneous subtasks, run by a durable anyio scheduler over SQLite.

The public surface is re-exported here (and pinned by ``tests/test_public_api.py``).
"""

from __future__ import annotations

from swarm.api import RunHandle, Swarm
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
from swarm.plan import ModelParams, Plan, RunBudget, TaskDefaults, TaskSpec

__version__ = "0.1.0"

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

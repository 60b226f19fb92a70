"""swarm: plans as DAGs of heterogeneous subtasks, run by a durable anyio scheduler over SQLite.

The public surface is re-exported here (and pinned by ``tests/test_public_api.py``): the
:class:`Swarm` API and the typed values it returns, the plan models, the error tree, and the
protocols a plug-in implements (:class:`Worker` with its :class:`TaskContext`, and
:class:`Provider` with :class:`ModelRequest` and :class:`ModelResponse`).
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing's, without importing typing for `swarm --help`
if TYPE_CHECKING:
    from typing import Any

    from swarm.api import RunHandle, Swarm, SwarmWarning
    from swarm.api_settings import RunSettings
    from swarm.api_types import (
        ApprovalDecision,
        Artifact,
        PendingApproval,
        RunEvent,
        RunInfo,
        RunSummary,
        TaskResult,
    )
    from swarm.errors import (
        AlreadyDecided,
        BudgetExceeded,
        ConfigError,
        InputError,
        PlanError,
        PlannerError,
        ProviderError,
        RunNotFound,
        StoreError,
        SwarmError,
        TaskError,
    )
    from swarm.plan import ModelParams, Plan, RunBudget, TaskDefaults, TaskSpec
    from swarm.providers.base import ModelRequest, ModelResponse, Provider
    from workers.base import TaskContext, Worker

__version__ = "0.1.0"

_LAZY = {
    "Swarm": "swarm.api",
    "RunHandle": "swarm.api",
    "SwarmWarning": "swarm.api",
    "RunSettings": "swarm.api_settings",
    "Artifact": "swarm.api_types",
    "ApprovalDecision": "swarm.api_types",
    "PendingApproval": "swarm.api_types",
    "RunEvent": "swarm.api_types",
    "RunInfo": "swarm.api_types",
    "RunSummary": "swarm.api_types",
    "TaskResult": "swarm.api_types",
    "TaskContext": "workers.base",
    "Worker": "workers.base",
    **dict.fromkeys(("ModelParams", "Plan", "RunBudget", "TaskDefaults", "TaskSpec"), "swarm.plan"),
    **dict.fromkeys(("ModelRequest", "ModelResponse", "Provider"), "swarm.providers.base"),
    **dict.fromkeys(
        (
            "AlreadyDecided",
            "BudgetExceeded",
            "ConfigError",
            "InputError",
            "PlanError",
            "PlannerError",
            "ProviderError",
            "RunNotFound",
            "StoreError",
            "SwarmError",
            "TaskError",
        ),
        "swarm.errors",
    ),
}


def __getattr__(name: str) -> Any:
    # The API pulls in the runtime, the store and the planners, which themselves import swarm's
    # modules: loaded on first use, so that `import planners` (or any swarm module) stays
    # acyclic. The plan models are loaded on first use too: pydantic costs `swarm --help` most
    # of its start, and the error tree and the provider protocol (dataclasses, typing) are
    # loaded on first use too: `swarm --help` imports neither.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'swarm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "AlreadyDecided",
    "ApprovalDecision",
    "Artifact",
    "BudgetExceeded",
    "ConfigError",
    "InputError",
    "ModelParams",
    "ModelRequest",
    "ModelResponse",
    "PendingApproval",
    "Plan",
    "PlanError",
    "PlannerError",
    "Provider",
    "ProviderError",
    "RunBudget",
    "RunEvent",
    "RunHandle",
    "RunInfo",
    "RunNotFound",
    "RunSettings",
    "RunSummary",
    "StoreError",
    "Swarm",
    "SwarmError",
    "SwarmWarning",
    "TaskContext",
    "TaskDefaults",
    "TaskError",
    "TaskResult",
    "TaskSpec",
    "Worker",
    "__version__",
]

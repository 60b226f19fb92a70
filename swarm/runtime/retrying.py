"""`swarm retry`: failed tasks get new attempts, the skipped descendants they held back are
un-skipped, every succeeded result is kept; then the run goes on as a resume."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from swarm.core.rerun import tasks_to_retry
from swarm.errors import ConfigError
from swarm.plan import loads_plan
from swarm.providers.base import Provider
from swarm.runtime.run import Hooks, resume
from swarm.store.store import Store


async def retry(
    store: Store,
    run_id: str,
    provider: Provider,
    *,
    tasks: Sequence[str] = (),
    hooks: Hooks | None = None,
    limits: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Give the run's failed tasks (all, or those named) new attempts and un-skip the
    descendants they held back, keeping every succeeded result, then resume the run."""
    record = await store.load_run(run_id)
    rows = await store.load_tasks(run_id)
    plan = loads_plan(record.plan_json, source=f"run {run_id}")
    deps = {spec.id: spec.deps for spec in plan.tasks}
    statuses = {row.task_id: row.status for row in rows}
    failed, unskipped = tasks_to_retry(statuses, deps, list(tasks))
    if not failed:
        raise ConfigError(
            f"run {run_id} has no failed task to retry",
            hint=f"continue it with `swarm resume {run_id}`",
        )
    # Written by the resume once it has taken the run (fenced like every write of a driver);
    # a run another live driver holds is refused there with nothing written.
    return await resume(
        store, run_id, provider, hooks=hooks, limits=limits, rerun=(failed, unskipped)
    )

"""Small builders of runs and ops for the store tests."""

from __future__ import annotations

from typing import Any

from swarm.store.ops import AttemptFinished, AttemptStarted, StepRecord
from swarm.store.records import NewRun, NewTask


def new_run(run_id: str = "r1", n_tasks: int = 3, *, created_at: float = 1000.0) -> NewRun:
    """A run of ``n_tasks`` tasks ``t0``, ``t1``, ... where each depends on the one before."""
    tasks = tuple(
        NewTask(
            task_id=f"t{i}",
            kind="llm",
            deps=(f"t{i - 1}",) if i else (),
            priority=float(n_tasks - i),
            title=f"task {i}",
        )
        for i in range(n_tasks)
    )
    return NewRun(
        run_id=run_id,
        goal="test goal",
        plan_json='{"tasks": []}',
        config={"provider": "sim", "concurrency": 4},
        created_at=created_at,
        tasks=tasks,
    )


def started(
    task_id: str, attempt: int = 1, *, run_id: str = "r1", at: float = 2000.0
) -> AttemptStarted:
    return AttemptStarted(run_id=run_id, task_id=task_id, attempt=attempt, at=at, allowance=5)


def finished(
    task_id: str,
    attempt: int = 1,
    *,
    run_id: str = "r1",
    task_status: str = "succeeded",
    outcome: str | None = None,
    n_steps: int = 1,
    at: float = 2001.0,
    **kwargs: Any,
) -> AttemptFinished:
    steps = tuple(
        StepRecord(
            n=n + 1,
            kind="model",
            name="sim",
            started_at=at - 1,
            latency_s=0.5,
            tokens_in=10,
            tokens_out=20,
            cost_usd=0.01,
            detail={"n": n},
        )
        for n in range(n_steps)
    )
    if outcome is None:
        outcome = task_status if task_status in ("succeeded", "cancelled") else "failed"
    return AttemptFinished(
        run_id=run_id,
        task_id=task_id,
        attempt=attempt,
        started_at=at - 1,
        finished_at=at,
        outcome=outcome,
        task_status=task_status,
        result="ok" if task_status == "succeeded" else None,
        steps=steps,
        tokens_in=10 * n_steps,
        tokens_out=20 * n_steps,
        cost_usd=0.01 * n_steps,
        **kwargs,
    )

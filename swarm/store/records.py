"""Rows read back from the store, as plain dataclasses (the runtime never sees ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class NewTask(NamedTuple):
    """A task row to write with a new run (a named tuple: a run builds one per task)."""

    task_id: str
    kind: str
    deps: tuple[str, ...]
    priority: float
    title: str | None = None


@dataclass(frozen=True, slots=True)
class NewRun:
    """Everything written when a run is created: the run row and one pending row per task."""

    run_id: str
    goal: str
    plan_json: str
    config: dict[str, Any]
    """Run options that resume must reuse (provider, concurrency, fail_fast, ...)."""
    created_at: float
    tasks: tuple[NewTask, ...]


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    goal: str
    plan_json: str
    config: dict[str, Any]
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    summary: dict[str, Any] | None
    owner_pid: int | None = None
    """The process that last drove the run."""
    heartbeat_at: float | None = None
    """Written by that process's writer about once a second while the run is live."""


@dataclass(frozen=True, slots=True)
class TaskRecord:
    task_id: str
    kind: str
    status: str
    attempt: int
    result: str | None
    error: str | None
    started_at: float | None
    finished_at: float | None
    steps_used: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Wait:
    """What a waiting task waits on, after which of its attempts: the tasks in ``on`` or,
    with ``on`` empty, an outside decision; ``reason`` is ``approval`` or ``spawn``."""

    attempt: int
    on: tuple[str, ...] = ()
    reason: str = "approval"

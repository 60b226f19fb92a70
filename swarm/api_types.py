"""The typed values the Python API hands out: a run's summary, its events, its tasks' results,
its artifacts, and the runs of a database.

They are frozen dataclasses built from what the runtime and the store return, so a script can
rely on attribute names (checked by mypy) instead of dictionary keys. :meth:`RunSummary.to_dict`
gives the exact object ``swarm execute --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm.store.approvals import PendingApproval as StoredPending
from swarm.store.queries import ArtifactRow, EventRow, TaskDetail
from swarm.store.queries import RunSummary as RunRow


@dataclass(frozen=True, slots=True)
class RunSummary:
    """How a run ended (``swarm execute --json`` prints :meth:`to_dict`)."""

    run_id: str
    status: str
    """``succeeded``, ``failed``, ``paused`` (a budget ran out), ``waiting`` (only decisions,
    such as approvals, can move it on) or ``cancelled``; paused, waiting and cancelled runs are
    resumable."""
    goal: str
    tasks: int
    counts: dict[str, int]
    """Tasks by status: ``succeeded``, ``failed``, ``skipped``, ``cancelled``, ``pending``, …"""
    makespan_s: float
    steps_total: int
    steps_critical: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    """Estimated from the price table (:mod:`swarm.providers.pricing`); 0 when unpriced."""
    provider: str
    simulated: bool
    """True when no real model was called (the sim provider)."""
    db: str
    metrics: dict[str, Any] = field(default_factory=dict)
    """Makespan, serial time, speedup, critical path … (see ``docs/architecture.md``)."""
    unpriced_models: tuple[str, ...] = ()
    """Models the run used that have no known price: ``cost_usd`` leaves them out."""
    telemetry: dict[str, Any] | None = None
    """What live trace export sent and dropped, when an OTLP endpoint is configured."""
    paused: dict[str, Any] | None = None
    """Why a ``paused`` run stopped: ``resource``, ``needed``, ``left``, ``limit``, ``flag`` (the
    ``swarm resume`` flag to raise) and ``suggested`` (a value that covers what was needed)."""
    waiting: dict[str, Any] | None = None
    """A ``waiting`` run's waiting tasks: task id → ``attempt``, ``on`` (the tasks it waits
    for; empty: a decision) and ``reason`` (``approval`` or ``spawn``)."""

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["unpriced_models"] = list(self.unpriced_models)
        if self.telemetry is None:
            del data["telemetry"]  # as the runtime gives it: only when traces were exported
        if self.paused is None:
            del data["paused"]  # only for a paused run
        if self.waiting is None:
            del data["waiting"]  # only for a waiting run
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["unpriced_models"] = tuple(known.get("unpriced_models", ()))
        return cls(**known)


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One row of a run's event log.

    ``type`` is one of ``run.created``, ``run.started``, ``run.resumed``,
    ``run.cancel_requested``, ``run.finished`` (always the last), ``task.started``,
    ``task.succeeded``, ``task.failed``, ``task.retry``, ``task.skipped``, ``task.cancelled``,
    ``task.interrupted``, ``task.added``, ``task.expanded``, ``task.replaced``,
    ``task.waiting``, ``task.woken``, ``approval.requested``, ``approval.approved``,
    ``approval.rejected``,
    ``plan.revised``, ``plan.revision_failed``, ``provider.retrying`` (a model server keeps
    failing: ``data`` says where, why, and for how long it will keep trying),
    ``provider.rate_limited`` and ``governor.waiting`` (one per model call held back by rate
    limits: ``data`` has the step, tries, 429s, seconds waited), ``run.paused`` (a budget ran
    out: the shortfall) and ``run.limits_changed``; ``data`` carries the details of each.
    """

    id: int
    at: float
    type: str
    task_id: str | None
    attempt: int | None
    data: dict[str, Any]

    @classmethod
    def of(cls, row: EventRow) -> RunEvent:
        data = row.data if isinstance(row.data, dict) else {}
        return cls(row.id, row.at, row.type, row.task_id, row.attempt, data)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task of a run as the database holds it: its status, its result or its error."""

    task_id: str
    kind: str
    title: str | None
    status: str
    attempts: int
    deps: tuple[str, ...]
    result: str | None
    """The task's output (text, or JSON text for structured kinds); None unless it succeeded."""
    error: str | None
    steps: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def of(cls, row: TaskDetail) -> TaskResult:
        return cls(
            row.task_id,
            row.kind,
            row.title,
            row.status,
            row.attempts,
            row.deps,
            row.result,
            row.error,
            row.steps,
            row.tokens_in,
            row.tokens_out,
            row.cost_usd,
            row.started_at,
            row.finished_at,
        )


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file a task wrote; ``path`` is absolute when the run's folder is known."""

    task_id: str
    kind: str
    name: str
    """Relative to the run's folder (``<artifacts_dir>/<run_id>/``)."""
    path: Path
    size: int
    sha256: str

    @classmethod
    def of(cls, row: ArtifactRow, folder: str | None) -> Artifact:
        where = Path(folder) / row.path if folder else Path(row.path)
        return cls(row.task_id, row.kind, row.path, where, row.size, row.sha256)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run of a database, as ``swarm runs`` lists it."""

    run_id: str
    goal: str
    status: str
    created_at: float
    finished_at: float | None
    tasks: int
    counts: dict[str, int]
    tokens_in: int
    tokens_out: int
    cost_usd: float

    @classmethod
    def of(cls, row: RunRow) -> RunInfo:
        return cls(
            row.run_id,
            row.goal,
            row.status,
            row.created_at,
            row.finished_at,
            row.tasks,
            row.counts,
            row.tokens_in,
            row.tokens_out,
            row.cost_usd,
        )


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """A task waiting for a person's decision (:meth:`Swarm.approvals`), with what they need
    to decide: the prompt the plan gives the approver and each dependency's result."""

    run_id: str
    task_id: str
    title: str | None
    kind: str
    attempt: int
    requested_at: float
    prompt: str | None
    goal: str
    run_status: str
    """``running`` while a driver goes (it applies a decision within a second), else the status
    the run ended with (``waiting``: the decision takes effect at the next resume)."""
    inputs: dict[str, str | None]
    """Each dependency's id → its result (None if it has none)."""

    @classmethod
    def of(cls, row: StoredPending) -> PendingApproval:
        return cls(
            row.run_id,
            row.task_id,
            row.title,
            row.kind,
            row.attempt,
            row.requested_at,
            row.prompt,
            row.goal,
            row.run_status,
            dict(row.inputs),
        )


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """A decision made on an approval (:meth:`Swarm.approve`, :meth:`Swarm.reject`)."""

    run_id: str
    task_id: str
    attempt: int
    decision: str
    """``approved`` or ``rejected``."""
    decided_by: str | None
    decided_at: float
    note: str | None

"""Write operations sent to the store's single writer: plain data, grouped into transactions.

The runtime never writes to the database itself. It describes each state change as one of these
ops and hands it to :class:`swarm.store.writer.Writer`, which commits ops in groups (one
``BEGIN IMMEDIATE`` transaction per group) and reports each group back once it is durable. A
task's dependents are released only after its result's op has been committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarm.store.records import NewRun, NewTask


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step of an attempt: a model call or a tool call."""

    n: int
    """1-based position within the attempt."""
    kind: str
    """``model`` or ``tool``."""
    name: str
    """The model name, or the tool's name."""
    started_at: float
    """Wall-clock epoch seconds."""
    latency_s: float
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    ref: str | None = None
    """The provider's id for the call (a Replicate prediction id), if any."""
    detail: dict[str, Any] | None = None
    """Small JSON-able detail: the action, a capped observation, the error of a failed call."""


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """A file a task wrote under the run's artifact folder."""

    kind: str
    """``document``, ``sheet``, ``slides``, ``site``, ``file``, …"""
    path: str
    """Relative to the run's artifact folder, with forward slashes; never absolute or ``..``."""
    size: int
    sha256: str
    created_at: float


@dataclass(frozen=True, slots=True)
class RunCreated:
    """A new run, its pending tasks and its ``run.created`` event, written in the same
    transaction as its start and first dispatches (the caller has checked the id is free)."""

    run: NewRun
    tasks_now: tuple[NewTask, ...] | None = None
    """The task rows written with the run; None: all of ``run.tasks``. The driver writes a
    new run's first tasks here and the rest in the next transaction (:class:`TasksRecorded`),
    while those first tasks already run."""


@dataclass(frozen=True, slots=True)
class TasksRecorded:
    """Pending rows for tasks of a run's plan that have none yet: the rest of a new run's
    tasks, right after its first transaction, or those a crash left out (resume). No event:
    the tasks were part of the plan from the start."""

    run_id: str
    tasks: tuple[NewTask, ...]


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    at: float
    pid: int
    resumed: bool


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """Write-ahead: the attempt is counted in the database before its worker starts."""

    run_id: str
    task_id: str
    attempt: int
    at: float
    allowance: int


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """The outcome of one attempt. Fenced: applied only if ``attempt`` is still current.

    ``task_status`` is what the task becomes: ``succeeded``, ``failed`` (for good), ``pending``
    (a retry is scheduled at ``retry_at``) or ``cancelled``.
    """

    run_id: str
    task_id: str
    attempt: int
    started_at: float
    finished_at: float
    outcome: str
    """The attempt's own status: ``succeeded``, ``failed``, ``timeout`` or ``cancelled``."""
    task_status: str
    result: str | None = None
    error: str | None = None
    error_kind: str | None = None
    retryable: bool | None = None
    retry_at: float | None = None
    steps: tuple[StepRecord, ...] = ()
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    artifacts: tuple[ArtifactRecord, ...] = ()
    """Recorded (replacing rows with the same path) only if the fence accepts the result."""


WAIT_REASONS = frozenset({"approval", "spawn"})
"""Why a task waits: a person's decision (``approval``) or the end of tasks it started
(``spawn``: an orchestrator's sub-agents)."""


@dataclass(frozen=True, slots=True)
class TaskWaiting:
    """A running attempt ends without an outcome: the task waits (``tasks.status = 'waiting'``),
    on the tasks in ``on`` or, with ``on`` empty, for an outside decision. Fenced like a result
    (the attempt must be current and running); its attempt is recorded as ``suspended``, with
    what it spent, and the ``task.waiting`` event carries ``attempt``, ``on`` and ``reason``
    (which a resume reads to restore the wait)."""

    run_id: str
    task_id: str
    attempt: int
    started_at: float
    at: float
    on: tuple[str, ...] = ()
    reason: str = "approval"
    steps: tuple[StepRecord, ...] = ()
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def as_finished(self) -> AttemptFinished:
        """The attempt's record, written like any result's."""
        return AttemptFinished(
            run_id=self.run_id,
            task_id=self.task_id,
            attempt=self.attempt,
            started_at=self.started_at,
            finished_at=self.at,
            outcome="suspended",
            task_status="waiting",
            steps=self.steps,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            cost_usd=self.cost_usd,
        )


@dataclass(frozen=True, slots=True)
class TaskWoken:
    """A waiting task may go on (approved, or what it waited on has ended): ``pending`` again,
    its next attempt follows. Applied only while the task still waits after ``attempt``."""

    run_id: str
    task_id: str
    attempt: int
    at: float
    reason: str = "approval"
    data: dict[str, Any] | None = None
    """Extra detail for the ``task.woken`` event (who decided, a note)."""


@dataclass(frozen=True, slots=True)
class WaitFailed:
    """A waiting task fails for good (a rejected approval, a wait that could never end); its
    skipped descendants follow in a :class:`TasksSkipped`. Applied only while it waits after
    ``attempt``; the ``task.failed`` event carries the error."""

    run_id: str
    task_id: str
    attempt: int
    at: float
    error: str
    error_kind: str = "Rejected"


@dataclass(frozen=True, slots=True)
class ApprovalRequested:
    """An approval gate reached: its row in ``approvals`` (undecided), written with the task's
    wait, and an ``approval.requested`` event. A row that exists already is kept."""

    run_id: str
    task_id: str
    attempt: int
    at: float
    prompt: str | None = None
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class AddedTask:
    """A task added to a run after it started (streamed plan, fan-out expansion, replan)."""

    task_id: str
    kind: str
    deps: tuple[str, ...]
    priority: float
    title: str | None = None


@dataclass(frozen=True, slots=True)
class TasksAdded:
    """New task rows for a live run, and the run's plan as it now stands.

    Committed before any of these tasks is dispatched, so a resumed run sees every task its
    predecessor could have started.
    """

    run_id: str
    tasks: tuple[AddedTask, ...]
    at: float
    plan_json: str
    reason: str = "plan"
    """``plan`` (streamed from the planner), ``expand`` (fan-out) or ``replan``."""
    deps_changed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Tasks already in the run whose rows' dependencies this addition changes, with their
    new deps: a fan-out that now joins the tasks it added, an orchestrator that now lists
    every sub-agent it has spawned (so the stored DAG connects them)."""


@dataclass(frozen=True, slots=True)
class TasksReplaced:
    """A failed branch revised by the replanner: its tasks become ``replaced``."""

    run_id: str
    task_ids: tuple[str, ...]
    revision: int
    at: float


@dataclass(frozen=True, slots=True)
class TasksSkipped:
    run_id: str
    task_ids: tuple[str, ...]
    because_of: str
    at: float


@dataclass(frozen=True, slots=True)
class RunFinished:
    run_id: str
    status: str
    """``succeeded``, ``failed`` or ``cancelled``."""
    at: float
    summary: dict[str, Any] = field(default_factory=dict)
    cancelled_tasks: tuple[str, ...] = ()
    """Tasks that were running when the run was cancelled: marked ``cancelled``."""


@dataclass(frozen=True, slots=True)
class CallCreated:
    """A remote prediction was created for step ``step`` of an attempt (write-ahead)."""

    run_id: str
    task_id: str
    attempt: int
    step: int
    provider: str
    ref: str
    at: float


@dataclass(frozen=True, slots=True)
class CallFinished:
    """How a recorded remote prediction ended (``succeeded``, ``failed``, ``canceled``)."""

    run_id: str
    ref: str
    status: str
    at: float


@dataclass(frozen=True, slots=True)
class Event:
    """A free-form event for the log (rate-limit waits, budget refusals, notes)."""

    run_id: str
    type: str
    at: float
    task_id: str | None = None
    attempt: int | None = None
    data: dict[str, Any] | None = None


Op = (
    RunCreated
    | RunStarted
    | TasksAdded
    | AttemptStarted
    | AttemptFinished
    | TasksSkipped
    | TasksReplaced
    | RunFinished
    | CallCreated
    | CallFinished
    | Event
    | TasksRecorded
    | TaskWaiting
    | TaskWoken
    | WaitFailed
    | ApprovalRequested
)

"""What a trace is built from: a run's recorded facts, as plain data filled from either side.

:mod:`swarm.telemetry.load` fills a :class:`RunLog` from the database; :mod:`swarm.telemetry.live`
fills one from the store ops a live run commits. Both feed the same span builder
(:mod:`swarm.telemetry.trace_model`), so a trace exported live and one rebuilt later agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from swarm.plan import DEFAULT_MODEL

JsonMap = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StepFact:
    """One model call or tool call of an attempt (a ``steps`` row)."""

    n: int
    kind: str
    """``model`` or ``tool``."""
    name: str
    started_at: float
    latency_s: float
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    ref: str | None = None
    detail: JsonMap | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A logged event that becomes a span event (a retry, a resume, a skipped task…)."""

    at: float
    type: str
    task_id: str | None = None
    attempt: int | None = None
    data: JsonMap | None = None


@dataclass(frozen=True, slots=True)
class AttemptFact:
    """One finished attempt of a task (an ``attempts`` row and its steps)."""

    task_id: str
    attempt: int
    status: str
    """``succeeded``, ``failed``, ``timeout``, ``cancelled`` or ``interrupted``."""
    started_at: float
    finished_at: float
    error: str | None = None
    error_kind: str | None = None
    retryable: bool | None = None
    retry_at: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    steps: tuple[StepFact, ...] = ()
    result: str | None = None


@dataclass(slots=True)
class TaskFact:
    """A task of the run as the plan describes it, and its latest attempt number."""

    task_id: str
    kind: str
    title: str | None
    deps: tuple[str, ...]
    attempt: int = 0
    model: str | None = None
    reasoning_effort: str | None = None
    prompt: str | None = None


@dataclass(slots=True)
class RunLog:
    """Everything about one run that its trace shows."""

    run_id: str
    created_at: float
    provider: str = "sim"
    simulated: bool = True
    status: str = "created"
    started_at: float | None = None
    finished_at: float | None = None
    planned_at: float | None = None
    """When the planning ended: the last task the planner streamed in (or the creation)."""
    planned_tasks: int = 0
    tasks: dict[str, TaskFact] = field(default_factory=dict)
    attempts: dict[tuple[str, int], AttemptFact] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    def apply_plan(self, plan_json: str) -> None:
        """Take each task's model, reasoning effort and prompt from the run's plan as stored.

        Plain JSON rather than the pydantic model: a streamed plan is stored again with every
        line the planner sends, and this runs on the event loop each time."""
        try:
            data = json.loads(plan_json)
            defaults = data.get("defaults") or {}
            model = defaults.get("model") or DEFAULT_MODEL
            effort = (defaults.get("params") or {}).get("reasoning_effort")
            specs = [s for s in data.get("tasks") or [] if isinstance(s, dict)]
        except (ValueError, AttributeError):
            return  # a plan this version cannot read: the spans just lack these attributes
        for spec in specs:
            task = self.tasks.get(str(spec.get("id")))
            if task is None:
                continue
            params = spec.get("params") or {}
            task.model = spec.get("model") or model
            task.reasoning_effort = params.get("reasoning_effort") or effort
            task.prompt = spec.get("prompt") or None

    def add_task(self, task_id: str, kind: str, deps: tuple[str, ...], title: str | None) -> None:
        if task_id not in self.tasks:
            self.tasks[task_id] = TaskFact(task_id, kind, title, tuple(deps))


def loads(text: str | None) -> JsonMap | None:
    """A JSON object column, or None (anything else stored there is ignored)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


RATE_NOTES = frozenset({"provider.rate_limited", "governor.waiting"})
"""A model call's waits on rate limits (one event per call): events of that call's span."""
QUIET_NOTES = frozenset(
    {
        "run.created",
        "run.cancel_requested",
        "task.added",
        "task.started",
        "task.succeeded",
        "task.failed",
        "task.retry",
        "task.cancelled",
        "task.expanded",
        "task.interrupted",
        "task.paused",
        "task.waiting",
        "task.woken",
        "approval.requested",
        "approval.approved",
        "approval.rejected",
    }
)
"""Logged events a trace shows otherwise (as spans and their status) or not at all: a cancel
request is written by another process, so a live exporter never sees it; nor an approval
decided elsewhere (a wait is its attempt's span, ``swarm.attempt.outcome = suspended``, and the
gate's moments are run-span events made by :func:`approval_note`); an
attempt stopped by a budget is the attempt span's outcome ``paused``, and why is the run span's
``run.paused``."""


def approval_note(
    at: float, event_type: str, task_id: str | None, attempt: int | None, data: JsonMap | None
) -> Note | None:
    """An approval gate's moment as an event of the run's span, from what the driver writes
    (so the live trace and the rebuilt one agree): reached (``approval.requested``), approved
    (the wake of a task that waited for an approval) or rejected (its wait failed). The
    decision's own event is written by whichever process decided, which a live exporter never
    sees, so it is not the source. The approver's note and the prompt are not recorded."""
    data = data or {}
    shown: JsonMap = {"attempt": attempt}
    if event_type == "approval.requested":
        if data.get("timeout_s") is not None:
            shown["timeout_s"] = data["timeout_s"]
        return Note(at, "approval.requested", task_id, None, shown)
    if event_type == "task.woken" and data.get("reason") == "approval":
        if isinstance(data.get("by"), str):
            shown["by"] = data["by"]
        return Note(at, f"approval.{data.get('decision') or 'approved'}", task_id, None, shown)
    if event_type == "task.failed" and data.get("outcome") == "rejected":
        return Note(at, "approval.rejected", task_id, None, shown)
    return None


def is_note(event_type: str) -> bool:
    """Whether a logged event of this type becomes a span event."""
    return event_type not in QUIET_NOTES

"""Turning a group of write ops into a few many-row statements, keeping each row's order intact.

This is the pure half of the writer (no I/O): it sorts ops into *segments*, and inside a segment
into one parameter list per SQL statement, so that the writer runs each statement once with
``executemany`` instead of once per op. Statements run in a fixed order within a segment
(run starts, attempt starts, attempt results, skips, run ends); an op that would have to run
*before* an earlier op on the same row under that order starts a new segment instead, so the
database sees every row's changes in submission order. Events are kept in submission order for
the whole batch.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any

from swarm.store import statements
from swarm.store.ops import (
    ApprovalRequested,
    AttemptFinished,
    AttemptStarted,
    CallCreated,
    CallFinished,
    Event,
    Op,
    RunCreated,
    RunFinished,
    RunStarted,
    TasksAdded,
    TasksRecorded,
    TasksReplaced,
    TasksSkipped,
    TaskWaiting,
    TaskWoken,
    WaitFailed,
)
from swarm.store.records import NewRun, NewTask
from swarm.store.schema import ATTEMPT_STATUSES

Row = tuple[Any, ...]

FIRST_EPOCH = 1
"""``owner_epoch`` of a run written by its driver (``RunCreated``: the insert is the take); a
run only recorded (``Store.create_run``) has 0 (whoever drives it takes it first)."""
HOST = socket.gethostname()
"""This machine, written as the owner's host with its pid (drivers write from their own)."""


def __getattr__(name: str) -> str:
    """SQLite's statements (``INSERT_RUN_SQL`` …), generated from ``schema.py`` at first use
    (:mod:`swarm.store.statements`) and then module attributes like any other."""
    if not name.endswith("_SQL"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    statement: str = getattr(statements.for_dialect("sqlite"), name)
    globals()[name] = statement
    return statement


FINISH_EVENTS = {
    "succeeded": "task.succeeded",
    "failed": "task.failed",
    "pending": "task.retry",
    "cancelled": "task.cancelled",
}
"""The event written for each status an attempt's result can give its task."""
RUN_END_STATUSES = frozenset({"succeeded", "failed", "cancelled", "paused", "waiting"})
"""``waiting``: only outside decisions (approvals) can move the run on; it is resumable."""

_RUN_STARTED, _TASKS_ADDED, _ATTEMPT_STARTED, _ATTEMPT_FINISHED, _SKIPPED, _RUN_FINISHED = range(6)
_RUN_CREATED = -1
_NO_FENCE = -1
_OP_TYPES = (
    RunCreated,
    RunStarted,
    TasksAdded,
    AttemptStarted,
    AttemptFinished,
    TasksSkipped,
    TasksReplaced,
    RunFinished,
    CallCreated,
    CallFinished,
    Event,
    TasksRecorded,
    TaskWaiting,
    TaskWoken,
    WaitFailed,
    ApprovalRequested,
)


@dataclass(slots=True)
class Segment:
    """Parameter rows per statement; safe to run statement by statement, in field order."""

    created: list[Row] = field(default_factory=list)
    run_started: list[Row] = field(default_factory=list)
    tasks_added: list[Row] = field(default_factory=list)
    plans: list[Row] = field(default_factory=list)
    deps: list[Row] = field(default_factory=list)
    attempt_started: list[Row] = field(default_factory=list)
    finished: list[tuple[int, AttemptFinished]] = field(default_factory=list)
    """Fenced results with their index in the batch, in submission order."""
    woken: list[Row] = field(default_factory=list)
    wait_failed: list[Row] = field(default_factory=list)
    approvals: list[Row] = field(default_factory=list)
    skipped: list[Row] = field(default_factory=list)
    run_finished: list[tuple[int, Row]] = field(default_factory=list)
    """Run ends with their index in the batch: refused with a result of the same run that the
    fence refused (another process took the run over; its end is the new owner's to write)."""
    cancelled: list[Row] = field(default_factory=list)
    calls: list[Row] = field(default_factory=list)
    calls_finished: list[Row] = field(default_factory=list)
    replaced: list[Row] = field(default_factory=list)


@dataclass(slots=True)
class Plan:
    segments: list[Segment]
    events: list[tuple[int, Row]]
    """Event rows in submission order, each with the batch index of its fenced op (or -1)."""

    def rows(self) -> int:
        """About how many rows the plan writes (a result: its task, attempt, step and event),
        as a measure of what its transaction costs."""
        n = len(self.events)
        for s in self.segments:
            n += len(s.created) + len(s.run_started) + len(s.tasks_added) + len(s.plans)
            n += len(s.deps)
            n += len(s.attempt_started) + 3 * len(s.finished) + len(s.skipped)
            n += len(s.run_finished) + len(s.cancelled) + len(s.calls) + len(s.calls_finished)
            n += len(s.replaced) + len(s.woken) + len(s.wait_failed) + len(s.approvals)
        return n


def check_op(op: Op) -> None:
    """Refuse an op the store would not understand (a bug in the caller), before it is queued."""
    if not isinstance(op, _OP_TYPES):
        raise TypeError(f"not a store op: {op!r}")
    if isinstance(op, AttemptFinished):
        if op.task_status not in FINISH_EVENTS:
            raise ValueError(
                f"AttemptFinished.task_status {op.task_status!r} is not one of "
                f"{sorted(FINISH_EVENTS)}"
            )
        if op.outcome not in ATTEMPT_STATUSES:
            raise ValueError(
                f"AttemptFinished.outcome {op.outcome!r} is not one of {sorted(ATTEMPT_STATUSES)}"
            )
    elif isinstance(op, RunFinished) and op.status not in RUN_END_STATUSES:
        raise ValueError(
            f"RunFinished.status {op.status!r} is not one of {sorted(RUN_END_STATUSES)}"
        )


def plan_batch(ops: list[Op]) -> Plan:
    """Group ``ops`` (in submission order) into segments and event rows."""
    segments = [Segment()]
    events: list[tuple[int, Row]] = []
    reached: dict[tuple[str, ...], int] = {}  # row key -> latest stage used in this segment
    for index, op in enumerate(ops):
        if isinstance(op, Event):
            events.append(
                (_NO_FENCE, (op.run_id, op.at, op.type, op.task_id, op.attempt, _dumps(op.data)))
            )
            continue
        stage, keys = _stage_and_keys(op)
        if any(reached.get(key, stage) > stage for key in keys):
            segments.append(Segment())
            reached.clear()
        for key in keys:
            reached[key] = stage
        _add(segments[-1], events, index, op)
    return Plan(segments=[s for s in segments if _has_rows(s)], events=events)


def created_rows(
    run: NewRun, tasks_now: Sequence[NewTask] | None = None, *, epoch: int = FIRST_EPOCH
) -> tuple[Row, list[Row], Row]:
    """A new run's rows: the run (``INSERT_RUN_SQL``, owned at ``epoch``), its pending tasks
    (``INSERT_TASK_SQL``; only ``tasks_now`` if given) and its ``run.created`` event."""
    config = json.dumps(run.config)
    run_row = (run.run_id, run.goal, run.plan_json, config, run.created_at, epoch)
    rows = task_rows(run.run_id, run.tasks if tasks_now is None else tasks_now)
    size = f'{{"tasks": {len(run.tasks)}}}'
    return run_row, rows, (run.run_id, run.created_at, "run.created", None, None, size)


def task_rows(run_id: str, tasks: Sequence[NewTask]) -> list[Row]:
    """Pending task rows (``INSERT_TASK_SQL``)."""
    return [(run_id, t.task_id, t.kind, t.title, deps_json(t.deps), t.priority) for t in tasks]


_PLAIN_IDS = re.compile(r"[A-Za-z0-9_.:-]*")
"""Characters a task id may have (``swarm.plan.TASK_ID_PATTERN``): none needs JSON escaping."""


def deps_json(deps: Sequence[str]) -> str:
    """``json.dumps(list(deps))``, by a join when the ids need no escaping (about 10× faster;
    a run's first transaction writes one per task)."""
    if not deps:
        return "[]"
    if _PLAIN_IDS.fullmatch("".join(deps)):
        return '["' + '", "'.join(deps) + '"]'
    return json.dumps(list(deps))


_ATTEMPT_VALUES: dict[str, Callable[[AttemptFinished], object]] = {
    "status": lambda op: op.outcome,
    "retryable": lambda op: None if op.retryable is None else int(op.retryable),
    "steps_used": lambda op: len(op.steps),
}
"""The columns of ``attempts`` whose value is not the op's field of the same name."""


@cache
def _attempt_values() -> tuple[Callable[[AttemptFinished], object], ...]:
    """One getter per column of ``schema.attempts`` (:func:`statements.attempt_columns`): a
    column added there is written from the op's field of that name, on both backends."""
    fields = {f.name for f in dataclasses.fields(AttemptFinished)}
    getters = []
    for name in statements.attempt_columns():
        if name not in _ATTEMPT_VALUES and name not in fields:
            raise AssertionError(
                f"attempts.{name} has no value: give AttemptFinished a field {name!r}, or "
                "name its value in swarm.store.batch._ATTEMPT_VALUES"
            )
        getters.append(_ATTEMPT_VALUES.get(name) or attrgetter(name))
    return tuple(getters)


def attempt_row(op: AttemptFinished) -> Row:
    """The op's ``attempts`` row (``INSERT_ATTEMPT_SQL``), column by column of the table."""
    return tuple([value(op) for value in _attempt_values()])


def artifact_rows(op: AttemptFinished) -> list[Row]:
    return [
        (op.run_id, op.task_id, a.kind, a.path, a.size, a.sha256, a.created_at)
        for a in op.artifacts
    ]


def step_rows(op: AttemptFinished) -> list[Row]:
    return [
        (
            op.run_id,
            op.task_id,
            op.attempt,
            s.n,
            s.kind,
            s.name,
            s.started_at,
            s.latency_s,
            s.tokens_in,
            s.tokens_out,
            s.cost_usd,
            s.ref,
            _dumps(s.detail),
        )
        for s in op.steps
    ]


def finish_row(op: AttemptFinished) -> Row:
    return (
        op.task_status,
        op.result,
        op.error,
        op.error_kind,
        op.finished_at,
        op.retry_at,
        len(op.steps),
        op.tokens_in,
        op.tokens_out,
        op.cost_usd,
        op.run_id,
        op.task_id,
        op.attempt,
    )


def _stage_and_keys(op: Op) -> tuple[int, list[tuple[str, ...]]]:
    if isinstance(op, AttemptStarted):
        return _ATTEMPT_STARTED, [(op.run_id, op.task_id)]
    if isinstance(op, AttemptFinished | TaskWaiting):
        return _ATTEMPT_FINISHED, [(op.run_id, op.task_id)]
    if isinstance(op, TaskWoken | WaitFailed | ApprovalRequested):
        return _SKIPPED, [(op.run_id, op.task_id)]
    if isinstance(op, CallCreated):
        return _ATTEMPT_STARTED, [("call", op.run_id, op.ref)]
    if isinstance(op, CallFinished):
        return _ATTEMPT_FINISHED, [("call", op.run_id, op.ref)]
    if isinstance(op, RunStarted):
        return _RUN_STARTED, [(op.run_id,)]
    if isinstance(op, RunCreated):
        return _RUN_CREATED, [(op.run.run_id,)]
    if isinstance(op, TasksAdded):
        changed = ((op.run_id, task_id) for task_id, _ in op.deps_changed)
        return _TASKS_ADDED, [(op.run_id,), *((op.run_id, t.task_id) for t in op.tasks), *changed]
    if isinstance(op, TasksRecorded):
        return _TASKS_ADDED, [(op.run_id, t.task_id) for t in op.tasks]
    if isinstance(op, TasksSkipped):
        return _SKIPPED, [(op.run_id, t) for t in op.task_ids]
    if isinstance(op, TasksReplaced):
        return _RUN_FINISHED, [(op.run_id, t) for t in op.task_ids]
    if isinstance(op, RunFinished):
        return _RUN_FINISHED, [(op.run_id,), *((op.run_id, t) for t in op.cancelled_tasks)]
    raise TypeError(f"not a store op: {op!r}")


def _add(seg: Segment, events: list[tuple[int, Row]], index: int, op: Op) -> None:
    if isinstance(op, AttemptStarted):
        seg.attempt_started.append((op.attempt, op.allowance, op.at, op.run_id, op.task_id))
        events.append(
            (
                _NO_FENCE,
                (
                    op.run_id,
                    op.at,
                    "task.started",
                    op.task_id,
                    op.attempt,
                    f'{{"allowance": {int(op.allowance)}}}',
                ),
            )
        )
    elif isinstance(op, AttemptFinished):
        seg.finished.append((index, op))
        events.append(
            (
                index,
                (
                    op.run_id,
                    op.finished_at,
                    _finish_event(op),
                    op.task_id,
                    op.attempt,
                    _finish_data(op),
                ),
            )
        )
    elif isinstance(op, TaskWaiting | TaskWoken | WaitFailed):
        _add_wait(seg, events, index, op)
    elif isinstance(op, ApprovalRequested):
        seg.approvals.append((op.run_id, op.task_id, op.attempt, op.at, op.prompt))
        data = _dumps({"prompt": op.prompt, "timeout_s": op.timeout_s})
        events.append(
            (_NO_FENCE, (op.run_id, op.at, "approval.requested", op.task_id, op.attempt, data))
        )
    elif isinstance(op, RunCreated):
        run_row, rows, event_row = created_rows(op.run, op.tasks_now)
        seg.created.append(run_row)
        seg.tasks_added.extend(rows)
        events.append((_NO_FENCE, event_row))
    elif isinstance(op, RunStarted):
        seg.run_started.append((op.at, op.at, op.pid, HOST, op.run_id))
        kind = "run.resumed" if op.resumed else "run.started"
        events.append(
            (_NO_FENCE, (op.run_id, op.at, kind, None, None, f'{{"pid": {int(op.pid)}}}'))
        )
    elif isinstance(op, CallCreated):
        seg.calls.append((op.run_id, op.task_id, op.attempt, op.step, op.provider, op.ref, op.at))
    elif isinstance(op, CallFinished):
        seg.calls_finished.append((op.status, op.at, op.run_id, op.ref))
    elif isinstance(op, TasksRecorded):
        seg.tasks_added.extend(task_rows(op.run_id, op.tasks))
    elif isinstance(op, TasksAdded):
        data = _dumps({"reason": op.reason})
        for t in op.tasks:
            seg.tasks_added.append(
                (op.run_id, t.task_id, t.kind, t.title, deps_json(t.deps), t.priority)
            )
            events.append((_NO_FENCE, (op.run_id, op.at, "task.added", t.task_id, None, data)))
        seg.plans.append((op.plan_json, op.run_id))
        seg.deps.extend((deps_json(deps), op.run_id, task_id) for task_id, deps in op.deps_changed)
    elif isinstance(op, TasksReplaced):
        data = _dumps({"revision": op.revision})
        for task_id in op.task_ids:
            seg.replaced.append((op.run_id, task_id))
            events.append((_NO_FENCE, (op.run_id, op.at, "task.replaced", task_id, None, data)))
    elif isinstance(op, TasksSkipped):
        error = f"dependency {op.because_of} failed"
        data = _dumps({"because_of": op.because_of})
        for task_id in op.task_ids:
            seg.skipped.append((error, op.at, op.run_id, task_id))
            events.append((_NO_FENCE, (op.run_id, op.at, "task.skipped", task_id, None, data)))
    elif isinstance(op, RunFinished):
        seg.run_finished.append((index, (op.status, op.at, _dumps(op.summary), op.run_id)))
        seg.cancelled.extend((op.at, op.run_id, t) for t in op.cancelled_tasks)
        data = _dumps({"status": op.status, "cancelled_tasks": len(op.cancelled_tasks)})
        events.append((index, (op.run_id, op.at, "run.finished", None, None, data)))


def _add_wait(
    seg: Segment,
    events: list[tuple[int, Row]],
    index: int,
    op: TaskWaiting | TaskWoken | WaitFailed,
) -> None:
    """A task's wait: begun (fenced like a result), ended by a wake, or ended by a failure."""
    if isinstance(op, TaskWaiting):
        seg.finished.append((index, op.as_finished()))
        data = _dumps({"attempt": op.attempt, "on": list(op.on), "reason": op.reason})
        events.append((index, (op.run_id, op.at, "task.waiting", op.task_id, op.attempt, data)))
    elif isinstance(op, TaskWoken):
        seg.woken.append((op.run_id, op.task_id, op.attempt))
        data = _dumps({"reason": op.reason, **(op.data or {})})
        events.append((_NO_FENCE, (op.run_id, op.at, "task.woken", op.task_id, op.attempt, data)))
    else:
        seg.wait_failed.append((op.error, op.error_kind, op.at, op.run_id, op.task_id, op.attempt))
        data = _dumps({"outcome": "rejected", "error": op.error, "error_kind": op.error_kind})
        events.append((_NO_FENCE, (op.run_id, op.at, "task.failed", op.task_id, op.attempt, data)))


def _finish_event(op: AttemptFinished) -> str:
    if op.task_status == "pending" and op.outcome == "succeeded":
        return "task.expanded"  # a fan-out added its tasks and now waits for them
    if op.outcome == "paused":
        return "task.paused"  # a budget ran out: pending again, the run pauses
    return FINISH_EVENTS[op.task_status]


def _finish_data(op: AttemptFinished) -> str:
    if op.error is None and op.retry_at is None and op.retryable is None:
        return f'{{"outcome": "{op.outcome}"}}'  # outcome is one of ATTEMPT_STATUSES
    data: dict[str, Any] = {
        "outcome": op.outcome,
        "error": op.error,
        "error_kind": op.error_kind,
        "retryable": op.retryable,
    }
    if op.retry_at is not None:
        data["retry_at"] = op.retry_at
    return json.dumps(data, default=str)


def _dumps(value: object) -> str | None:
    """JSON for a detail/data column; odd values are stored as text rather than failing a batch."""
    return None if value is None else json.dumps(value, default=str)


def _has_rows(seg: Segment) -> bool:
    return bool(
        seg.created
        or seg.run_started
        or seg.tasks_added
        or seg.plans
        or seg.deps
        or seg.attempt_started
        or seg.finished
        or seg.skipped
        or seg.run_finished
        or seg.cancelled
        or seg.calls
        or seg.calls_finished
        or seg.replaced
        or seg.woken
        or seg.wait_failed
        or seg.approvals
    )

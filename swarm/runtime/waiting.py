"""Tasks that wait: the driver's side of the core's suspension. Mixed into
:class:`~swarm.runtime.driver.RunDriver`.

A task waits in two ways, both recorded (``TaskWaiting``) and both holding no worker slot:

- *at dispatch*, before its worker runs (an approval gate: :attr:`RunWaiting.wait_gate` says so);
  the core suspends it at once and its ``AttemptStarted`` and ``TaskWaiting`` commit together,
  so no worker ever starts that attempt;
- *after an attempt* whose worker asked for it (``TaskContext.wait_on``: an orchestrator that
  waits for its sub-agents); the core suspends it once the record is committed (the tasks it
  waits on may be added in the same transaction).

The core wakes a task by itself (what it waited on has ended) or by a decision
(:meth:`RunWaiting.wake`, :meth:`RunWaiting.fail_waiting`); the driver notices every wake at
the top of its pump and records it (``TaskWoken``) ahead of the woken task's next attempt.
A run where only decisions can move on is stalled: it ends ``waiting`` (resumable) unless
:attr:`RunWaiting.keep_waiting` holds it open for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from swarm.core.machine import AttemptSuspended, Command, Decided, WaitRefused
from swarm.core.scheduler import Dispatch, Failed, Scheduler, Status
from swarm.store.ops import TaskWaiting, TaskWoken, WaitFailed
from swarm.store.records import Wait
from swarm.store.writer import Writer

if TYPE_CHECKING:
    from swarm.core.clock import Clock
    from swarm.runtime.driver import RunState

Gate = Callable[[str, int], str | None]
"""(task id, attempt about to start) → why it must wait first (``approval``), or None."""


class RunWaiting:
    """The part of the driver that suspends tasks, notices their wakes and records both."""

    run_id: str
    core: Scheduler
    writer: Writer
    clock: Clock
    state: RunState
    _pump: Callable[[], None]
    _decide: Callable[..., list[Command]]
    _carry_out: Callable[[list[Command]], None]
    _step: Callable[..., None]
    _waits: dict[str, Wait]
    """Tasks waiting (as this driver recorded or restored them): attempt, on, reason."""
    _suspending: dict[str, TaskWaiting]
    """Waits after an attempt, submitted and not yet committed (the core suspends at commit)."""
    _wake_data: dict[str, dict[str, Any]]
    """Detail for the next ``task.woken`` of a task (who approved it)."""
    wait_gate: Gate | None
    keep_waiting: bool

    # -- beginning a wait -------------------------------------------------------------------

    def _gated(self, d: Dispatch) -> bool:
        """Record the wait of a dispatch the gate holds, before any worker runs it (True if it
        does: the caller hands the core its suspension)."""
        reason = self.wait_gate(d.task_id, d.attempt) if self.wait_gate is not None else None
        if reason is None:
            return False
        now = time.time()
        self._waits[d.task_id] = Wait(d.attempt, (), reason)
        self.writer.submit(TaskWaiting(self.run_id, d.task_id, d.attempt, now, now, (), reason))
        return True

    def _suspend_after(
        self, d: Dispatch, common: dict[str, Any], on: tuple[str, ...], reason: str
    ) -> None:
        """A worker asked its attempt to end waiting on ``on``: record it; the core suspends it
        when the record is committed (see :meth:`_wait_committed`)."""
        fields = {k: v for k, v in common.items() if k != "finished_at"}
        op = TaskWaiting(**fields, at=common["finished_at"], on=on, reason=reason)
        self.state.count(op.as_finished())
        self._suspending[d.task_id] = op
        self.writer.submit(op)

    def _wait_committed(self, op: TaskWaiting) -> None:
        """A wait after an attempt is durable: suspend the task in the core. A wait that could
        never end (on itself, on a descendant, in a loop) fails the task instead."""
        if self._suspending.get(op.task_id) is not op:
            return  # suspended at dispatch already
        del self._suspending[op.task_id]
        if self.core.status(op.task_id) is not Status.RUNNING:
            return  # cancelled meanwhile
        commands = self._decide(AttemptSuspended(op.task_id, op.attempt, len(op.steps), op.on))
        if not any(isinstance(c, WaitRefused) for c in commands):
            # Known before the woken task's next start is recorded (see _note_wakes).
            self._waits[op.task_id] = Wait(op.attempt, op.on, op.reason)
        self._carry_out(commands)

    # -- ending a wait ----------------------------------------------------------------------

    def wake(self, task_id: str, data: dict[str, Any] | None = None) -> None:
        """A decision lets a waiting task go on (``data``: who and why, for its event)."""
        if data:
            self._wake_data[task_id] = data
        self._step(Decided(task_id, approved=True))

    def fail_waiting(self, task_id: str, error: str, kind: str = "Rejected") -> None:
        """A decision fails a waiting task for good; its branch is skipped (or revised)."""
        self._waits.pop(task_id, None)
        self.state.errors[task_id] = error
        commands = self._decide(Decided(task_id, approved=False))
        failed = next(c for c in commands if isinstance(c, Failed) and c.task_id == task_id)
        self._record_failed_wait(failed, error, kind)
        self._carry_out(commands)  # its branch skipped (or revised)

    def _record_failed_wait(self, failed: Failed, error: str, kind: str) -> None:
        """Record a wait that ended in failure (the skips of its branch follow it)."""
        self.writer.submit(
            WaitFailed(self.run_id, failed.task_id, failed.attempt, time.time(), error, kind)
        )

    def _note_wakes(self) -> None:
        """Record every wait the core has ended since the last pump, ahead of the next
        attempts (the pump calls this before it dispatches)."""
        if not self._waits:
            return
        for task_id, wait in list(self._waits.items()):
            if self.core.status(task_id) is Status.WAITING:
                continue
            del self._waits[task_id]
            data = self._wake_data.pop(task_id, None)
            self.writer.submit(
                TaskWoken(self.run_id, task_id, wait.attempt, time.time(), wait.reason, data)
            )

    def waits(self) -> dict[str, Wait]:
        """The tasks waiting now, and on what."""
        return dict(self._waits)

    def stop_keeping_open(self) -> None:
        """Let the run end ``waiting`` once only decisions can move it on."""
        self.keep_waiting = False
        self._pump()

    def _ends_waiting(self) -> bool:
        """Only decisions can move the run on and nobody keeps it open for them: it ends
        ``waiting`` (resumable)."""
        return self.core.stalled() and not self.keep_waiting and not self._suspending

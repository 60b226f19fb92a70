"""Running attempts: the driver's pool of long-lived worker coroutines, one attempt from its
context to its recorded outcome, and the accounting of results. Mixed into
:class:`~swarm.runtime.driver.RunDriver`.

A committed ``AttemptStarted`` is handed to an idle pool worker (the pool is filled ahead of
need while the first tasks run, up to the concurrency limit, and shrinks again in the run's
tail when fewer attempts remain than workers idle). Each worker's one cancel scope carries its
running attempt's deadline, so a timeout costs a new scope only when it fires. A success is
handed to the writer and releases the task's dependents at once; their starts queue behind it
in the writer.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from swarm.core.budget import Budget
from swarm.core.clock import Clock
from swarm.core.machine import (
    AttemptCancelled,
    AttemptFailed,
    AttemptPaused,
    AttemptSucceeded,
    BudgetShort,
    Command,
    Halt,
)
from swarm.core.machine import Event as CoreEvent
from swarm.core.scheduler import TERMINAL, Dispatch, Failed, Retry, Scheduler, Status
from swarm.errors import BudgetExhausted, TaskError, TaskTimeout, WorkerCrashed
from swarm.plan import Plan, TaskSpec
from swarm.providers.base import CallJournal, Provider
from swarm.providers.pricing import Price, price_for
from swarm.runtime.budget_gate import BudgetGate, deadline_held
from swarm.runtime.executor import Executor
from swarm.store.ops import AttemptFinished, AttemptStarted, TasksSkipped
from swarm.store.writer import Writer
from swarm.untrusted import clean_text
from workers.base import TaskContext, Worker

if TYPE_CHECKING:
    from swarm.mcp import RunTools
    from swarm.runtime.driver import RunState


@dataclass
class Slot:
    """A pool worker's state: the attempt it is handed or running, and its cancel scope."""

    wake: anyio.Event = field(default_factory=anyio.Event)
    dispatch: Dispatch | None = None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    running: tuple[Dispatch, TaskContext, float, float] | None = None
    """The attempt in progress: dispatch, context, start time, timeout."""


class RunAttempts:
    """The part of the driver that runs attempts and records their outcomes."""

    run_id: str
    plan: Plan
    specs: dict[str, TaskSpec]
    core: Scheduler
    writer: Writer
    provider: Provider
    workers: Mapping[str, Worker]
    executor: Executor
    """Where the work of an attempt runs (in this process, or on a cluster)."""
    budget: Budget
    gate: BudgetGate
    prices: dict[str, Price]
    state: RunState
    run_dir: Path
    journal: CallJournal | None
    tool_hub: RunTools | None
    clock: Clock
    cancelled: bool
    _stopping: bool
    _tg: TaskGroup | None
    _queue: deque[Dispatch]
    _idle: list[Slot]
    _awaiting: int
    _early: set[tuple[str, int]]
    """Attempts handed to a worker before their start was committed (:meth:`_may_start_early`)."""
    _durable: set[str]
    """Tasks whose success is committed."""
    _committed_once: bool
    _workers: int
    _cancelled_attempts: list[tuple[str, int]]
    _pump: Callable[[], None]
    _decide: Callable[..., list[Command]]
    _carry_out: Callable[[list[Command]], None]
    _step: Callable[..., None]
    _expand: Callable[[Dispatch, TaskContext, dict[str, Any]], TaskError | None]
    _suspend_after: Callable[[Dispatch, dict[str, Any], tuple[str, ...], str], None]
    add_tasks: Callable[..., None]
    spawned_by: Callable[[str], list[str]]
    cancel: Callable[..., None]
    fatal: TaskError | None
    """An error that ended the run at once (``ProviderError.ends_run``), raised by the run."""

    def _submit_result(self, op: AttemptFinished) -> None:
        self.state.count(op)
        self.writer.submit(op)

    def _is_current(self, task_id: str, attempt: int) -> bool:
        return self.core.status(task_id) is Status.RUNNING and self.core.attempt(task_id) == attempt

    def _start_worker(self, op: AttemptStarted) -> None:
        """Hand a committed attempt to an idle pool worker, adding a worker if none is idle."""
        if self._early and (op.task_id, op.attempt) in self._early:
            self._early.discard((op.task_id, op.attempt))
            return  # its worker took it at dispatch (see _start_early)
        self._awaiting -= 1
        if not self._is_current(op.task_id, op.attempt):
            return  # suspended at dispatch: the attempt waits, no worker runs it
        if self._stopping or self._tg is None or self.cancelled:
            self._record_cancelled(op.task_id, op.attempt, time.time(), ())
            return
        self._hand_out(Dispatch(op.task_id, op.attempt, op.allowance))

    def _may_start_early(self, d: Dispatch) -> bool:
        """Whether a dispatch's worker may start before its ``AttemptStarted`` is committed.

        Write-ahead asks that a task's DEPENDENTS wait for its result's commit, not every task
        after it: a slot freed by a result whose transaction is still open may go at once to
        an independent task, one whose dependencies' results are all durable already. Only a
        first attempt (a retry, a woken waiter or a fan-out's join reads what earlier attempts
        left), and only once the run's first transaction is in (its rows exist). A crash before
        the start's commit loses that attempt with its calls' journal, which is queued after it:
        the task is still pending, and runs again on resume."""
        if d.attempt != 1 or not self._committed_once or self._stopping or self.cancelled:
            return False
        durable = self._durable
        return all(dep in durable for dep in self.core.info(d.task_id).deps)

    def _start_early(self, d: Dispatch) -> None:
        """Hand a dispatch to a worker before its start is committed (see _may_start_early).

        Usually the worker whose attempt just ended takes it: it is not idle yet (this runs
        inside its result's handling) but takes the queue's head when it comes back, so no
        worker is added past the concurrency limit."""
        self._early.add((d.task_id, d.attempt))
        self._awaiting -= 1
        if self._idle or self._workers < self.core.limits.concurrency:
            self._hand_out(d)
        else:
            self._queue.append(d)

    def _hand_out(self, d: Dispatch) -> None:
        if self._idle:
            slot = self._idle.pop()
            slot.dispatch = d
            slot.wake.set()
        else:
            # Every worker is running an attempt (or, just started, about to take one from the
            # queue): one more worker for this one.
            self._queue.append(d)
            self._spawn_worker()

    def _spawn_worker(self) -> None:
        assert self._tg is not None
        self._workers += 1
        self._tg.start_soon(self._pool_worker)

    async def _fill_pool(self) -> None:
        """Start idle workers ahead of need, one per turn of the event loop, once the first
        attempts are handed out (the driver starts this after its first commit).

        Handing an attempt to an idle worker costs an event; starting a worker for it on the
        spot costs a new task, about 20 µs, so 6 ms before the last of a wave of 300 starts.
        While the first tasks run the loop is mostly idle, so the pool is filled then, up to
        the concurrency limit and no further than the attempts still to come.
        """
        while (
            self._workers < self.core.limits.concurrency
            and len(self._idle) < self.core.unstarted + self._awaiting
            and not self._stopping
        ):
            self._spawn_worker()
            await anyio.lowlevel.checkpoint()

    async def _pool_worker(self) -> None:
        """One of the run's long-lived workers: runs attempts one after another.

        Workers are started when an attempt finds none idle and by :meth:`_fill_pool`, never
        past the concurrency limit. Handing an attempt to an idle worker costs an event, where a
        new task and cancel scope per attempt cost several times the scheduling of a no-op task.

        Timeouts: the worker's one cancel scope gets the running attempt's deadline. Only that
        deadline cancels the scope, so when it catches a cancellation the attempt timed out;
        the worker records that and carries on in a new scope.
        """
        try:
            await self._work(Slot())
        finally:
            self._workers -= 1

    async def _work(self, slot: Slot) -> None:
        while True:
            slot.scope = anyio.CancelScope()
            try:
                with slot.scope:
                    await self._serve(slot)
            except anyio.get_cancelled_exc_class():
                if slot.running is not None:  # the run was cancelled while this attempt timed out
                    d, ctx, started, _ = slot.running
                    self._record_cancelled(d.task_id, d.attempt, started, tuple(ctx.steps), ctx)
                raise
            if not slot.scope.cancelled_caught:
                return  # dismissed at the end of the run
            if slot.running is not None:
                d, ctx, started, timeout = slot.running
                slot.running = None
                error = TaskTimeout(timeout)
                error.task_id, error.attempt = d.task_id, d.attempt
                self._finished(d, ctx, started, None, error)

    def _dismiss_idle_workers(self) -> None:
        """Let idle pool workers return instead of cancelling them one by one (the run is
        over; anything still running is cancelled with the task group)."""
        idle, self._idle = self._idle, []
        for slot in idle:
            slot.wake.set()

    async def _serve(self, slot: Slot) -> None:
        while True:
            if self._queue:
                d = self._queue.popleft()
            elif len(self._idle) >= self.core.unstarted + self._awaiting:
                # Enough idle workers for every attempt still to come (a retry or an added
                # task gets a new worker): return now, in the run's quiet tail, rather than be
                # woken to return at its end.
                return
            else:
                slot.wake = anyio.Event()
                self._idle.append(slot)
                await slot.wake.wait()
                if slot.dispatch is None:  # dismissed: the run is over
                    return
                d, slot.dispatch = slot.dispatch, None
            await self._run_attempt(d, slot)

    # -- one attempt ----------------------------------------------------------------------

    async def _run_attempt(self, d: Dispatch, slot: Slot) -> None:
        spec = self.specs[d.task_id]
        defaults = self.plan.defaults
        model = spec.model or defaults.model
        inputs = {dep: self.state.results.get(dep, "") for dep in spec.deps}
        failures: dict[str, str] = {}
        spawned = self.spawned_by(d.task_id)
        for child in spawned:  # an orchestrator's sub-agents, whatever ended
            if child in self.state.results:
                inputs[child] = self.state.results[child]
            elif self.core.status(child) in TERMINAL:  # else still running (in the background)
                failures[child] = self.state.errors.get(child, self.core.status(child).value)
        ctx = TaskContext(
            run_id=self.run_id,
            spec=spec,
            attempt=d.attempt,
            allowance=d.allowance,
            model=model,
            params=defaults.params.merged(spec.params),
            inputs=inputs,
            failures=failures,
            provider=self.provider,
            budget=self.gate,
            price=price_for(self.prices, model),
            run_dir=self.run_dir,
            journal=self.journal,
            dep_titles={
                d: t for d in (*inputs, *spawned) if d in self.specs and (t := self.specs[d].title)
            },
            tool_hub=self.tool_hub,
            hold_timeout=lambda: deadline_held(slot.scope),
        )
        timeout = spec.timeout_s or defaults.timeout_s
        started = time.time()
        result: str | None = None
        error: TaskError | None = None
        try:
            slot.running = (d, ctx, started, timeout)
            slot.scope.deadline = anyio.current_time() + timeout
            try:
                result = await self.executor.run(ctx, self.workers[spec.kind])
            finally:
                slot.scope.deadline = math.inf
            slot.running = None
        except TaskError as exc:
            slot.running = None
            error = exc
        except anyio.get_cancelled_exc_class():
            if not slot.scope.cancel_called:  # the run is being cancelled, not timed out
                slot.running = None
                self._record_cancelled(d.task_id, d.attempt, started, tuple(ctx.steps), ctx)
            raise
        except Exception as exc:  # a worker bug must fail its task, not the swarm
            slot.running = None
            error = WorkerCrashed(f"worker crashed: {type(exc).__name__}: {exc}")
        if error is not None:
            error.task_id, error.attempt = d.task_id, d.attempt
        self._finished(d, ctx, started, result, error)

    def _finished(
        self,
        d: Dispatch,
        ctx: TaskContext,
        started: float,
        result: str | None,
        error: TaskError | None,
    ) -> None:
        now = time.time()
        steps = tuple(ctx.steps)
        if result is not None:
            result = clean_text(result)  # untrusted: stored, and fed to dependents' prompts
        common: dict[str, Any] = {
            "run_id": self.run_id,
            "task_id": d.task_id,
            "attempt": d.attempt,
            "started_at": started,
            "finished_at": now,
            "steps": steps,
            "tokens_in": ctx.tokens_in,
            "tokens_out": ctx.tokens_out,
            "cost_usd": ctx.cost_usd,
        }
        self.state.steps_used[d.task_id] = self.state.steps_used.get(d.task_id, 0) + len(steps)
        self.state.durations[d.task_id] = self.state.durations.get(d.task_id, 0.0) + now - started
        if isinstance(error, BudgetExhausted):
            self._paused(d, error, common)
            return
        if error is None and ctx.wait_on is not None:
            error = self._wait_after(d, ctx, common)
            if error is None:
                return
        if error is None and ctx.expansion:
            error = self._expand(d, ctx, common)
            if error is None:
                return
        if error is None:
            assert result is not None
            self.state.results[d.task_id] = result
            self._submit_result(
                AttemptFinished(
                    **common,
                    outcome="succeeded",
                    task_status="succeeded",
                    result=result,
                    artifacts=tuple(ctx.artifacts),
                )
            )
            # Released at once, but safely: a dependent's AttemptStarted is submitted after
            # this result, so it is committed in the same transaction or a later one, and its
            # worker starts only once that commit (and so this result) is durable.
            if self._is_current(d.task_id, d.attempt):
                self._step(AttemptSucceeded(d.task_id, d.attempt, len(steps)))
            else:
                self._pump()
            return
        self._failed(d, error, steps, common)

    def _failed(
        self, d: Dispatch, error: TaskError, steps: tuple[Any, ...], common: dict[str, Any]
    ) -> None:
        """Record a failed attempt as the core decides (retry, or fail and skip the branch)."""
        # An error that ends the run (a rejected key) is not the task's: its attempt failed, the
        # task stays pending, so `swarm resume` runs it once the cause is fixed.
        ends_run = bool(getattr(error, "ends_run", False))
        now = self.clock.now()
        hint = getattr(error, "retry_after_s", None)
        failed = AttemptFailed(d.task_id, d.attempt, len(steps), error.retryable, now, hint)
        # Every other call would fail the same way: halted first, nothing more starts.
        commands = self._decide(Halt(), failed) if ends_run else self._decide(failed)
        decision = next(
            c for c in commands if isinstance(c, Retry | Failed) and c.task_id == d.task_id
        )
        retry_at = None
        if isinstance(decision, Retry):
            retry_at = time.time() + (decision.at - now)
        self._submit_result(
            AttemptFinished(
                **common,
                outcome="timeout" if isinstance(error, TaskTimeout) else "failed",
                task_status="pending" if isinstance(decision, Retry) or ends_run else "failed",
                error=clean_text(str(error)),
                error_kind=error.kind,
                retryable=error.retryable,
                retry_at=retry_at,
            )
        )
        if ends_run:  # the task stays pending: no skips, and the run ends resumable
            if self.fatal is None:
                self.fatal = error
            self.cancel(status="failed")
            return
        if isinstance(decision, Failed):
            self.state.errors[d.task_id] = clean_text(str(error))
        self._carry_out(commands)  # the branch's skips, a revision, the next starts

    def _wait_after(
        self, d: Dispatch, ctx: TaskContext, common: dict[str, Any]
    ) -> TaskError | None:
        """The worker asked to wait on ``ctx.wait_on`` (tasks it may add in
        ``ctx.expansion``, which then start on their own rather than join it)."""
        assert ctx.wait_on is not None
        children = list(ctx.expansion)
        taken = [c.id for c in children if c.id in self.specs]
        if taken:
            return TaskError(f"added task ids already exist: {taken[:5]}", retryable=False)
        known = {*self.specs, *(c.id for c in children)}
        unknown = [t for t in ctx.wait_on if t not in known]
        if unknown:
            return TaskError(f"cannot wait on unknown tasks: {unknown[:5]}", retryable=False)
        own = None
        if ctx.own_config is not None:  # the worker's state across its attempts (its turns)
            own = self.specs[d.task_id].model_copy(update={"config": ctx.own_config})
        self.add_tasks(children, reason="spawn", replace=own)
        self._suspend_after(d, common, tuple(ctx.wait_on), "spawn")
        self._pump()
        return None

    def _paused(self, d: Dispatch, error: BudgetExhausted, common: dict[str, Any]) -> None:
        """A call found the budget spent: the task goes back to pending and the run pauses
        (nothing more starts; what is in flight finishes)."""
        event: CoreEvent = BudgetShort(error.shortfall)
        if self._is_current(d.task_id, d.attempt):
            event = AttemptPaused(d.task_id, d.attempt, len(common["steps"]), error.shortfall)
        commands = self._decide(event)
        self._submit_result(
            AttemptFinished(
                **common,
                outcome="paused",
                task_status="pending",
                error=str(error),
                error_kind=error.kind,
                retryable=True,
            )
        )
        self._carry_out(commands)

    def _submit_skips(self, failed: Failed) -> None:
        if failed.skipped:
            self.writer.submit(
                TasksSkipped(self.run_id, failed.skipped, failed.task_id, time.time())
            )

    def _record_cancelled(
        self,
        task_id: str,
        attempt: int,
        started: float,
        steps: tuple[Any, ...],
        ctx: TaskContext | None = None,
    ) -> None:
        commands: list[Command] = []
        if self._is_current(task_id, attempt):
            commands = self._decide(AttemptCancelled(task_id, attempt, len(steps)))
        self._cancelled_attempts.append((task_id, attempt))
        self._submit_result(
            AttemptFinished(
                run_id=self.run_id,
                task_id=task_id,
                attempt=attempt,
                started_at=started,
                finished_at=time.time(),
                outcome="cancelled",
                task_status="cancelled",
                error="the run was cancelled",
                error_kind="Cancelled",
                retryable=True,
                steps=steps,
                tokens_in=ctx.tokens_in if ctx else 0,
                tokens_out=ctx.tokens_out if ctx else 0,
                cost_usd=ctx.cost_usd if ctx else 0.0,
            )
        )
        self._carry_out(commands)

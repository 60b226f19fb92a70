"""The async driver: turns the scheduler core's decisions into worker tasks and store writes.

One run, one driver. It decides nothing itself: every change to the scheduler core is an event
through the core's one door (:meth:`RunDriver._decide`, :class:`~swarm.core.machine.Machine`),
and the driver carries out the commands it returns (:meth:`RunDriver._carry_out`). It owns two
task groups: the outer one holds the store's single writer, the inner one the workers, retry
timers and the signal watcher. Every state change goes through the writer, and the driver acts
on a change only once the writer reports it committed:

- ``AttemptStarted`` committed → a pool worker runs the attempt (counted before it runs); a
  first attempt whose dependencies' results are all durable already starts at dispatch, so a
  slot freed by a result still in an open transaction does not wait for its commit;
- a success is handed to the writer → the core releases the task's dependents at once, but
  their ``AttemptStarted`` ops are queued behind the success, so they commit with it or after
  it: no dependent runs before the result it depends on is durable.

Cancelling (SIGINT/SIGTERM, or :meth:`RunDriver.cancel`) cancels only the inner group; the
writer stays up to record ``cancelled`` for the run and the attempts in flight, then drains.
The signal watcher lives in the outer group, beside the writer, so a second signal while the
run's end is written is absorbed instead of killing the process.

Every write is fenced by the run's owner epoch (the writer's ``fence``): if another driver took
the run while this one was paused, the writer refuses the whole transaction and stops with
:class:`~swarm.errors.RunTakenOver`, and this driver stops without writing anything more.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.abc import TaskGroup

from swarm import interrupts
from swarm.core.budget import Budget
from swarm.core.clock import Clock, SystemClock
from swarm.core.machine import (
    AttemptExpanded,
    AttemptSuspended,
    Command,
    Finish,
    Halt,
    Hold,
    Machine,
    Pause,
    Release,
    Revise,
    Skip,
    Tick,
    WaitRefused,
    WakeAt,
)
from swarm.core.machine import Event as CoreEvent
from swarm.core.scheduler import Dispatch, Failed, Scheduler, Status, TaskInfo
from swarm.dag import Dag
from swarm.errors import StoreError, TaskError
from swarm.plan import Plan, TaskSpec
from swarm.providers.base import CallJournal, Provider
from swarm.providers.pricing import Price
from swarm.runtime.approvals import ApprovalGate
from swarm.runtime.attempts import RunAttempts, Slot
from swarm.runtime.budget_gate import BudgetGate
from swarm.runtime.executor import Executor, LocalExecutor
from swarm.runtime.growth import Replanner, RunGrowth
from swarm.runtime.metrics import RunMetrics, compute_metrics
from swarm.runtime.notify import Wakeups
from swarm.runtime.waiting import Gate, RunWaiting
from swarm.store.ops import (
    AttemptFinished,
    AttemptStarted,
    Event,
    Op,
    RunCreated,
    RunFinished,
    RunStarted,
    TasksAdded,
    TasksRecorded,
    TasksSkipped,
    TaskWaiting,
)
from swarm.store.records import NewRun, NewTask, Wait
from swarm.store.writer import Writer
from workers.base import Worker

CANCEL_POLL_S = 0.5
"""How often the driver checks for a `swarm cancel` request."""


@dataclass
class RunState:
    """What the driver knows beyond the core: results for inputs, and per-task accounting."""

    results: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """Errors of the tasks that failed for good (an orchestrator is shown its sub-agents')."""
    steps_used: dict[str, int] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each task's attempts (all of this session's attempts added up)."""
    started: dict[str, float] = field(default_factory=dict)
    steps_total: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    """Totals over every result this session handed to the writer (all outcomes)."""

    def count(self, op: AttemptFinished) -> None:
        self.steps_total += len(op.steps)
        self.tokens_in += op.tokens_in
        self.tokens_out += op.tokens_out
        self.cost_usd += op.cost_usd


@dataclass(frozen=True)
class RunEnd:
    status: str
    makespan_s: float
    started_at: float
    finished_at: float


class RunDriver(RunGrowth, RunAttempts, RunWaiting):
    """Runs one plan's DAG to completion, cancellation or failure."""

    def __init__(
        self,
        *,
        run_id: str,
        plan: Plan,
        scheduler: Scheduler,
        writer: Writer,
        provider: Provider,
        workers: Mapping[str, Worker],
        budget: Budget,
        prices: dict[str, Price],
        state: RunState,
        run_dir: Path,
        resumed: bool = False,
        created: NewRun | None = None,
        unrecorded: tuple[NewTask, ...] = (),
        clock: Clock | None = None,
        handle_signals: bool = False,
        on_tick: Callable[[], None] | None = None,
        make_info: Callable[[TaskSpec, int], TaskInfo] | None = None,
        cancel_requested: Callable[[], Awaitable[bool]] | None = None,
        replan: Replanner | None = None,
        max_replans: int = 0,
        feeders: Sequence[Callable[[RunDriver], Awaitable[None]]] = (),
        graph: Dag | None = None,
        wait_gate: Gate | None = None,
        keep_waiting: bool = False,
        waits: Mapping[str, Wait] | None = None,
        approvals: ApprovalGate | None = None,
        executor: Executor | None = None,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.run_id = run_id
        self.plan = plan
        self.specs = {spec.id: spec for spec in plan.tasks}
        self.core = scheduler
        """The scheduler, for reads only (counts, a task's status): every change to it is an
        event through :attr:`machine`."""
        self.machine = Machine(scheduler, revisions=max_replans if replan is not None else 0)
        """The core's one door (:meth:`_decide`): the driver carries out what it returns."""
        self.writer = writer
        self.provider = provider
        self.workers = workers
        self.executor: Executor = executor or LocalExecutor()
        self.budget = budget
        self.gate = BudgetGate(budget, lease=writer.owned_recently)
        """The one limiter on the token and dollar budgets: calls wait there for room."""
        self.prices = prices
        self.state = state
        self.run_dir = run_dir
        self.resumed = resumed
        self.created = created
        """A new run to record in the first transaction, with its start (None: it exists)."""
        self._unrecorded = unrecorded
        """Tasks of the plan without a row yet: a new run's tasks after its first transaction,
        or a resumed run's that a crash left out. Submitted before any start of theirs."""
        self.clock = clock or SystemClock()
        self.handle_signals = handle_signals
        self.on_tick = on_tick
        self.make_info = make_info
        self.cancel_requested = cancel_requested
        """Asks the store whether `swarm cancel` (any process) wants this run stopped."""
        self.wakeups = wakeups or Wakeups(run_id)
        """Wakes the watchers of decisions and cancel requests sooner than their polls
        (PostgreSQL's LISTEN/NOTIFY; without a URL they only poll)."""
        self.journal: CallJournal | None = None
        self.tool_hub = None  # the run's fetch settings and MCP servers, set for its lifetime
        self.replan = replan
        """Revises a failed branch: (failed id, error, branch specs, results, revision number)
        → replacement tasks; None: a failed task just skips its descendants."""
        self.max_replans = max_replans
        self.replans = 0
        self.feeders = feeders
        """Coroutines run beside the workers that add tasks while the run goes (a streaming
        planner); each holds the run open until it returns."""
        self.metrics: RunMetrics | None = None
        """A new run's metrics, computed from memory at its end and written with
        ``RunFinished`` (a resumed run's earlier sessions are only in the database)."""
        self.graph = graph
        """The plan's DAG as the run started (rebuilt at the end if tasks were added)."""
        self.cancelled = False
        self.end_status: str | None = None
        self.fatal: TaskError | None = None
        self._tg: TaskGroup | None = None
        self._done = anyio.Event()
        self._stopping = False
        self._pause_logged = False
        self._started = 0.0
        self._end: RunEnd | None = None
        """Set when the run ends: by :meth:`_pump` the moment the last task is settled (so the
        run's end shares a transaction with the last result), else when :meth:`execute` exits."""
        self._timer_at = math.inf
        self._over = False
        """The core said :class:`~swarm.core.machine.Finish`: nothing more can happen."""
        self._cancelled_attempts: list[tuple[str, int]] = []
        self._pending_infos: dict[str, TaskInfo] = {}
        self._expanding: dict[str, list[str]] = {}
        self._stale_seen = 0
        self.superseded_by: str | None = None
        """Set when the database refused one of this process's results (see _taken_over)."""
        self._queue: deque[Dispatch] = deque()
        """Committed attempts waiting for a pool worker."""
        self._idle: list[Slot] = []
        """Pool workers waiting for an attempt."""
        self._awaiting = 0
        """Attempts submitted (``AttemptStarted``) and not yet handed to a pool worker."""
        self._early: set[tuple[str, int]] = set()
        self._durable: set[str] = set()
        self._committed_once = False
        self._workers = 0
        """Pool workers alive (running an attempt, idle, or just started)."""
        self._filling = False
        self._deferred_end: RunFinished | None = None
        """A cancelled run's end, held back while attempt starts are still to be committed
        (and then recorded cancelled): a run's end is never written over running tasks."""
        self._signal_scope: anyio.CancelScope | None = None
        self.interrupted = False
        """A signal cancelled the run."""
        self.approvals = approvals
        """The run's approval gates (None: no task needs approval)."""
        self.wait_gate = wait_gate or (approvals.hold if approvals is not None else None)
        """Holds a task at dispatch until a decision (an approval), before any worker runs it."""
        self.keep_waiting = keep_waiting
        """Keep the run open while only decisions can move it on (else it ends ``waiting``)."""
        self._waits = dict(waits or {})
        self._suspending = {}
        self._wake_data = {}

    # -- the run --------------------------------------------------------------------------

    async def execute(self, *, early_failures: list[Failed] | None = None) -> RunEnd:
        self._started = time.time()
        # A resumed run's successes are durable already (see RunAttempts._may_start_early).
        self._durable = {t for t in self.specs if self.core.status(t) is Status.SUCCEEDED}
        async with anyio.create_task_group() as outer:
            if self.handle_signals:
                await outer.start(self._watch_signals)
            await outer.start(self._writer_main)
            self._submit_created(early_failures)
            self.writer.submit(RunStarted(self.run_id, self._started, os.getpid(), self.resumed))
            for failed in early_failures or []:
                self._submit_skips(failed)
            try:
                async with anyio.create_task_group() as inner:
                    self._tg = inner
                    if self.on_tick is not None:
                        inner.start_soon(self._ticker)
                    if self.cancel_requested is not None:
                        inner.start_soon(self._watch_cancel_requests)
                    if self.cancel_requested is not None or self.approvals is not None:
                        inner.start_soon(self.wakeups.listen)
                    if self.feeders:  # each holds the run open until it returns
                        self._step(*(Hold() for _ in self.feeders))
                    for feeder in self.feeders:
                        inner.start_soon(self._feed, feeder)
                    if self.approvals is not None:
                        self.approvals.begin(self)  # decisions made while no driver ran
                        inner.start_soon(self.approvals.watch)
                    self._pump()
                    await self._done.wait()
                    if self._end is not None:
                        # The end is submitted: let it commit before the idle workers are
                        # woken to return (on a quiet loop; the commit needs the GIL too).
                        await self.writer.flush()
                    self._dismiss_idle_workers()
                    inner.cancel_scope.cancel()
            except anyio.get_cancelled_exc_class():
                self.cancelled = True  # cancelled from outside: record it like a signal
                self._decide(Halt())  # nothing can start: the run's end is written below
                raise
            finally:
                # No await here, so nothing can be cancelled: the final ops are queued and the
                # (shielded) writer commits them before the outer group exits.
                end = self._end or self._finish()
                self.writer.close()
        if self.superseded_by is not None:
            raise StoreError(
                f"run {self.run_id} was taken over by another process: the database refused the "
                f"result of {self.superseded_by}, whose attempt is no longer current; this "
                "process stopped without writing the run's end",
                hint=f"follow the run with `swarm show {self.run_id}`",
            )
        if any(op.run_id == self.run_id for op in self.writer.unended):
            raise StoreError(
                f"the end of run {self.run_id} was not written: the database still records "
                "tasks of it as running",
                hint=f"resume the run (`swarm resume {self.run_id}`) to settle them",
            )
        return end

    def _submit_created(self, early_failures: list[Failed] | None) -> None:
        """Record a new run: its first tasks' rows now, with its start and first dispatches;
        the rest (:attr:`_unrecorded`) in the next transaction, while those tasks already run
        (a 1,000-task run's first task starts ~7 ms sooner). A resumed run's missing rows go
        first."""
        run = self.created
        if run is None:
            self._record_unrecorded()
            return
        if early_failures or self.feeders:  # their ops may touch any task: write them all
            self.writer.submit(RunCreated(run))
            return
        first = tuple(t for t in run.tasks if not t.deps)
        self.writer.submit(RunCreated(run, first))
        self._unrecorded = tuple(t for t in run.tasks if t.deps)

    def _record_unrecorded(self) -> None:
        """Submit the rows of the tasks that have none yet, ahead of anything about them."""
        if self._unrecorded:
            self.writer.submit(TasksRecorded(self.run_id, self._unrecorded))
            self._unrecorded = ()

    async def _writer_main(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        # Shielded: the writer outlives a cancellation of the run, to record it, and stops
        # only when close() is called and everything submitted has been committed.
        try:
            with anyio.CancelScope(shield=True):
                await self.writer.run(task_status=task_status)
        finally:
            if self._signal_scope is not None:
                self._signal_scope.cancel()  # the run's end is written: signals go back

    def start_soon(self, func: Callable[..., Coroutine[Any, Any, Any]], *args: object) -> None:
        """Run ``func(*args)`` in the run's task group (cancelled with the run)."""
        if self._tg is not None and not self._stopping:
            self._tg.start_soon(func, *args)

    def cancel(self, status: str = "cancelled") -> None:
        """Stop dispatching, cancel the attempts in flight, and end the run as ``status``
        (``cancelled``, or ``failed`` when a feeder such as the planner gave up)."""
        if self.cancelled:
            return
        self.cancelled = True
        self.end_status = status
        self._step(Halt())
        self._done.set()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    def _finish(self) -> RunEnd:
        """Settle the run's status and metrics and submit its end (once)."""
        self._stopping = True
        self._record_unrecorded()  # cancelled before the first commit: the rows still go in
        finished = time.time()
        counts = self.core.counts()
        if self.cancelled:
            status = self.end_status or "cancelled"
        elif self.core.paused is not None:
            status = "paused"
        elif self.core.stalled():
            status = "waiting"
        elif counts["succeeded"] + counts["replaced"] == sum(counts.values()):
            status = "succeeded"
        else:
            status = "failed"
        cancelled = tuple(sorted({task for task, _ in self._cancelled_attempts}))
        summary = self.summary_data()
        if not self.resumed:
            graph = self.graph
            if graph is None or len(graph) != len(self.specs):
                graph = Dag(self.plan)
            self.metrics = compute_metrics(
                graph,
                self.state.durations,
                self.state.steps_used,
                self.plan.budget.max_concurrency,
                finished - self._started,
            )
            summary["metrics"] = self.metrics.as_dict()
        if self.superseded_by is None:
            self._log_pause()  # if no pump saw the pause (it came with the end)
            # If another process took the run over, the writer refuses this with the result
            # that shows it (see swarm.store.batch), so the run's end stays the new owner's.
            op = RunFinished(self.run_id, status, finished, summary, cancelled)
            if self._awaiting:
                self._deferred_end = op  # submitted once those starts are recorded cancelled
            else:
                with contextlib.suppress(StoreError):  # a failed writer reports its own error
                    self.writer.submit(op)
        self._end = RunEnd(status, finished - self._started, self._started, finished)
        return self._end

    def _log_pause(self) -> None:
        """The first time the core pauses, log why (``run.paused``: the budget's shortfall) at
        that moment, so the trace and ``swarm events`` show when the budget ran out, before the
        calls still in flight end and the run with them."""
        if self.core.paused is None or self._pause_logged:
            return
        self._pause_logged = True
        with contextlib.suppress(StoreError):  # a failed writer reports its own error
            data = self.core.paused.as_dict()
            self.writer.submit(Event(self.run_id, "run.paused", time.time(), data=data))

    def totals_in_memory(self, end: RunEnd) -> dict[str, Any] | None:
        """A new run that succeeded: its summary totals (as ``Store.task_totals`` gives them),
        from memory, since this session saw every result. None for any other run."""
        if self.resumed or end.status != "succeeded":
            return None
        state = self.state
        return {
            "tasks": len(self.specs),
            "counts": self.core.counts(),
            "steps_total": state.steps_total,
            "tokens_in": state.tokens_in,
            "tokens_out": state.tokens_out,
            "cost_usd": state.cost_usd,
        }

    @property
    def pool(self) -> tuple[int, int]:
        """The worker pool as (workers alive, of which idle)."""
        return self._workers, len(self._idle)

    def summary_data(self) -> dict[str, Any]:
        return {
            "counts": self.core.counts(),
            "steps_total": self.core.pool.spent,
            "tokens": self.budget.spent_tokens,
            "cost_usd": round(self.budget.spent_cost_usd, 6),
            **({"paused": self.core.paused.as_dict()} if self.core.paused else {}),
            **({"waiting": self.waiting_summary()} if self._waits else {}),
        }

    def waiting_summary(self) -> dict[str, dict[str, Any]]:
        """The tasks waiting, with what each waits on and why (a ``waiting`` run's summary)."""
        return {
            task_id: {"attempt": w.attempt, "on": list(w.on), "reason": w.reason}
            for task_id, w in sorted(self._waits.items())
        }

    # -- feeders ------------------------------------------------------------------------

    async def _feed(self, feeder: Callable[[RunDriver], Awaitable[None]]) -> None:
        try:
            await feeder(self)
        finally:
            self._step(Release())

    # -- dispatch -------------------------------------------------------------------------

    def _decide(self, *events: CoreEvent) -> list[Command]:
        """The one door into the core: every change to it is an event handled here, with the
        time; what it returns is carried out by :meth:`_carry_out` (a caller that records an
        outcome first, such as a failure's, does that in between)."""
        return self.machine.handle(Tick(self.clock.now()), *events)

    def _step(self, *events: CoreEvent) -> None:
        """Hand the core these events and carry out what it decides."""
        self._carry_out(self._decide(*events))

    def _pump(self) -> None:
        """Ask the core for work (nothing has happened but the passing of time)."""
        self._step()

    def _carry_out(self, commands: list[Command]) -> None:
        """Do what the core decided: record and start attempts, record skips and refused
        waits, ask for revisions, log a pause, set the retry timer, notice the run's end."""
        if not self._stopping:
            self._note_wakes()  # recorded ahead of the woken tasks' next attempts
        gated: list[CoreEvent] = []
        for command in commands:
            if isinstance(command, Dispatch):
                if self._dispatched(command):
                    gated.append(AttemptSuspended(command.task_id, command.attempt, 0))
            elif isinstance(command, Failed):
                self._submit_skips(command)
            elif isinstance(command, Skip):
                self._skip_added(command.task_id)
            elif isinstance(command, WaitRefused):
                self._record_failed_wait(command.failed, command.reason, "WaitRefused")
                self._submit_skips(command.failed)
            elif isinstance(command, Revise):
                self._revise(command)
            elif isinstance(command, Pause):
                self._log_pause()
            elif isinstance(command, Finish):
                self._over = True
            elif isinstance(command, WakeAt):
                self._set_timer(command.at)
        if gated:  # waits from the start: their workers never run these attempts
            self._carry_out(self._decide(*gated))
            return
        if self._stopping:
            return
        if self._over or self._ends_waiting():
            if not self.cancelled:
                # Now, not after the pool is dismissed: the run's end joins the last result's
                # transaction instead of waiting for a commit of its own.
                self._finish()
            self._done.set()

    def _dispatched(self, d: Dispatch) -> bool:
        """Record a dispatch's start (its worker runs once that is committed); True if the
        wait gate holds it first."""
        self._awaiting += 1
        self.state.started[d.task_id] = time.time()
        self.writer.submit(
            AttemptStarted(self.run_id, d.task_id, d.attempt, time.time(), d.allowance)
        )
        if self.wait_gate is not None and self._gated(d):
            return True
        if self._may_start_early(d):
            self._start_early(d)
        return False

    def _skip_added(self, task_id: str) -> None:
        """A task added behind a failed dependency is skipped at once."""
        deps = self.core.info(task_id).deps
        failed = next(d for d in deps if self.core.status(d) is not Status.SUCCEEDED)
        self.writer.submit(TasksSkipped(self.run_id, (task_id,), failed, time.time()))

    def _set_timer(self, at: float) -> None:
        if at < self._timer_at and self._tg is not None and not self._stopping:
            self._timer_at = at
            self._tg.start_soon(self._wake_at, at)

    async def _wake_at(self, at: float) -> None:
        await self.clock.sleep(max(0.0, at - self.clock.now()))
        if self._timer_at == at:
            self._timer_at = math.inf
        self._pump()

    def on_commit(self, batch: list[Op]) -> None:
        """The writer's callback: act on state changes now that they are durable."""
        self._record_unrecorded()  # ahead of any start of those tasks
        self._committed_once = True
        if len(self.writer.stale) > self._stale_seen:
            self._taken_over()
        for op in batch:
            if isinstance(op, AttemptFinished) and op.task_status == "succeeded":
                self._durable.add(op.task_id)
            elif isinstance(op, TasksAdded):
                self._tasks_added(op)
            elif isinstance(op, TaskWaiting):
                self._wait_committed(op)
            elif isinstance(op, AttemptStarted):
                self._start_worker(op)
            elif (
                isinstance(op, AttemptFinished)
                and op.task_status == "pending"
                and op.task_id in self._expanding
                and self._is_current(op.task_id, op.attempt)
            ):
                children = tuple(self._expanding.pop(op.task_id))
                self._step(AttemptExpanded(op.task_id, op.attempt, len(op.steps), children))
        if self._deferred_end is not None and not self._awaiting:
            op, self._deferred_end = self._deferred_end, None
            cancelled = {task for task, _ in self._cancelled_attempts}
            with contextlib.suppress(StoreError):
                self.writer.submit(replace(op, cancelled_tasks=tuple(sorted(cancelled))))
        if not self._filling and self._tg is not None:
            self._filling = True
            self._tg.start_soon(self._fill_pool)
        self._pump()

    def _taken_over(self) -> None:
        """The database refused a result of this process's attempt: another process has
        taken the run over (it resumed it while this one looked dead). Stop at once, and leave
        the run's status to the new owner."""
        stale = self.writer.stale[self._stale_seen :]
        self._stale_seen = len(self.writer.stale)
        if self.superseded_by is None:
            first = stale[0]
            self.superseded_by = f"task {first.task_id!r} attempt {first.attempt}"
            self.cancel()

    # -- background -----------------------------------------------------------------------

    async def _watch_signals(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """The first SIGINT/SIGTERM cancels the run; later ones are absorbed until the writer
        has finished (then :func:`interrupts.after_run` puts the process's handlers back)."""
        try:
            with anyio.CancelScope() as scope:
                self._signal_scope = scope
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    task_status.started()
                    async for _ in signals:
                        self.interrupted = True
                        self.cancel()
        finally:
            interrupts.after_run(interrupted=self.interrupted)

    async def _watch_cancel_requests(self) -> None:
        """`swarm cancel` from another process: poll the store (sooner when woken by its
        notification) and cancel like a signal."""
        assert self.cancel_requested is not None
        while True:
            await self.wakeups.wait("cancel", CANCEL_POLL_S)
            requested = False
            with contextlib.suppress(StoreError):  # a busy database: ask again next time
                # Shielded, whatever the callable is (the store's own reads are): a query cut
                # short can leave its connection closing after the store (see Store._reading).
                with anyio.CancelScope(shield=True):
                    requested = await self.cancel_requested()
            if requested:
                self.cancel()
                return

    async def _ticker(self) -> None:
        assert self.on_tick is not None
        while True:
            self.on_tick()
            await anyio.sleep(0.1)

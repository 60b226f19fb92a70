"""The scheduler state machine: which task runs next, and what a success or failure unlocks.

It does no I/O and reads no clock of its own: the runtime feeds it events (``on_success``,
``on_failure``) with the current time and asks it for work (``dispatch``). Every decision it
returns is data the runtime persists before acting on it. Tests drive it synchronously.

Invariants (checked by :meth:`Scheduler.check_invariants` and the Hypothesis state machine):
a task is dispatched only when all its dependencies have succeeded; attempts never exceed a
task's limit; running tasks never exceed the global or per-kind limits; the step pool is never
overdrawn.

Budgets pause, they do not fail: a task starts only when the pool can grant its whole step
allowance; while running tasks may still return steps it waits, and when nothing runs and the
pool cannot cover the next task the core :meth:`pauses <Scheduler.pause>` (the runtime pauses it
too when a token or dollar budget cannot cover a call). A paused core dispatches nothing more;
the run is over once what is in flight has finished, with every unstarted task still pending.

Waiting is a state, not a sleeping worker: :meth:`Scheduler.suspend` ends a running attempt
and leaves its task ``waiting``, holding no worker slot and no steps, either for an outside
decision (a person's approval: :meth:`~Scheduler.wake` or :meth:`~Scheduler.fail_waiting`) or
for a set of other tasks to end, whatever their outcome (an orchestrator's sub-agents), after
which it is ready again by itself. A run whose only remaining work waits for outside decisions
is :meth:`~Scheduler.stalled`; the runtime decides whether to end it resumable or keep waiting.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from swarm.core.budget import Shortfall
from swarm.core.retry import RetryPolicy
from swarm.core.steps import StepPool
from swarm.errors import StaleAttempt


class Status(StrEnum):
    PENDING = "pending"
    """Waiting for dependencies (or for a retry's backoff to pass)."""
    READY = "ready"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not run because a dependency failed permanently."""
    CANCELLED = "cancelled"
    REPLACED = "replaced"
    """Failed or skipped, then revised by the replanner: the revision's tasks run instead."""
    WAITING = "waiting"
    """Suspended: its attempt ended without an outcome, and it holds no worker slot and no
    steps until it is woken (an outside decision, or the end of the tasks it waits on)."""


TERMINAL = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.SKIPPED, Status.CANCELLED, Status.REPLACED}
)


class TaskInfo(NamedTuple):
    """What the core needs to know about a task: structure, limits and priority.

    Immutable; a named tuple because a run builds one per task before its first dispatch, at
    half the cost of a frozen dataclass."""

    id: str
    kind: str
    deps: tuple[str, ...]
    priority: float
    order: int
    max_attempts: int
    steps_wanted: int


@dataclass(slots=True)
class _Task:
    info: TaskInfo
    dependents: list[str] = field(default_factory=list)
    status: Status = Status.PENDING
    unmet: int = 0
    attempt: int = 0
    """Number of the latest attempt (0: never started). Attempt numbers keep rising on resume."""
    attempts_here: int = 0
    """Attempts started by this scheduler; limited by ``max_attempts``."""
    allowance: int = 0
    waiting_for: tuple[str, ...] = ()
    """While waiting: the tasks it waits on (empty: an outside decision)."""
    unsettled: int = 0
    """While waiting on tasks: how many of them have not ended yet."""


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Start ``attempt`` of ``task_id`` with a step ``allowance`` drawn from the pool."""

    task_id: str
    attempt: int
    allowance: int


@dataclass(frozen=True, slots=True)
class Retry:
    """The attempt failed; the task becomes ready again at ``at``."""

    task_id: str
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class Failed:
    """The task failed for good; ``skipped`` lists the descendants that will not run."""

    task_id: str
    attempt: int
    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Limits:
    concurrency: int
    per_kind: Mapping[str, int] = field(default_factory=dict)
    fail_fast: bool = False


class Scheduler:
    """Ready-queue scheduling with critical-path priority, retries and a shared step pool."""

    def __init__(
        self,
        tasks: Iterable[TaskInfo],
        limits: Limits,
        pool: StepPool,
        retry: RetryPolicy | None = None,
        seed: int = 0,
    ) -> None:
        self._tasks: dict[str, _Task] = {t.id: _Task(t) for t in tasks}
        for task in self._tasks.values():
            for dep in task.info.deps:
                self._tasks[dep].dependents.append(task.info.id)
            task.unmet = len(task.info.deps)
        self.limits = limits
        self.pool = pool
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        self._ready: list[tuple[float, int, str]] = []
        self._delayed: list[tuple[float, int, str]] = []
        self._running_by_kind: dict[str, int] = {}
        self.running = 0
        self.unstarted = len(self._tasks)
        """Tasks pending or ready: the most attempts that can still be dispatched without a
        retry or an added task (the runtime keeps no more idle workers than this)."""
        self.halted = False
        """Set by fail-fast (or by the runtime when cancelling): nothing more is dispatched."""
        self.paused: Shortfall | None = None
        """Why the run pauses (a budget that cannot cover the next piece of work), if it does:
        nothing more is dispatched, and the run ends resumable once nothing is running."""
        self._started = False
        self._holds = 0
        self._waiting: set[str] = set()
        self._watchers: dict[str, list[str]] = {}
        """Task id → the waiting tasks that wait for it to end."""

    # -- set-up ---------------------------------------------------------------------------

    def restore(
        self, task_id: str, status: Status, attempt: int, *, on: Iterable[str] = ()
    ) -> None:
        """Load a task's persisted state before :meth:`start` (resume).

        Succeeded tasks count as met dependencies; everything not succeeded runs again, with
        attempt numbers continuing from the last one recorded. A waiting task waits again, for
        the tasks in ``on`` (counted at :meth:`start`, once every task is restored) or, if
        ``on`` is empty, for an outside decision.
        """
        if self._started:
            raise RuntimeError("restore() must come before start()")
        task = self._tasks[task_id]
        task.attempt = attempt
        if status is Status.SUCCEEDED:
            task.status = Status.SUCCEEDED
            self.unstarted -= 1
            for dependent in task.dependents:
                self._tasks[dependent].unmet -= 1
        elif status in (Status.FAILED, Status.SKIPPED, Status.REPLACED):
            task.status = status
            self.unstarted -= 1
        elif status is Status.WAITING:
            task.status = Status.WAITING
            task.waiting_for = tuple(on)
            self.unstarted -= 1
            self._waiting.add(task_id)

    def hold(self) -> None:
        """More tasks may still be added (a planner is streaming): the run is not over yet."""
        self._holds += 1

    def release(self) -> None:
        """A source of new tasks has finished."""
        self._holds -= 1

    def add_task(self, info: TaskInfo) -> bool:
        """Add a task to a live run; its dependencies must already be known.

        Returns False if a dependency has already failed, in which case the task is skipped at
        once; otherwise the task is pending, or ready if its dependencies have all succeeded.
        """
        if info.id in self._tasks:
            raise ValueError(f"task {info.id!r} already exists")
        deps = [self._tasks[dep] for dep in info.deps]  # KeyError: the caller validates order
        task = _Task(info)
        self._tasks[info.id] = task
        doomed = False
        for dep in deps:
            dep.dependents.append(info.id)
            if dep.status is not Status.SUCCEEDED:
                task.unmet += 1
                doomed = doomed or dep.status in (Status.FAILED, Status.SKIPPED)
        if doomed:
            task.status = Status.SKIPPED
            return False
        self.unstarted += 1
        if task.unmet == 0 and self._started:
            self._make_ready(task)
        return True

    def expand(self, task_id: str, attempt: int, steps_used: int, children: list[str]) -> None:
        """A fan-out task has added ``children`` (already added with :meth:`add_task`): its
        attempt ends, and the task waits for them, then runs once more to join their results.

        The join gets an attempt of its own on top of the task's retry limit.
        """
        task = self._current(task_id, attempt)
        self._finish(task, steps_used)
        task.info = task.info._replace(
            deps=(*task.info.deps, *children),
            max_attempts=task.info.max_attempts + 1,
        )
        task.status = Status.PENDING
        self.unstarted += 1
        for child_id in children:
            child = self._tasks[child_id]
            child.dependents.append(task_id)
            if child.status is not Status.SUCCEEDED:
                task.unmet += 1
        if task.unmet == 0:
            self._make_ready(task)

    def start(self) -> list[Failed]:
        """Seed the ready queue; returns the failures that restored state implies (resume)."""
        self._started = True
        out: list[Failed] = []
        for task_id in sorted(self._waiting):
            self._wait_on(self._tasks[task_id])
        for task in self._tasks.values():
            if task.status is Status.FAILED:
                skipped = self._skip_descendants(task)
                out.append(Failed(task.info.id, task.attempt, skipped))
        for task in self._tasks.values():
            if task.status is Status.PENDING and task.unmet == 0:
                self._make_ready(task)
        return out

    # -- queries --------------------------------------------------------------------------

    def status(self, task_id: str) -> Status:
        return self._tasks[task_id].status

    def attempt(self, task_id: str) -> int:
        return self._tasks[task_id].attempt

    def info(self, task_id: str) -> TaskInfo:
        return self._tasks[task_id].info

    def counts(self) -> dict[str, int]:
        tally = dict.fromkeys(Status, 0)
        for task in self._tasks.values():
            tally[task.status] += 1
        return {status.value: n for status, n in tally.items()}

    def is_done(self) -> bool:
        """Nothing running, ready or waiting to retry: the run is over."""
        if self.running:
            return False
        if self.halted:
            return True
        if self.paused is not None:  # a planner still streaming records the rest first
            return self._holds == 0
        return not self._ready and not self._delayed and self._holds == 0 and not self._waiting

    def waiting(self) -> list[str]:
        """The tasks waiting, for an outside decision or for other tasks to end."""
        return sorted(self._waiting)

    def waiting_for(self, task_id: str) -> tuple[str, ...]:
        """What a waiting task waits on (empty: an outside decision)."""
        return self._tasks[task_id].waiting_for

    def stalled(self) -> bool:
        """Only outside decisions can move the run on: nothing runs, is ready, waits for a
        retry or a source of new tasks, and some task waits (for a decision, or for tasks that
        themselves wait for one). Not when halted or paused: those runs are over."""
        return (
            bool(self._waiting)
            and not self.running
            and not self.halted
            and self.paused is None
            and not self._ready
            and not self._delayed
            and self._holds == 0
        )

    def next_wakeup(self) -> float | None:
        """When the earliest retry becomes due, if any task is waiting on backoff."""
        return self._delayed[0][0] if self._delayed else None

    def unfinished(self) -> list[str]:
        return [t.info.id for t in self._tasks.values() if t.status not in TERMINAL]

    # -- decisions ------------------------------------------------------------------------

    def dispatch(self, now: float) -> list[Dispatch]:
        """Start as many ready tasks as the limits and the step pool allow, best first.

        The best ready task waits for its whole allowance (a later one does not jump it); if
        nothing is running to return steps, the pool cannot cover it and the core pauses."""
        if self.halted or self.paused is not None:
            return []
        while self._delayed and self._delayed[0][0] <= now:
            _, _, task_id = heapq.heappop(self._delayed)
            self._make_ready(self._tasks[task_id])
        out: list[Dispatch] = []
        held: list[tuple[float, int, str]] = []
        per_kind = self.limits.per_kind
        while self._ready and self.running < self.limits.concurrency:
            entry = heapq.heappop(self._ready)
            task = self._tasks[entry[2]]
            kind = task.info.kind
            limit = per_kind.get(kind)
            if limit is not None and self._running_by_kind.get(kind, 0) >= limit:
                held.append(entry)
                continue
            wanted = self._steps_needed(task)
            if wanted > self.pool.available:
                held.append(entry)
                if not self.running:
                    self.pause(Shortfall("steps", wanted, self.pool.available, self.pool.total))
                break
            out.append(self._start(task))
        for entry in held:
            heapq.heappush(self._ready, entry)
        return out

    def _steps_needed(self, task: _Task) -> int:
        """The allowance a task waits for: what it wants, or the whole pool if it wants more."""
        return max(1, min(task.info.steps_wanted, self.pool.total))

    def pause(self, shortfall: Shortfall) -> None:
        """Dispatch nothing more because a budget cannot cover the next piece of work (the
        first reason is kept); the run ends, resumable, once nothing is running."""
        if self.paused is None:
            self.paused = shortfall

    def on_success(self, task_id: str, attempt: int, steps_used: int) -> list[str]:
        """Record a committed success; returns the dependents that became ready."""
        task = self._current(task_id, attempt)
        self._finish(task, steps_used)
        task.status = Status.SUCCEEDED
        if task_id in self._watchers:
            self._settled(task)
        unlocked = []
        for dependent_id in task.dependents:
            dependent = self._tasks[dependent_id]
            dependent.unmet -= 1
            if dependent.unmet == 0 and dependent.status is Status.PENDING:
                self._make_ready(dependent)
                unlocked.append(dependent_id)
        return unlocked

    def on_failure(
        self,
        task_id: str,
        attempt: int,
        steps_used: int,
        *,
        retryable: bool,
        now: float,
        retry_after_s: float | None = None,
    ) -> Retry | Failed:
        """Record a committed failure: schedule a retry or fail the task and skip its branch."""
        task = self._current(task_id, attempt)
        self._finish(task, steps_used)
        if retryable and task.attempts_here < task.info.max_attempts and not self.halted:
            delay = self.retry.delay(task.attempts_here, self._rng, retry_after_s)
            task.status = Status.PENDING
            self.unstarted += 1
            heapq.heappush(self._delayed, (now + delay, task.info.order, task_id))
            return Retry(task_id, attempt, now + delay)
        task.status = Status.FAILED
        if self.limits.fail_fast:
            self.halted = True
        skipped = self._skip_descendants(task)
        self._settled(task)
        return Failed(task_id, attempt, skipped)

    def suspend(
        self, task_id: str, attempt: int, steps_used: int, *, on: Iterable[str] = ()
    ) -> bool:
        """End a running attempt without an outcome: the task waits, holding no worker slot
        and no steps (its steps settle into the pool now).

        With ``on`` empty it waits for an outside decision (:meth:`wake`, :meth:`fail_waiting`);
        otherwise until every task in ``on`` has ended, whatever the outcome (unlike a
        dependency, a failed one does not skip the waiter), and is then ready again by itself.
        Returns True if it is ready at once (everything in ``on`` had already ended). Every
        wake gives the task one more attempt on top of its retry limit. A wait that could
        never end is refused with ValueError: on itself, on an unknown task, or on a task that
        cannot end before this one (a descendant, or one waiting, directly or through its
        dependencies, on this task)."""
        task = self._current(task_id, attempt)
        ids = tuple(dict.fromkeys(on))
        for other in ids:
            if other == task_id or other not in self._tasks:
                raise ValueError(f"task {task_id!r} cannot wait on {other!r}")
        loop = self._wait_loop(task_id, ids)
        if loop:
            raise ValueError(
                f"task {task_id!r} cannot wait on {loop[0]!r}: it would wait for itself "
                f"({' -> '.join([task_id, *loop])})"
            )
        self._finish(task, steps_used)
        task.status = Status.WAITING
        task.waiting_for = ids
        self._waiting.add(task_id)
        return self._wait_on(task)

    def wake(self, task_id: str) -> None:
        """A waiting task may go on (an approval was granted): it is ready again."""
        task = self._tasks[task_id]
        if task.status is not Status.WAITING:
            raise ValueError(f"task {task_id!r} is {task.status.value}, not waiting")
        self._resume_waiting(task)

    def fail_waiting(self, task_id: str) -> Failed:
        """A waiting task fails for good (an approval was refused); its branch is skipped."""
        task = self._tasks[task_id]
        if task.status is not Status.WAITING:
            raise ValueError(f"task {task_id!r} is {task.status.value}, not waiting")
        self._stop_waiting(task)
        task.status = Status.FAILED
        if self.limits.fail_fast:
            self.halted = True
        skipped = self._skip_descendants(task)
        self._settled(task)
        return Failed(task_id, task.attempt, skipped)

    def on_paused(self, task_id: str, attempt: int, steps_used: int) -> None:
        """A running attempt stopped because a budget cannot cover its next call: the task is
        pending again (a resume with raised limits runs it), not failed."""
        task = self._current(task_id, attempt)
        self._finish(task, steps_used)
        self.unstarted += 1
        self._make_ready(task)

    def on_cancelled(self, task_id: str, attempt: int, steps_used: int) -> None:
        """A running attempt was cancelled with the run; the task can run again on resume."""
        task = self._current(task_id, attempt)
        self._finish(task, steps_used)
        task.status = Status.CANCELLED
        self._settled(task)

    def replace(self, task_ids: list[str]) -> None:
        """Mark a failed branch (the failed task and its skipped descendants) as replaced by a
        revision; only failed or skipped tasks can be."""
        for task_id in task_ids:
            task = self._tasks[task_id]
            if task.status not in (Status.FAILED, Status.SKIPPED):
                raise ValueError(f"task {task_id!r} is {task.status.value}, not failed or skipped")
            task.status = Status.REPLACED
            self._settled(task)

    def halt(self) -> None:
        """Dispatch nothing more (cancellation, fail-fast)."""
        self.halted = True

    # -- internals ------------------------------------------------------------------------

    def _current(self, task_id: str, attempt: int) -> _Task:
        task = self._tasks[task_id]
        if task.status is not Status.RUNNING or task.attempt != attempt:
            raise StaleAttempt(task_id, attempt, task.attempt)
        return task

    def _wait_loop(self, task_id: str, on: tuple[str, ...]) -> list[str]:
        """The path by which one of ``on`` cannot end before ``task_id`` does (empty: none).

        A task that has not ended cannot end before its dependencies and, while it waits,
        before the tasks it waits on; a wait that closes a loop of these would never end."""
        seen: set[str] = set()
        stack: list[tuple[str, list[str]]] = [(other, [other]) for other in reversed(on)]
        while stack:
            current, path = stack.pop()
            if current == task_id:
                return path
            if current in seen:
                continue
            seen.add(current)
            node = self._tasks[current]
            if node.status in TERMINAL:
                continue
            nexts = (*node.info.deps, *node.waiting_for)
            stack.extend((n, [*path, n]) for n in reversed(nexts) if n in self._tasks)
        return []

    def _wait_on(self, task: _Task) -> bool:
        """Count what a waiting task still waits on; wake it if nothing is left."""
        if not task.waiting_for:
            return False
        task.unsettled = 0
        for other_id in task.waiting_for:
            if self._tasks[other_id].status not in TERMINAL:
                task.unsettled += 1
                self._watchers.setdefault(other_id, []).append(task.info.id)
        if task.unsettled == 0:
            self._resume_waiting(task)
            return True
        return False

    def _settled(self, task: _Task) -> None:
        """A task has ended: the tasks waiting on it may go on."""
        for waiter_id in self._watchers.pop(task.info.id, ()):
            waiter = self._tasks[waiter_id]
            if waiter.status is Status.WAITING:
                waiter.unsettled -= 1
                if waiter.unsettled == 0:
                    self._resume_waiting(waiter)

    def _stop_waiting(self, task: _Task) -> None:
        self._waiting.discard(task.info.id)
        for other_id in task.waiting_for:
            watchers = self._watchers.get(other_id)
            if watchers and task.info.id in watchers:
                watchers.remove(task.info.id)
                if not watchers:
                    del self._watchers[other_id]
        task.waiting_for = ()
        task.unsettled = 0

    def _resume_waiting(self, task: _Task) -> None:
        self._stop_waiting(task)
        task.info = task.info._replace(max_attempts=task.info.max_attempts + 1)
        self.unstarted += 1
        self._make_ready(task)

    def _make_ready(self, task: _Task) -> None:
        task.status = Status.READY
        heapq.heappush(self._ready, (-task.info.priority, task.info.order, task.info.id))

    def _start(self, task: _Task) -> Dispatch:
        allowance = self.pool.draw(self._steps_needed(task))
        task.status = Status.RUNNING
        self.unstarted -= 1
        task.attempt += 1
        task.attempts_here += 1
        task.allowance = allowance
        self.running += 1
        kind = task.info.kind
        self._running_by_kind[kind] = self._running_by_kind.get(kind, 0) + 1
        return Dispatch(task.info.id, task.attempt, allowance)

    def _finish(self, task: _Task, steps_used: int) -> None:
        self.pool.settle(task.allowance, steps_used)
        task.allowance = 0
        self.running -= 1
        self._running_by_kind[task.info.kind] -= 1

    def _skip_descendants(self, task: _Task) -> tuple[str, ...]:
        skipped = []
        stack = list(task.dependents)
        while stack:
            dependent = self._tasks[stack.pop()]
            if dependent.status in (Status.PENDING, Status.READY):
                dependent.status = Status.SKIPPED
                self.unstarted -= 1
                skipped.append(dependent.info.id)
                stack.extend(dependent.dependents)
                self._settled(dependent)
        if skipped:
            gone = set(skipped)
            self._ready = [e for e in self._ready if e[2] not in gone]
            heapq.heapify(self._ready)
        return tuple(skipped)

    def check_invariants(self) -> None:
        """Raise AssertionError if any invariant is broken (used by tests after every step)."""
        running = unstarted = 0
        by_kind: dict[str, int] = {}
        for task in self._tasks.values():
            unstarted += task.status in (Status.PENDING, Status.READY)
            if task.status is Status.RUNNING:
                running += 1
                by_kind[task.info.kind] = by_kind.get(task.info.kind, 0) + 1
            if task.status in (Status.RUNNING, Status.SUCCEEDED) and task.attempts_here:
                for dep in task.info.deps:
                    assert self._tasks[dep].status is Status.SUCCEEDED, (task.info.id, dep)
            assert task.attempts_here <= task.info.max_attempts, task.info.id
            assert (task.status is Status.WAITING) == (task.info.id in self._waiting), task.info.id
            if task.status is Status.WAITING and self._started:
                left = [t for t in task.waiting_for if self._tasks[t].status not in TERMINAL]
                assert len(left) == task.unsettled and (left or not task.waiting_for), task.info.id
        assert running == self.running <= self.limits.concurrency
        assert unstarted == self.unstarted, (unstarted, self.unstarted)
        for kind, n in by_kind.items():
            limit = self.limits.per_kind.get(kind)
            assert limit is None or n <= limit, kind
        self.pool.check()

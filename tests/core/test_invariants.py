"""Property tests: the scheduler driven by random events over random DAGs keeps its invariants.

A Hypothesis state machine builds a random DAG (each task depends on up to three earlier ones),
random per-kind limits, pool size and retry limit, then interleaves dispatches at increasing
times with successes, failures and stale results. After every step the core's own
``check_invariants()`` runs together with checks made from outside, against a model of what was
dispatched. At the end the run is driven to completion, which must terminate with every task
in a terminal state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from swarm.core.budget import Budget, Reservation
from swarm.core.retry import RetryPolicy
from swarm.core.scheduler import (
    TERMINAL,
    Dispatch,
    Failed,
    Limits,
    Retry,
    Scheduler,
    Status,
    TaskInfo,
)
from swarm.core.steps import StepPool
from swarm.dag import longest_remaining
from swarm.errors import StaleAttempt

KINDS = ("llm", "code", "search")
POLICY = RetryPolicy(base_s=0.5, cap_s=4.0)
EPS = 1e-9


@dataclass
class Attempt:
    dispatch: Dispatch
    at: float


@dataclass
class Model:
    """What the test itself knows happened, to check the core against."""

    succeeded: set[str] = field(default_factory=set)
    running: dict[str, Attempt] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    last_attempt: dict[str, int] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)


@st.composite
def dags(draw: st.DrawFn) -> list[TaskInfo]:
    n = draw(st.integers(1, 12))
    max_attempts = draw(st.integers(1, 3))
    ids = [f"t{i}" for i in range(n)]
    deps: dict[str, tuple[str, ...]] = {}
    for i, tid in enumerate(ids):
        picked = draw(st.lists(st.sampled_from(ids[:i]), max_size=3, unique=True)) if i else []
        deps[tid] = tuple(picked)
    kinds = {tid: draw(st.sampled_from(KINDS)) for tid in ids}
    wanted = {tid: draw(st.integers(1, 4)) for tid in ids}
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(ids)
    graph.add_edges_from((d, t) for t, ds in deps.items() for d in ds)
    priority = longest_remaining(graph, {t: float(w) for t, w in wanted.items()})
    return [
        TaskInfo(tid, kinds[tid], deps[tid], priority[tid], i, max_attempts, wanted[tid])
        for i, tid in enumerate(ids)
    ]


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.model = Model()
        self.infos: dict[str, TaskInfo] = {}
        self.sched: Scheduler | None = None

    @property
    def core(self) -> Scheduler:
        assert self.sched is not None
        return self.sched

    @initialize(
        tasks=dags(),
        concurrency=st.integers(1, 4),
        per_kind=st.dictionaries(st.sampled_from(KINDS), st.integers(1, 3), max_size=3),
        pool=st.integers(1, 40),
        fail_fast=st.booleans(),
        seed=st.integers(0, 2**16),
    )
    def build(
        self,
        tasks: list[TaskInfo],
        concurrency: int,
        per_kind: dict[str, int],
        pool: int,
        fail_fast: bool,
        seed: int,
    ) -> None:
        self.infos = {t.id: t for t in tasks}
        limits = Limits(concurrency, per_kind, fail_fast)
        self.sched = Scheduler(tasks, limits, StepPool(pool), POLICY, seed)
        assert self.core.start() == []

    # -- rules ----------------------------------------------------------------------------

    @rule(dt=st.floats(0.0, 5.0))
    def dispatch(self, dt: float) -> None:
        self.now += dt
        for d in self.core.dispatch(self.now):
            # Every start gets its whole allowance (the pool's total at most).
            info = self.infos[d.task_id]
            assert d.allowance == max(1, min(info.steps_wanted, self.core.pool.total))
            self._started(d)
        paused = self.core.paused
        if paused is not None:  # only when nothing runs to return steps
            assert paused.resource == "steps" and paused.needed > paused.left
            assert self.core.dispatch(self.now) == []

    @rule(data=st.data())
    def succeed(self, data: st.DataObject) -> None:
        if not self.model.running:
            return
        attempt = self._pick_running(data)
        d = attempt.dispatch
        used = data.draw(st.integers(0, d.allowance + 2), label="steps used")
        unlocked = self.core.on_success(d.task_id, d.attempt, used)
        del self.model.running[d.task_id]
        self.model.succeeded.add(d.task_id)
        for tid in unlocked:
            assert d.task_id in self.infos[tid].deps
            assert set(self.infos[tid].deps) <= self.model.succeeded
            assert self.core.status(tid) is Status.READY

    @rule(data=st.data(), retryable=st.booleans(), hint=st.none() | st.floats(0.0, 10.0))
    def fail(self, data: st.DataObject, retryable: bool, hint: float | None) -> None:
        if not self.model.running:
            return
        attempt = self._pick_running(data)
        d = attempt.dispatch
        used = data.draw(st.integers(0, d.allowance), label="steps used")
        result = self.core.on_failure(
            d.task_id, d.attempt, used, retryable=retryable, now=self.now, retry_after_s=hint
        )
        del self.model.running[d.task_id]
        self._check_failure(d, result, retryable, hint)

    @rule(data=st.data())
    def stale_result(self, data: st.DataObject) -> None:
        """A result for an attempt that is not the running one is refused and changes nothing."""
        if not self.model.last_attempt:
            return
        tid = data.draw(st.sampled_from(sorted(self.model.last_attempt)), label="task")
        running = self.model.running.get(tid)
        attempt = self.model.last_attempt[tid] - 1 if running else self.model.last_attempt[tid]
        before = self.core.counts(), self.core.pool.spent, self.core.pool.reserved
        with pytest.raises(StaleAttempt):
            self.core.on_success(tid, attempt, 1)
        assert (self.core.counts(), self.core.pool.spent, self.core.pool.reserved) == before

    @rule(data=st.data())
    def suspend(self, data: st.DataObject) -> None:
        """A running attempt ends waiting: for a decision, or on later tasks outside its
        branch (as an orchestrator waits on the sub-agents it spawned)."""
        if not self.model.running:
            return
        d = self._pick_running(data).dispatch
        i = int(d.task_id[1:])
        below = nx.descendants(self._graph(), d.task_id)
        later = [t for t in self.infos if int(t[1:]) > i and t not in below]
        on = data.draw(
            st.lists(st.sampled_from(later), max_size=3, unique=True) if later else st.just([]),
            label="waits on",
        )
        used = data.draw(st.integers(0, d.allowance), label="steps used")
        if self._closes_loop(d.task_id, on):
            before = self.core.counts(), self.core.pool.spent, self.core.pool.reserved
            with pytest.raises(ValueError, match="would wait for itself"):
                self.core.suspend(d.task_id, d.attempt, used, on=on)
            assert (self.core.counts(), self.core.pool.spent, self.core.pool.reserved) == before
            assert self.core.status(d.task_id) is Status.RUNNING
            return
        ready_now = self.core.suspend(d.task_id, d.attempt, used, on=on)
        del self.model.running[d.task_id]
        ended = all(self.core.status(t) in TERMINAL for t in on)
        assert ready_now == (bool(on) and ended)
        expected = Status.READY if ready_now else Status.WAITING
        assert self.core.status(d.task_id) is expected
        if not ready_now:
            self.model.waiting.add(d.task_id)

    def _closes_loop(self, waiter: str, on: list[str]) -> bool:
        """Computed apart from the core: would ``waiter`` waiting on ``on`` close a loop of
        "cannot end before" (dependencies and waits) among tasks that have not ended?"""
        blocked = nx.DiGraph()
        for tid in self.infos:
            if self.core.status(tid) in TERMINAL:
                continue
            blocked.add_node(tid)
            for dep in self.infos[tid].deps:
                blocked.add_edge(tid, dep)
            for other in self.core.waiting_for(tid):
                blocked.add_edge(tid, other)
        blocked.add_edges_from((waiter, other) for other in on)
        return any(
            other in blocked and nx.has_path(blocked, other, waiter)
            for other in on
            if self.core.status(other) not in TERMINAL
        )

    @rule(data=st.data(), approve=st.booleans())
    def decide(self, data: st.DataObject, approve: bool) -> None:
        """An outside decision on a task waiting for one."""
        deciding = sorted(t for t in self.model.waiting if not self.core.waiting_for(t))
        if not deciding:
            return
        tid = data.draw(st.sampled_from(deciding), label="decided")
        self.model.waiting.discard(tid)
        if approve:
            self.core.wake(tid)
            assert self.core.status(tid) is Status.READY
        else:
            failed = self.core.fail_waiting(tid)
            assert failed.task_id == tid and self.core.status(tid) is Status.FAILED
            for skipped in failed.skipped:
                assert self.core.status(skipped) is Status.SKIPPED

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def core_invariants(self) -> None:
        if self.sched is not None:
            self.core.check_invariants()

    @invariant()
    def attempts_stay_within_the_limit(self) -> None:
        if self.sched is None:
            return
        for tid, n in self.model.attempts.items():  # every wake allows one attempt more
            assert n <= self.core.info(tid).max_attempts <= self.infos[tid].max_attempts + n

    @invariant()
    def waiting_tasks_are_known_to_the_core(self) -> None:
        if self.sched is None:
            return
        self.model.waiting = {
            t for t in self.model.waiting if self.core.status(t) is Status.WAITING
        }
        assert set(self.core.waiting()) == self.model.waiting

    @invariant()
    def the_pool_is_never_overdrawn(self) -> None:
        if self.sched is not None:
            pool = self.core.pool
            assert 0 <= pool.spent + pool.reserved <= pool.total
            assert pool.reserved == sum(a.dispatch.allowance for a in self.model.running.values())

    @invariant()
    def the_core_agrees_with_the_model(self) -> None:
        if self.sched is None:
            return
        assert self.core.running == len(self.model.running)
        for tid in self.infos:
            status = self.core.status(tid)
            assert (status is Status.RUNNING) == (tid in self.model.running)
            assert (status is Status.SUCCEEDED) == (tid in self.model.succeeded)

    def teardown(self) -> None:
        if self.sched is not None:
            self._drive_to_completion()

    # -- helpers --------------------------------------------------------------------------

    def _started(self, d: Dispatch) -> None:
        info = self.infos[d.task_id]
        assert set(info.deps) <= self.model.succeeded, "dispatched before its dependencies"
        assert d.task_id not in self.model.running
        assert d.attempt == self.model.last_attempt.get(d.task_id, 0) + 1
        self.model.last_attempt[d.task_id] = d.attempt
        self.model.attempts[d.task_id] = self.model.attempts.get(d.task_id, 0) + 1
        assert self.model.attempts[d.task_id] <= self.core.info(d.task_id).max_attempts
        self.model.running[d.task_id] = Attempt(d, self.now)

    def _pick_running(self, data: st.DataObject) -> Attempt:
        tid = data.draw(st.sampled_from(sorted(self.model.running)), label="running task")
        return self.model.running[tid]

    def _check_failure(
        self, d: Dispatch, result: Retry | Failed, retryable: bool, hint: float | None
    ) -> None:
        if isinstance(result, Retry):
            assert retryable and not self.core.halted
            assert self.model.attempts[d.task_id] < self.core.info(d.task_id).max_attempts
            delay = result.at - self.now  # up to float rounding of now + delay
            assert -EPS <= delay <= max(POLICY.cap_s, hint or 0.0) + EPS
            if hint is not None:
                assert delay >= hint - EPS
            assert self.core.status(d.task_id) is Status.PENDING
            return
        assert result.task_id == d.task_id
        assert self.core.status(d.task_id) is Status.FAILED
        assert self.core.halted or not self.core.limits.fail_fast
        descendants = nx.descendants(self._graph(), d.task_id)
        for tid in result.skipped:
            assert tid in descendants
            assert self.core.status(tid) is Status.SKIPPED
        for tid in descendants:
            assert self.core.status(tid) in (Status.SKIPPED, Status.FAILED)

    def _graph(self) -> nx.DiGraph[str]:
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(self.infos)
        graph.add_edges_from((d, t) for t, info in self.infos.items() for d in info.deps)
        return graph

    def _drive_to_completion(self) -> None:
        """Run like the runtime does, every attempt succeeding, until the core says done."""
        for _ in range(20 * len(self.infos) + 50):
            self.core.check_invariants()
            if self.core.is_done():
                break
            started = self.core.dispatch(self.now)
            for d in started:
                self._started(d)
            if started or self.core.paused is not None:
                continue
            if self.model.running:
                d = self.model.running.pop(min(self.model.running)).dispatch
                self.core.on_success(d.task_id, d.attempt, d.allowance)
                self.model.succeeded.add(d.task_id)
                continue
            if self.core.stalled():  # only decisions can move it on: approve them all
                deciding = [t for t in self.core.waiting() if not self.core.waiting_for(t)]
                assert deciding, "stalled with no task waiting for a decision"
                for tid in deciding:
                    self.core.wake(tid)
                continue
            wake = self.core.next_wakeup()
            assert wake is not None, "not done, nothing running, nothing to wait for"
            self.now = max(self.now, wake)
        else:
            pytest.fail("the run did not finish")
        assert self.core.running == 0
        assert not self.core.dispatch(self.now)
        if self.core.paused is not None:
            # Paused for steps, never failed for them: what could not start is still to run.
            assert self.core.unfinished()
            assert all(self.core.status(t) is not Status.RUNNING for t in self.infos)
        elif not self.core.halted:
            assert self.core.unfinished() == []
            assert all(self.core.status(t) in TERMINAL for t in self.infos)


SchedulerMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestScheduler = SchedulerMachine.TestCase


# -- budgets -----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, database=None)
@example(
    max_tokens=1,
    max_cost=1.0,
    calls=[(0, 0.0, 0.0, False), (0, 1.0, 0.0, True), (0, 1.0, 0.0, False)],
)
@given(
    max_tokens=st.integers(1, 5000),
    max_cost=st.floats(0.01, 10.0),
    calls=st.lists(
        st.tuples(st.integers(0, 2000), st.floats(0.0, 3.0), st.floats(0.0, 1.0), st.booleans()),
        max_size=80,
    ),
)
def test_concurrent_reservations_never_let_spending_pass_the_limit(
    max_tokens: int, max_cost: float, calls: list[tuple[int, float, float, bool]]
) -> None:
    """Many calls in flight at once: each reserves its worst case; some settle in between."""
    budget = Budget(max_tokens=max_tokens, max_cost_usd=max_cost)
    in_flight: list[Reservation] = []
    for tokens, cost, used_share, settle_one in calls:
        held = (budget.held_tokens, budget.held_cost_usd)
        reservation = budget.try_reserve(tokens, cost)
        if reservation is None:  # refused calls hold nothing
            assert (budget.held_tokens, budget.held_cost_usd) == held
        else:
            in_flight.append(reservation)
        if budget.shortfall(tokens, cost) is None and not in_flight:
            assert reservation is not None  # with nothing held, only a shortfall refuses
        if settle_one and in_flight:
            r = in_flight.pop(0)
            # A call never uses more than the worst case it reserved.
            budget.settle(r, int(r.tokens * used_share), r.cost_usd * used_share)
        assert budget.spent_tokens + budget.held_tokens <= max_tokens
        assert budget.spent_cost_usd + budget.held_cost_usd <= max_cost + 1e-9
    for r in in_flight:
        budget.settle(r, r.tokens, r.cost_usd)
    assert budget.held_tokens == 0
    assert budget.spent_tokens <= max_tokens
    assert budget.spent_cost_usd <= max_cost + 1e-9

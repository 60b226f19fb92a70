"""The scheduler state machine driven synchronously by events, its invariants checked each step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import pytest

from swarm.core.budget import Shortfall
from swarm.core.retry import RetryPolicy
from swarm.core.scheduler import (
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

S = Status


def make(
    deps: Mapping[str, Sequence[str]],
    *,
    kinds: Mapping[str, str] | None = None,
    priority: Mapping[str, float] | None = None,
    max_attempts: int = 1,
    steps: int = 1,
    pool: int = 1000,
    concurrency: int = 100,
    per_kind: Mapping[str, int] | None = None,
    fail_fast: bool = False,
    retry: RetryPolicy | None = None,
    start: bool = True,
) -> Scheduler:
    """A scheduler over ``deps`` (task -> its dependencies), in the mapping's order."""
    infos = [
        TaskInfo(
            id=tid,
            kind=(kinds or {}).get(tid, "llm"),
            deps=tuple(task_deps),
            priority=(priority or {}).get(tid, 1.0),
            order=i,
            max_attempts=max_attempts,
            steps_wanted=steps,
        )
        for i, (tid, task_deps) in enumerate(deps.items())
    ]
    sched = Scheduler(
        infos,
        Limits(concurrency, dict(per_kind or {}), fail_fast),
        StepPool(pool),
        retry,
    )
    if start:
        assert sched.start() == []
    sched.check_invariants()
    return sched


def ids(dispatches: Sequence[Dispatch]) -> list[str]:
    return [d.task_id for d in dispatches]


def statuses(sched: Scheduler, *task_ids: str) -> list[Status]:
    return [sched.status(t) for t in task_ids]


def run_one(sched: Scheduler, now: float = 0.0) -> Dispatch:
    [d] = sched.dispatch(now)
    sched.check_invariants()
    return d


def succeed(sched: Scheduler, d: Dispatch, used: int = 1) -> list[str]:
    unlocked = sched.on_success(d.task_id, d.attempt, used)
    sched.check_invariants()
    return unlocked


# -- set-up and ordering ---------------------------------------------------------------------


def test_start_makes_the_sources_ready() -> None:
    sched = make({"a": [], "b": ["a"], "c": []})
    assert statuses(sched, "a", "b", "c") == [S.READY, S.PENDING, S.READY]
    assert sched.counts()["ready"] == 2 and sched.counts()["pending"] == 1
    assert not sched.is_done()


def test_ready_tasks_go_by_priority_then_order() -> None:
    sched = make(
        {"low": [], "high": [], "tie2": [], "tie1": []},
        priority={"low": 1.0, "high": 9.0, "tie2": 5.0, "tie1": 5.0},
        concurrency=1,
    )
    seen = []
    while not sched.is_done():
        d = run_one(sched)
        seen.append(d.task_id)
        succeed(sched, d)
    # tie2 comes before tie1 in the plan, so it wins the tie.
    assert seen == ["high", "tie2", "tie1", "low"]


def test_critical_path_priorities_favour_the_longest_chain() -> None:
    deps = {
        "short": [],
        "long1": [],
        "long2": ["long1"],
        "long3": ["long2"],
        "mid1": [],
        "mid2": ["mid1"],
    }
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(deps)
    graph.add_edges_from((d, t) for t, ds in deps.items() for d in ds)
    sched = make(deps, priority=longest_remaining(graph, {}), concurrency=1)
    seen = []
    while not sched.is_done():
        d = run_one(sched)
        seen.append(d.task_id)
        succeed(sched, d)
    # long2 and mid1 both have 2 tasks left; long2 is earlier in the plan.
    assert seen == ["long1", "long2", "mid1", "short", "long3", "mid2"]


def test_a_task_is_dispatched_with_the_next_attempt_and_its_allowance() -> None:
    sched = make({"a": []}, steps=7)
    assert sched.dispatch(0.0) == [Dispatch("a", 1, 7)]
    assert sched.status("a") is S.RUNNING
    assert sched.attempt("a") == 1
    assert sched.pool.reserved == 7
    assert sched.running == 1


# -- dependencies ------------------------------------------------------------------------------


def test_dependents_are_released_only_on_success() -> None:
    sched = make({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})
    a = run_one(sched)
    assert sched.dispatch(0.0) == []
    assert statuses(sched, "b", "c", "d") == [S.PENDING] * 3
    assert sorted(succeed(sched, a)) == ["b", "c"]
    b, c = sched.dispatch(0.0)
    assert succeed(sched, b) == []
    assert sched.status("d") is S.PENDING
    assert succeed(sched, c) == ["d"]
    d = run_one(sched)
    succeed(sched, d)
    assert sched.is_done()
    assert sched.unfinished() == []
    assert sched.counts()["succeeded"] == 4


# -- limits ------------------------------------------------------------------------------------


def test_global_concurrency_limit() -> None:
    sched = make({t: [] for t in "abcde"}, concurrency=2)
    first = sched.dispatch(0.0)
    assert ids(first) == ["a", "b"]
    assert sched.dispatch(0.0) == []
    succeed(sched, first[0])
    assert ids(sched.dispatch(0.0)) == ["c"]
    assert sched.running == 2


def test_per_kind_limit_holds_a_kind_back_without_blocking_others() -> None:
    sched = make(
        {"x1": [], "x2": [], "y1": [], "x3": []},
        kinds={"x1": "x", "x2": "x", "x3": "x", "y1": "y"},
        priority={"x1": 4.0, "x2": 3.0, "y1": 2.0, "x3": 1.0},
        per_kind={"x": 1},
    )
    first = sched.dispatch(0.0)
    assert ids(first) == ["x1", "y1"]
    assert statuses(sched, "x2", "x3") == [S.READY, S.READY]
    assert sched.dispatch(0.0) == []
    succeed(sched, first[1])
    assert sched.dispatch(0.0) == []  # y finishing frees no x slot
    succeed(sched, first[0])
    # The held tasks keep their priority.
    assert ids(sched.dispatch(0.0)) == ["x2"]


def test_kinds_without_a_limit_share_only_the_global_one() -> None:
    sched = make({t: [] for t in "abc"}, per_kind={"other": 1}, concurrency=3)
    assert ids(sched.dispatch(0.0)) == ["a", "b", "c"]


# -- the step pool -----------------------------------------------------------------------------


def test_allowances_are_drawn_whole_from_the_pool_and_never_overdraw_it() -> None:
    sched = make({t: [] for t in "abc"}, steps=4, pool=10)
    a, b = sched.dispatch(0.0)
    # c would get only 2 of its 4 steps: it waits for a or b to return theirs instead
    assert [a.allowance, b.allowance] == [4, 4]
    assert sched.pool.available == 2 and sched.paused is None
    sched.check_invariants()
    succeed(sched, a, used=1)
    (c,) = sched.dispatch(0.0)
    assert c.allowance == 4


def test_unused_steps_go_back_to_the_pool() -> None:
    sched = make({"a": [], "b": ["a"]}, steps=5, pool=8)
    a = run_one(sched)
    succeed(sched, a, used=2)
    assert (sched.pool.spent, sched.pool.reserved, sched.pool.available) == (2, 0, 6)
    b = run_one(sched)
    assert b.allowance == 5
    succeed(sched, b, used=99)  # a worker cannot charge more than it was granted
    assert sched.pool.spent == 7


def test_dispatch_waits_while_the_pool_is_short_but_work_is_running() -> None:
    sched = make({"a": [], "b": []}, steps=3, pool=3)
    a = run_one(sched)
    assert sched.dispatch(0.0) == []
    assert sched.paused is None and not sched.is_done()  # a may still return steps
    succeed(sched, a, used=1)
    assert sched.dispatch(0.0) == []  # 2 left, b wants 3, nothing runs: pause
    assert sched.paused == Shortfall("steps", 3, 2, 3)
    assert sched.is_done()
    assert sched.status("b") is S.READY  # not failed, not skipped: a resume runs it


def test_a_spent_pool_pauses_the_run_and_fails_nothing() -> None:
    sched = make({"a": [], "b": [], "c": ["b"], "d": []}, steps=2, pool=2, max_attempts=2)
    a = run_one(sched)
    succeed(sched, a, used=2)
    assert sched.dispatch(0.0) == []
    sched.check_invariants()
    assert sched.paused == Shortfall("steps", 2, 0, 2)
    assert statuses(sched, "a", "b", "c", "d") == [S.SUCCEEDED, S.READY, S.PENDING, S.READY]
    assert sched.is_done()
    assert sorted(sched.unfinished()) == ["b", "c", "d"]


def test_a_pool_shortfall_waits_for_a_retry_to_come_due() -> None:
    sched = make({"a": []}, steps=1, pool=1, max_attempts=3)
    a = run_one(sched)
    retry = sched.on_failure("a", a.attempt, 1, retryable=True, now=0.0)
    assert isinstance(retry, Retry)
    assert sched.dispatch(0.0) == [] and sched.paused is None
    assert not sched.is_done()
    assert sched.dispatch(retry.at) == []
    assert sched.paused is not None and sched.is_done()
    sched.check_invariants()


def test_a_task_wanting_more_than_the_pool_waits_for_the_whole_pool() -> None:
    sched = make({"a": []}, steps=50, pool=10)
    (a,) = sched.dispatch(0.0)
    assert a.allowance == 10


def test_a_budget_pause_stops_dispatch_and_keeps_the_stopped_task_pending() -> None:
    sched = make({"a": [], "b": [], "c": ["a"]}, concurrency=1)
    a = run_one(sched)
    sched.pause(Shortfall("tokens", 2100, 50, 1000))
    sched.on_paused("a", a.attempt, 1)
    sched.check_invariants()
    assert sched.dispatch(0.0) == []
    assert sched.is_done()
    assert statuses(sched, "a", "b", "c") == [S.READY, S.READY, S.PENDING]
    sched.pause(Shortfall("cost_usd", 1.0, 0.0, 1.0))
    assert sched.paused is not None and sched.paused.resource == "tokens"  # the first reason


# -- failures and retries ----------------------------------------------------------------------


def test_a_retryable_failure_comes_back_after_its_backoff() -> None:
    policy = RetryPolicy(base_s=2.0, cap_s=30.0)
    sched = make({"a": [], "b": ["a"]}, max_attempts=3, retry=policy)
    a1 = run_one(sched)
    retry = sched.on_failure("a", a1.attempt, 1, retryable=True, now=100.0)
    sched.check_invariants()
    assert isinstance(retry, Retry)
    assert (retry.task_id, retry.attempt) == ("a", 1)
    assert 100.0 <= retry.at <= 102.0  # first retry: uniform in [0, base]
    assert sched.status("a") is S.PENDING
    assert sched.next_wakeup() == retry.at
    assert not sched.is_done()
    assert sched.dispatch(retry.at - 1e-6) == []
    a2 = run_one(sched, retry.at)
    assert (a2.task_id, a2.attempt) == ("a", 2)
    retry2 = sched.on_failure("a", 2, 1, retryable=True, now=200.0)
    assert isinstance(retry2, Retry)
    assert 200.0 <= retry2.at <= 204.0  # second retry: window doubles
    a3 = run_one(sched, retry2.at)
    assert succeed(sched, a3) == ["b"]


def test_a_server_retry_hint_is_honoured() -> None:
    sched = make({"a": []}, max_attempts=2, retry=RetryPolicy(base_s=0.5, cap_s=1.0))
    a = run_one(sched)
    retry = sched.on_failure("a", a.attempt, 0, retryable=True, now=10.0, retry_after_s=45.0)
    assert retry == Retry("a", 1, 55.0)


def test_after_max_attempts_the_task_fails_and_its_descendants_are_skipped() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": ["a", "x"], "x": [], "y": ["x"]}
    sched = make(deps, max_attempts=2, priority={"a": 3.0}, concurrency=1)
    now = 0.0
    a = run_one(sched, now)
    retry = sched.on_failure("a", a.attempt, 1, retryable=True, now=now)
    assert isinstance(retry, Retry)
    # The independent branch dispatches while a waits for its backoff.
    x = run_one(sched, now)
    assert x.task_id == "x"
    assert succeed(sched, x) == ["y"]
    now = retry.at
    a2 = run_one(sched, now)
    assert a2.task_id == "a" and a2.attempt == 2
    failed = sched.on_failure("a", 2, 1, retryable=True, now=now)
    sched.check_invariants()
    assert isinstance(failed, Failed)
    assert (failed.task_id, failed.attempt) == ("a", 2)
    assert sorted(failed.skipped) == ["b", "c", "d"]
    assert statuses(sched, "a", "b", "c", "d") == [S.FAILED, S.SKIPPED, S.SKIPPED, S.SKIPPED]
    y = run_one(sched, now)
    assert y.task_id == "y"
    succeed(sched, y)
    assert sched.is_done()
    assert sched.unfinished() == []


def test_a_non_retryable_failure_fails_at_once() -> None:
    sched = make({"a": [], "b": ["a"]}, max_attempts=5)
    a = run_one(sched)
    failed = sched.on_failure("a", a.attempt, 1, retryable=False, now=0.0)
    assert failed == Failed("a", 1, ("b",))
    assert sched.is_done()


def test_fail_fast_halts_dispatch() -> None:
    sched = make(
        {"a": [], "b": [], "c": [], "d": ["b"]}, concurrency=2, fail_fast=True, max_attempts=3
    )
    a, b = sched.dispatch(0.0)
    failed = sched.on_failure("a", a.attempt, 1, retryable=False, now=0.0)
    assert isinstance(failed, Failed)
    assert sched.halted
    assert sched.dispatch(0.0) == []
    assert not sched.is_done()  # b is still running
    # A running task's result is still recorded, but releases nothing to run.
    assert succeed(sched, b) == ["d"]
    assert sched.dispatch(0.0) == []
    assert sched.is_done()
    assert sorted(sched.unfinished()) == ["c", "d"]


def test_no_retries_are_scheduled_once_halted() -> None:
    sched = make({"a": [], "b": []}, concurrency=2, max_attempts=3)
    a, _ = sched.dispatch(0.0)
    sched.halt()
    result = sched.on_failure("a", a.attempt, 0, retryable=True, now=0.0)
    assert isinstance(result, Failed)
    assert sched.dispatch(0.0) == []


def test_cancelled_attempts_return_their_steps() -> None:
    sched = make({"a": [], "b": ["a"]}, steps=5, pool=10)
    a = run_one(sched)
    sched.halt()
    sched.on_cancelled("a", a.attempt, 2)
    sched.check_invariants()
    assert sched.status("a") is S.CANCELLED
    assert (sched.pool.spent, sched.pool.reserved, sched.running) == (2, 0, 0)
    assert sched.is_done()
    assert sorted(sched.unfinished()) == ["b"]


# -- stale attempts ----------------------------------------------------------------------------


def test_a_result_for_a_task_that_is_not_running_is_stale() -> None:
    sched = make({"a": [], "b": ["a"]})
    with pytest.raises(StaleAttempt) as exc:
        sched.on_success("b", 1, 0)
    assert (exc.value.task_id, exc.value.attempt, exc.value.current) == ("b", 1, 0)


def test_a_result_from_an_old_attempt_is_stale() -> None:
    sched = make({"a": []}, max_attempts=2)
    a1 = run_one(sched)
    retry = sched.on_failure("a", a1.attempt, 0, retryable=True, now=0.0)
    assert isinstance(retry, Retry)
    run_one(sched, retry.at)
    for call in (
        lambda: sched.on_success("a", 1, 0),
        lambda: sched.on_failure("a", 1, 0, retryable=True, now=0.0),
        lambda: sched.on_cancelled("a", 1, 0),
    ):
        with pytest.raises(StaleAttempt) as exc:
            call()
        assert (exc.value.attempt, exc.value.current) == (1, 2)
    assert sched.status("a") is S.RUNNING
    sched.check_invariants()


def test_a_result_cannot_be_recorded_twice() -> None:
    sched = make({"a": [], "b": ["a"]})
    a = run_one(sched)
    succeed(sched, a)
    with pytest.raises(StaleAttempt):
        sched.on_success("a", a.attempt, 0)
    assert sched.status("b") is S.READY
    assert sched.pool.spent == 1


# -- resume ------------------------------------------------------------------------------------


def test_restore_counts_succeeded_tasks_as_met_dependencies() -> None:
    sched = make({"a": [], "b": ["a"], "c": ["b"]}, start=False)
    sched.restore("a", S.SUCCEEDED, 1)
    sched.restore("b", S.RUNNING, 3)  # was running when the process died
    assert sched.start() == []
    sched.check_invariants()
    assert statuses(sched, "a", "b", "c") == [S.SUCCEEDED, S.READY, S.PENDING]
    b = run_one(sched)
    assert (b.task_id, b.attempt) == ("b", 4)  # attempt numbers continue
    assert succeed(sched, b) == ["c"]


def test_restored_attempt_numbers_do_not_use_up_the_retry_limit() -> None:
    sched = make({"a": []}, start=False, max_attempts=2)
    sched.restore("a", S.CANCELLED, 5)
    sched.start()
    a = run_one(sched)
    assert a.attempt == 6
    retry = sched.on_failure("a", 6, 0, retryable=True, now=0.0)
    assert isinstance(retry, Retry)
    a = run_one(sched, retry.at)
    assert a.attempt == 7
    assert isinstance(sched.on_failure("a", 7, 0, retryable=True, now=0.0), Failed)


def test_a_restored_failure_skips_its_descendants_at_start() -> None:
    sched = make({"a": [], "b": ["a"], "c": ["b"], "d": []}, start=False)
    sched.restore("a", S.FAILED, 2)
    assert sched.start() == [Failed("a", 2, ("b", "c"))]
    sched.check_invariants()
    assert statuses(sched, "a", "b", "c", "d") == [S.FAILED, S.SKIPPED, S.SKIPPED, S.READY]
    assert ids(sched.dispatch(0.0)) == ["d"]


def test_a_restored_skip_stays_skipped() -> None:
    sched = make({"a": [], "b": []}, start=False)
    sched.restore("b", S.SKIPPED, 0)
    sched.start()
    assert ids(sched.dispatch(0.0)) == ["a"]
    assert sched.status("b") is S.SKIPPED


def test_restore_must_come_before_start() -> None:
    sched = make({"a": []})
    with pytest.raises(RuntimeError):
        sched.restore("a", S.SUCCEEDED, 1)


def test_restored_steps_spent_count_against_the_pool() -> None:
    sched = make({"a": [], "b": []}, start=False, steps=3, pool=10)
    sched.pool.spent = 7  # the runtime restores the pool with the steps already used
    sched.start()
    assert [d.allowance for d in sched.dispatch(0.0)] == [3]  # b waits for a's unused steps


def test_info_reports_the_task() -> None:
    sched = make({"a": [], "b": ["a"]}, kinds={"b": "code"})
    assert sched.info("b").kind == "code"
    assert sched.info("b").deps == ("a",)


def test_a_paused_run_waits_for_a_streaming_planner_to_record_its_tasks() -> None:
    sched = make({"a": [], "b": []}, steps=1, pool=1)
    sched.hold()
    succeed(sched, run_one(sched))
    assert sched.dispatch(0.0) == [] and sched.paused is not None
    assert not sched.is_done()  # the planner's remaining tasks are still to be recorded
    sched.add_task(TaskInfo("c", "llm", (), 1.0, 9, 1, 1))
    assert sched.dispatch(0.0) == []
    sched.release()
    assert sched.is_done()
    assert statuses(sched, "b", "c") == [S.READY, S.READY]

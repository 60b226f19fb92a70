"""The core's suspension: a waiting task holds no slot and no steps, and wakes by a decision or
when the tasks it waits on have ended, whatever their outcome."""

from __future__ import annotations

import pytest

from swarm.core.scheduler import Limits, Scheduler, Status, TaskInfo
from swarm.core.steps import StepPool


def info(tid: str, *deps: str, steps: int = 2, attempts: int = 1, pri: float = 1.0) -> TaskInfo:
    return TaskInfo(tid, "llm", deps, pri, 0, attempts, steps)


def core(
    *tasks: TaskInfo, concurrency: int = 4, pool: int = 100, fail_fast: bool = False
) -> Scheduler:
    sched = Scheduler(tasks, Limits(concurrency, fail_fast=fail_fast), StepPool(pool))
    assert sched.start() == []
    return sched


def ids(sched: Scheduler, now: float = 0.0) -> list[str]:
    return sorted(d.task_id for d in sched.dispatch(now))


def test_a_waiting_task_frees_its_slot_and_steps_while_other_branches_run() -> None:
    tasks = (info("gate", pri=9), info("a"), info("b"), info("after", "gate"))
    sched = core(*tasks, concurrency=1, pool=4)
    [d] = sched.dispatch(0.0)
    assert d.task_id == "gate"
    assert sched.suspend("gate", d.attempt, 0) is False
    assert sched.status("gate") is Status.WAITING
    assert sched.running == 0 and sched.pool.reserved == 0 and sched.pool.spent == 0
    for _ in range(2):  # the other branches run, one at a time, on the freed slot
        [d] = sched.dispatch(0.0)
        assert d.task_id in {"a", "b"}
        sched.on_success(d.task_id, d.attempt, 2)  # 4 steps spent in all: the whole pool
        sched.check_invariants()
    assert sched.dispatch(0.0) == []
    assert not sched.is_done() and sched.stalled()
    assert sched.waiting() == ["gate"] and sched.status("after") is Status.PENDING


def test_wake_makes_the_task_ready_with_an_extra_attempt_and_its_branch_goes_on() -> None:
    sched = core(info("gate"), info("after", "gate"))
    [d] = sched.dispatch(0.0)
    sched.suspend("gate", d.attempt, 1)
    assert sched.stalled() and not sched.is_done()
    assert sched.dispatch(0.0) == []
    sched.wake("gate")
    assert not sched.stalled()
    [d2] = sched.dispatch(0.0)
    assert (d2.task_id, d2.attempt) == ("gate", 2)  # one attempt allowed, plus the wake's
    assert sched.on_success("gate", 2, 1) == ["after"]
    [d3] = sched.dispatch(0.0)
    sched.on_success("after", d3.attempt, 1)
    assert sched.is_done()
    assert sched.pool.spent == 3
    sched.check_invariants()


def test_fail_waiting_fails_the_task_and_skips_its_descendants() -> None:
    sched = core(info("gate"), info("after", "gate"), info("last", "after"), info("free"))
    ds = {d.task_id: d for d in sched.dispatch(0.0)}
    sched.suspend("gate", ds["gate"].attempt, 0)
    failed = sched.fail_waiting("gate")
    assert failed.task_id == "gate" and set(failed.skipped) == {"after", "last"}
    assert sched.status("gate") is Status.FAILED
    sched.on_success("free", ds["free"].attempt, 1)
    assert sched.is_done() and not sched.stalled()
    sched.check_invariants()


def test_fail_fast_halts_on_a_rejection() -> None:
    sched = core(info("gate"), info("other"), fail_fast=True)
    ds = {d.task_id: d for d in sched.dispatch(0.0)}
    sched.suspend("gate", ds["gate"].attempt, 0)
    sched.fail_waiting("gate")
    assert sched.halted


def test_waiting_on_tasks_wakes_when_all_have_ended_whatever_the_outcome() -> None:
    sched = core(info("orch", steps=5))
    [d] = sched.dispatch(0.0)
    for child in (info("c1"), info("c2"), info("c3", "c2")):
        assert sched.add_task(child)
    assert sched.suspend("orch", d.attempt, 3, on=["c1", "c2", "c3"]) is False
    assert sched.pool.spent == 3 and sched.pool.reserved == 0
    ds = {x.task_id: x for x in sched.dispatch(0.0)}
    assert set(ds) == {"c1", "c2"}
    sched.on_failure("c2", ds["c2"].attempt, 1, retryable=False, now=0.0)  # skips c3
    assert sched.status("c3") is Status.SKIPPED
    assert sched.status("orch") is Status.WAITING
    sched.on_success("c1", ds["c1"].attempt, 1)
    assert sched.status("orch") is Status.READY  # a failed child does not skip the waiter
    [again] = sched.dispatch(0.0)
    assert (again.task_id, again.attempt) == ("orch", 2)
    sched.on_success("orch", 2, 1)
    assert sched.is_done()
    sched.check_invariants()


def test_suspend_on_tasks_that_already_ended_is_ready_at_once() -> None:
    sched = core(info("done"), info("orch", "done"))
    [d] = sched.dispatch(0.0)
    sched.on_success("done", d.attempt, 1)
    [o] = sched.dispatch(0.0)
    assert sched.suspend("orch", o.attempt, 1, on=["done"]) is True
    assert sched.status("orch") is Status.READY


def test_a_waiter_can_wait_again_after_each_wake() -> None:
    sched = core(info("orch"))
    for round_ in range(3):
        [d] = sched.dispatch(0.0)
        assert d.task_id == "orch" and d.attempt == round_ + 1
        child = f"c{round_}"
        sched.add_task(info(child))
        sched.suspend("orch", d.attempt, 1, on=[child])
        [c] = sched.dispatch(0.0)
        sched.on_success(child, c.attempt, 1)
        sched.check_invariants()
    [d] = sched.dispatch(0.0)
    sched.on_success("orch", d.attempt, 1)
    assert sched.is_done()


def test_cancelled_and_replaced_tasks_end_the_wait_too() -> None:
    sched = core(info("orch"))
    [d] = sched.dispatch(0.0)
    sched.add_task(info("c1"))
    sched.add_task(info("c2"))
    sched.suspend("orch", d.attempt, 0, on=["c1", "c2"])
    ds = {x.task_id: x for x in sched.dispatch(0.0)}
    sched.on_cancelled("c1", ds["c1"].attempt, 0)
    sched.on_failure("c2", ds["c2"].attempt, 0, retryable=False, now=0.0)
    assert sched.status("orch") is Status.READY


def test_halted_with_tasks_waiting_is_done() -> None:
    sched = core(info("gate"))
    [d] = sched.dispatch(0.0)
    sched.suspend("gate", d.attempt, 0)
    sched.halt()
    assert sched.is_done() and not sched.stalled()


def test_a_paused_run_is_not_stalled() -> None:
    sched = core(info("gate", pri=9), info("big", steps=50), pool=10)
    [d] = sched.dispatch(0.0)  # big waits for the whole pool behind gate
    assert d.task_id == "gate"
    sched.suspend("gate", d.attempt, 5)
    assert sched.dispatch(0.0) == []
    assert sched.paused is not None and sched.paused.resource == "steps"
    assert not sched.stalled() and sched.is_done()


def test_restore_waiting_on_resume() -> None:
    tasks = (info("orch"), info("c1"), info("c2"), info("gate"))
    sched = Scheduler(tasks, Limits(4), StepPool(100))
    sched.restore("orch", Status.WAITING, 1, on=["c1", "c2"])
    sched.restore("c1", Status.SUCCEEDED, 1)
    sched.restore("gate", Status.WAITING, 1)
    sched.start()
    sched.check_invariants()
    [c2] = sched.dispatch(0.0)
    assert c2.task_id == "c2"
    assert sched.status("orch") is Status.WAITING
    sched.on_success("c2", c2.attempt, 1)
    [o] = sched.dispatch(0.0)
    assert (o.task_id, o.attempt) == ("orch", 2)
    sched.on_success("orch", 2, 1)
    assert sched.stalled() and sched.waiting() == ["gate"]
    sched.wake("gate")
    [g] = sched.dispatch(0.0)
    assert (g.task_id, g.attempt) == ("gate", 2)


def test_restore_waiting_on_tasks_that_all_ended_wakes_at_start() -> None:
    sched = Scheduler((info("orch"), info("c1")), Limits(4), StepPool(100))
    sched.restore("orch", Status.WAITING, 1, on=["c1"])
    sched.restore("c1", Status.FAILED, 1)
    sched.start()
    assert sched.status("orch") is Status.READY


def test_bad_calls_are_refused() -> None:
    sched = core(info("a"), info("b"))
    ds = {d.task_id: d for d in sched.dispatch(0.0)}
    with pytest.raises(ValueError, match="cannot wait on"):
        sched.suspend("a", ds["a"].attempt, 0, on=["nope"])
    with pytest.raises(ValueError, match="cannot wait on"):
        sched.suspend("a", ds["a"].attempt, 0, on=["a"])
    assert sched.status("a") is Status.RUNNING  # nothing changed by a refused call
    with pytest.raises(ValueError, match="not waiting"):
        sched.wake("b")
    with pytest.raises(ValueError, match="not waiting"):
        sched.fail_waiting("b")


def test_a_wait_that_could_never_end_is_refused() -> None:
    # t4 needs t0; t0 waits on t1; t1 waiting on t4 would wait for itself through t4 -> t0.
    sched = core(info("t0"), info("t1"), info("t4", "t0"), info("free"))
    ds = {d.task_id: d for d in sched.dispatch(0.0)}
    assert sched.suspend("t0", ds["t0"].attempt, 0, on=["t1"]) is False
    with pytest.raises(ValueError, match=r"would wait for itself \(t1 -> t4 -> t0 -> t1\)"):
        sched.suspend("t1", ds["t1"].attempt, 0, on=["t4"])
    with pytest.raises(ValueError, match="would wait for itself"):
        sched.suspend("t1", ds["t1"].attempt, 0, on=["free", "t0"])
    assert sched.status("t1") is Status.RUNNING and sched.running == 2
    sched.check_invariants()
    # A task that has ended blocks nothing: waiting on it is fine.
    sched.on_success("free", ds["free"].attempt, 1)
    assert sched.suspend("t1", ds["t1"].attempt, 0, on=["free"]) is True


def test_waiting_on_a_descendant_is_refused() -> None:
    sched = core(info("top"), info("mid", "top"), info("low", "mid"))
    [d] = sched.dispatch(0.0)
    with pytest.raises(ValueError, match=r"top -> low -> mid -> top"):
        sched.suspend("top", d.attempt, 0, on=["low"])

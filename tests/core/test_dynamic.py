"""Tasks added to a live scheduler (streamed plans, expansions)."""

from __future__ import annotations

import pytest

from swarm.core.scheduler import Limits, Scheduler, Status, TaskInfo
from swarm.core.steps import StepPool


def info(tid: str, *deps: str, order: int = 0) -> TaskInfo:
    return TaskInfo(tid, "llm", deps, 1.0, order, 1, 1)


def test_hold_keeps_the_run_open_until_released() -> None:
    s = Scheduler([], Limits(4), StepPool(10))
    s.start()
    s.hold()
    assert not s.is_done()
    assert s.add_task(info("a"))
    (d,) = s.dispatch(0.0)
    s.on_success("a", d.attempt, 1)
    assert not s.is_done()
    s.release()
    assert s.is_done()


def test_added_task_waits_for_its_dependencies() -> None:
    s = Scheduler([info("a")], Limits(4), StepPool(10))
    s.start()
    (d,) = s.dispatch(0.0)
    assert s.add_task(info("b", "a"))
    assert s.dispatch(0.0) == []
    s.on_success("a", d.attempt, 1)
    assert [x.task_id for x in s.dispatch(0.0)] == ["b"]
    s.check_invariants()


def test_added_task_after_a_failed_dependency_is_skipped() -> None:
    s = Scheduler([info("a")], Limits(4), StepPool(10))
    s.start()
    (d,) = s.dispatch(0.0)
    s.on_failure("a", d.attempt, 1, retryable=False, now=0.0)
    assert not s.add_task(info("b", "a"))
    assert s.status("b") is Status.SKIPPED


def test_unknown_dependency_or_duplicate_is_refused() -> None:
    s = Scheduler([info("a")], Limits(4), StepPool(10))
    s.start()
    with pytest.raises(KeyError):
        s.add_task(info("b", "zz"))
    with pytest.raises(ValueError, match="already exists"):
        s.add_task(info("a"))

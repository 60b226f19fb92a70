"""The core's one door: events in, commands out; a recorded log replayed rebuilds the core."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.core.budget import Shortfall
from swarm.core.machine import (
    AttemptFailed,
    AttemptSucceeded,
    AttemptSuspended,
    BudgetShort,
    Command,
    Decided,
    Event,
    Finish,
    Halt,
    Hold,
    Machine,
    Pause,
    Release,
    Replaced,
    Revise,
    Skip,
    Stall,
    TasksArrived,
    Tick,
    WaitRefused,
    WakeAt,
    replay,
)
from swarm.core.retry import RetryPolicy
from swarm.core.scheduler import Dispatch, Failed, Limits, Retry, Scheduler, TaskInfo
from swarm.core.steps import StepPool


def info(tid: str, *deps: str, steps: int = 1, attempts: int = 2) -> TaskInfo:
    return TaskInfo(
        tid, "llm", deps, 1.0, int(tid[1:]) if tid[1:].isdigit() else 0, attempts, steps
    )


def fresh(
    tasks: list[TaskInfo], concurrency: int = 3, pool: int = 1000, seed: int = 7
) -> Scheduler:
    core = Scheduler(tasks, Limits(concurrency), StepPool(pool), RetryPolicy(0.5, 4.0), seed)
    core.start()
    return core


def snapshot(core: Scheduler, ids: list[str]) -> tuple[object, ...]:
    return (
        tuple((t, core.status(t), core.attempt(t)) for t in ids),
        core.pool.spent,
        core.pool.reserved,
        core.running,
        core.paused,
        core.halted,
    )


def test_a_run_through_the_door() -> None:
    m = Machine(fresh([info("t0"), info("t1", "t0"), info("t2")]))
    first = m.handle(Tick(0.0))
    assert sorted(c.task_id for c in first if isinstance(c, Dispatch)) == ["t0", "t2"]
    out = m.handle(AttemptSucceeded("t0", 1, 1), AttemptSuspended("t2", 1, 0))
    assert [c for c in out if isinstance(c, Dispatch)] == [Dispatch("t1", 1, 1)]
    out = m.handle(AttemptSucceeded("t1", 1, 1))
    assert out == [Stall(("t2",))]
    assert m.handle(Tick(1.0)) == []  # told once
    out = m.handle(Decided("t2", True))
    assert out == [Dispatch("t2", 2, 1)]
    out = m.handle(AttemptSucceeded("t2", 2, 1))
    assert len(out) == 1 and isinstance(out[0], Finish) and out[0].counts["succeeded"] == 3


def test_failures_retries_rejections_skips_and_pauses_are_commands() -> None:
    m = Machine(fresh([info("t0", attempts=2), info("t1", "t0"), info("t2")]))
    m.handle(Tick(0.0))
    out = m.handle(AttemptFailed("t0", 1, 0, retryable=True, now=1.0))
    retry = next(c for c in out if isinstance(c, Retry))
    assert any(isinstance(c, WakeAt) and c.at == retry.at for c in out)
    out = m.handle(TasksArrived((info("t9", "t0"),)))
    assert not any(isinstance(c, Skip) for c in out)  # t0 may still succeed
    out = m.handle(AttemptSuspended("t2", 1, 0))
    out = m.handle(Decided("t2", False))
    assert Failed("t2", 1, ()) in out
    out = m.handle(Tick(retry.at))
    [d] = [c for c in out if isinstance(c, Dispatch)]
    assert (d.task_id, d.attempt) == ("t0", 2)
    out = m.handle(AttemptFailed("t0", 2, 0, retryable=True, now=retry.at))
    failed = next(c for c in out if isinstance(c, Failed))
    assert set(failed.skipped) == {"t1", "t9"}
    assert isinstance(out[-1], Finish)
    late = Machine(fresh([info("t0"), info("t1")]))
    late.handle(Tick(0.0))
    short = Shortfall("tokens", 10, 5, 100)
    out = late.handle(BudgetShort(short))
    assert out == [Pause(short)]
    out = late.handle(AttemptSucceeded("t0", 1, 1), AttemptSucceeded("t1", 1, 1))
    assert isinstance(out[-1], Finish)


def drive(
    tasks: list[TaskInfo], seed: int, concurrency: int, pool: int
) -> tuple[Machine, list[Command], list[str]]:
    """A stand-in runtime: carries out the commands, with outcomes drawn from ``seed``."""
    rng = random.Random(seed)
    m = Machine(fresh(tasks, concurrency, pool))
    running: dict[str, Dispatch] = {}
    waiting: set[str] = set()
    now = 0.0
    counter = 0
    out: list[Command] = m.handle(Tick(now))
    given: list[Command] = list(out)
    added: list[str] = []
    for _ in range(500):
        for c in out:
            if isinstance(c, Dispatch):
                running[c.task_id] = c
        if any(isinstance(c, Finish) for c in out):
            break
        events: list[Event] = []
        now += rng.random()
        if running and rng.random() < 0.8:
            d = running.pop(rng.choice(sorted(running)))
            roll = rng.random()
            used = rng.randint(0, d.allowance)
            if roll < 0.55:
                events.append(AttemptSucceeded(d.task_id, d.attempt, used))
            elif roll < 0.75:
                events.append(AttemptFailed(d.task_id, d.attempt, used, rng.random() < 0.7, now))
            elif roll < 0.9:
                counter += 1
                child = info(f"c{counter}", steps=rng.randint(1, 3))
                added.append(child.id)
                events.append(TasksArrived((child,)))
                events.append(AttemptSuspended(d.task_id, d.attempt, used, (child.id,)))
            else:
                waiting.add(d.task_id)
                events.append(AttemptSuspended(d.task_id, d.attempt, used))
        if waiting and (any(isinstance(c, Stall) for c in out) or rng.random() < 0.2):
            tid = rng.choice(sorted(waiting))
            waiting.discard(tid)
            events.append(Decided(tid, rng.random() < 0.8))
        if rng.random() < 0.02:
            events.append(Halt())
        events.append(Tick(now))
        out = m.handle(*events)
        given.extend(out)
        if not running and not waiting and not any(isinstance(c, Dispatch | Finish) for c in out):
            wake = next((c.at for c in out if isinstance(c, WakeAt)), None)
            if wake is None:
                break  # paused: nothing can run
            now = max(now, wake)
    return m, given, added


@settings(max_examples=60, deadline=None, database=None)
@given(
    n=st.integers(1, 10),
    edges=st.integers(0, 2**32),
    seed=st.integers(0, 2**16),
    concurrency=st.integers(1, 4),
    pool=st.integers(5, 60),
)
def test_replaying_the_log_rebuilds_the_core_and_its_commands(
    n: int, edges: int, seed: int, concurrency: int, pool: int
) -> None:
    rng = random.Random(edges)
    tasks = [
        info(
            f"t{i}",
            *rng.sample([f"t{j}" for j in range(i)], min(i, rng.randint(0, 2))),
            steps=rng.randint(1, 4),
        )
        for i in range(n)
    ]
    original, given, added = drive(tasks, seed, concurrency, pool)
    original.core.check_invariants()
    again, commands = replay(fresh(tasks, concurrency, pool), original.log)
    assert commands == given
    ids = [t.id for t in tasks] + added
    assert snapshot(again.core, ids) == snapshot(original.core, ids)
    assert again.core.counts() == original.core.counts()
    assert again.core.waiting() == original.core.waiting()


def test_holds_revisions_and_refused_waits_are_events_and_commands() -> None:
    m = Machine(fresh([info("t0", attempts=1), info("t1", "t0"), info("t2")]), revisions=1)
    m.handle(Tick(0.0), Hold())  # tasks recorded, not yet committed: the run stays open
    out = m.handle(AttemptSucceeded("t2", 1, 1))
    assert not any(isinstance(c, Finish) for c in out)
    out = m.handle(AttemptFailed("t0", 1, 0, retryable=False, now=1.0))
    failed = Failed("t0", 1, ("t1",))
    assert out[:2] == [failed, Revise(failed, 1)]  # one revision allowed: asked once
    out = m.handle(TasksArrived((info("t3"),)), Release())
    [d] = [c for c in out if isinstance(c, Dispatch)]
    out = m.handle(Replaced(("t0", "t1")), Release(), AttemptSucceeded(d.task_id, 1, 1))
    assert isinstance(out[-1], Finish) and out[-1].counts["replaced"] == 2
    waits = Machine(fresh([info("t0"), info("t1", "t0")]))
    waits.handle(Tick(0.0))
    out = waits.handle(AttemptSuspended("t0", 1, 0, on=("t1",)))  # on its own dependent
    [refused] = [c for c in out if isinstance(c, WaitRefused)]
    assert refused.failed == Failed("t0", 1, ("t1",)) and "cannot wait" in refused.reason
    assert not any(isinstance(c, Failed) for c in out)  # said once, by the refusal

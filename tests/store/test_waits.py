"""The store's side of waiting tasks: ``TaskWaiting`` is fenced like a result, a wake or a
failure applies only to a task still waiting after that attempt, and a resume reads back
what each waiting task waits on."""

from __future__ import annotations

from typing import Any

import pytest

from swarm.errors import AlreadyDecided, NoApproval
from swarm.store import Store
from swarm.store.approvals import ApprovalStore
from swarm.store.ops import (
    ApprovalRequested,
    Op,
    TasksSkipped,
    TaskWaiting,
    TaskWoken,
    WaitFailed,
)
from swarm.store.records import Wait
from tests.store.builders import new_run, started

pytestmark = pytest.mark.anyio
CONFORMANCE = True
"""Every test here runs on SQLite and on PostgreSQL (see tests/store/conftest.py)."""


async def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    async with store.engine.connect() as conn:
        return [tuple(row) for row in (await conn.exec_driver_sql(sql)).all()]


def waiting(task_id: str, attempt: int = 1, **kwargs: Any) -> TaskWaiting:
    return TaskWaiting("r1", task_id, attempt, 2000.0, 2001.0, **kwargs)


async def test_a_wait_then_a_wake_then_the_next_attempt_in_one_group(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda batch: None)
    ops: list[Op] = [
        started("t0"),
        waiting("t0", on=("t1",), reason="spawn", tokens_in=7),
        TaskWoken("r1", "t0", 1, 2002.0, "spawn"),
        started("t0", attempt=2),
    ]
    await writer.write_now(ops)
    assert writer.stale == []
    assert await _rows(
        store, "SELECT status, attempt, tokens_in FROM tasks WHERE task_id='t0'"
    ) == [("running", 2, 7)]
    assert await _rows(store, "SELECT attempt, status FROM attempts") == [(1, "suspended")]
    types = await _rows(store, "SELECT type, attempt FROM events WHERE task_id='t0' ORDER BY id")
    assert types == [
        ("task.started", 1),
        ("task.waiting", 1),
        ("task.woken", 1),
        ("task.started", 2),
    ]


async def test_a_wait_of_an_attempt_no_longer_current_is_refused(store: Store) -> None:
    await store.create_run(new_run(n_tasks=1))
    writer = store.writer(lambda batch: None)
    await writer.write_now([started("t0"), started("t0", attempt=2)])
    stale = waiting("t0", attempt=1)
    await writer.write_now([stale])
    assert [(op.task_id, op.attempt, op.outcome) for op in writer.stale] == [("t0", 1, "suspended")]
    assert await _rows(store, "SELECT status FROM tasks") == [("running",)]
    assert await _rows(store, "SELECT count(*) FROM events WHERE type='task.waiting'") == [(0,)]


async def test_a_failed_wait_fails_the_task_once_and_its_branch_is_skipped(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda batch: None)
    await writer.write_now([started("t0"), waiting("t0")])
    fail = WaitFailed("r1", "t0", 1, 2003.0, "rejected by ann: no", "Rejected")
    await writer.write_now([fail, TasksSkipped("r1", ("t1",), "t0", 2003.0)])
    await writer.write_now([TaskWoken("r1", "t0", 1, 2004.0)])  # too late: changes nothing
    assert await _rows(store, "SELECT task_id, status, error_kind FROM tasks ORDER BY 1") == [
        ("t0", "failed", "Rejected"),
        ("t1", "skipped", None),
    ]


async def test_waits_are_read_back_for_the_current_attempt_only(store: Store) -> None:
    await store.create_run(new_run(n_tasks=3))
    writer = store.writer(lambda batch: None)
    await writer.write_now(
        [
            started("t0"),
            waiting("t0", on=("t2",), reason="spawn"),
            TaskWoken("r1", "t0", 1, 2002.0, "spawn"),
            started("t0", attempt=2),
            waiting("t0", attempt=2),
            started("t1"),
            waiting("t1", on=("t2",), reason="spawn"),
        ]
    )
    assert await store.waits("r1") == {
        "t0": Wait(2, (), "approval"),
        "t1": Wait(1, ("t2",), "spawn"),
    }


async def test_an_approval_is_requested_with_its_wait_and_decided_once(store: Store) -> None:
    await store.create_run(new_run(n_tasks=2))
    writer = store.writer(lambda batch: None)
    request = ApprovalRequested("r1", "t1", 1, 2000.5, "ok?", 60.0)
    await writer.write_now([started("t0"), waiting("t0"), started("t1"), request, waiting("t1")])
    await writer.write_now([request])  # written again (a replayed group): the row is kept
    approvals = ApprovalStore(store, clock=lambda: 3000.25)
    [pending] = await approvals.pending("r1")
    assert (pending.task_id, pending.attempt, pending.prompt) == ("t1", 1, "ok?")
    assert pending.requested_at == 2000.5 and pending.inputs == {"t0": None}
    with pytest.raises(NoApproval):
        await approvals.decide("r1", "t0", "approved", by="ann", note=None)
    made = await approvals.decide("r1", "t1", "rejected", by="ann", note="no")
    assert (made.decision, made.decided_at) == ("rejected", 3000.25)
    with pytest.raises(AlreadyDecided, match="already rejected by ann"):
        await approvals.decide("r1", "t1", "approved", by="bob", note=None)
    assert await approvals.pending("r1") == []
    assert [(d.task_id, d.decision, d.note) for d in await approvals.decisions("r1")] == [
        ("t1", "rejected", "no")
    ]
    assert await approvals.requested("r1") == {"t1": (1, 2000.5)}

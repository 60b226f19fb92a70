"""Approval gates through the driver and a file database: a gated task waits before any model
call while independent branches run; decisions come from another connection (another process
in tests/cli), once; a rejection fails the task and skips its branch; a resume applies what
was decided while no driver ran; timeouts read the injected clock (hours in virtual time)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.errors import AlreadyDecided, NoApproval
from swarm.plan import Plan, TaskSpec
from swarm.providers.sim import SimProvider
from swarm.runtime import retrying
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.approvals import ApprovalStore
from swarm.store.store import Store
from tests.fakes import ScriptedProvider, plan_data

pytestmark = pytest.mark.anyio


def rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def rows_soon(db: Path, sql: str) -> list[tuple[Any, ...]] | None:
    """``rows``, or None while the database is still being created."""
    try:
        return rows(db, sql)
    except sqlite3.OperationalError:
        return None


def gated_plan(approval: Any = True) -> dict[str, Any]:
    return plan_data(
        [
            {"id": "draft", "kind": "llm", "prompt": "draft"},
            {
                "id": "publish",
                "kind": "llm",
                "prompt": "publish",
                "deps": ["draft"],
                "approval": approval,
            },
            {"id": "announce", "kind": "llm", "prompt": "announce", "deps": ["publish"]},
            {"id": "side", "kind": "llm", "prompt": "side"},
        ]
    )


async def execute(
    db: Path, data: dict[str, Any], provider: ScriptedProvider, hooks: runs.Hooks | None = None
) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        plan = Plan.model_validate(data)
        return await runs.execute(store, plan, provider, runs.RunOptions(), run_id="r", hooks=hooks)
    finally:
        await store.close()


async def resume(
    db: Path, provider: ScriptedProvider, hooks: runs.Hooks | None = None
) -> dict[str, Any]:
    store = await Store.open(db)
    try:
        return await runs.resume(store, "r", provider, hooks=hooks)
    finally:
        await store.close()


async def decide(db: Path, task_id: str, decision: str, note: str | None = None) -> None:
    """A decision from another connection to the database, as another process makes it."""
    store = await Store.open(db)
    try:
        await ApprovalStore(store).decide("r", task_id, decision, by="ann", note=note)
    finally:
        await store.close()


async def test_a_gate_holds_its_branch_before_any_call_while_the_others_finish(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    provider = ScriptedProvider()
    summary = await execute(db, gated_plan({"prompt": "ship it?"}), provider)
    assert summary["status"] == "waiting"
    assert summary["waiting"] == {"publish": {"attempt": 1, "on": [], "reason": "approval"}}
    assert sorted(provider.tasks_called()) == ["draft", "side"]  # publish made no call
    assert rows(db, "SELECT task_id, status FROM tasks ORDER BY task_id") == [
        ("announce", "pending"),
        ("draft", "succeeded"),
        ("publish", "waiting"),
        ("side", "succeeded"),
    ]
    assert rows(db, "SELECT status FROM runs") == [("waiting",)]
    store = await Store.open(db)
    try:
        [pending] = await ApprovalStore(store).pending("r")
    finally:
        await store.close()
    assert (pending.task_id, pending.attempt, pending.prompt) == ("publish", 1, "ship it?")
    assert pending.inputs == {"draft": "answer to draft"}  # what the approver decides on

    await decide(db, "publish", "approved", "looks good")  # no driver runs now
    provider2 = ScriptedProvider()
    summary = await resume(db, provider2)
    assert summary["status"] == "succeeded"
    assert provider2.tasks_called() == ["publish", "announce"]  # nothing ran twice
    assert rows(db, "SELECT attempt, status FROM attempts WHERE task_id='publish' ORDER BY 1") == [
        (1, "suspended"),
        (2, "succeeded"),
    ]
    events = [t for (t,) in rows(db, "SELECT type FROM events WHERE task_id='publish' ORDER BY id")]
    assert events == [
        "task.started",
        "approval.requested",
        "task.waiting",
        "approval.approved",
        "task.woken",
        "task.started",
        "task.succeeded",
    ]
    [(data,)] = rows(db, "SELECT data_json FROM events WHERE type='task.woken'")
    assert '"by": "ann"' in data and '"note": "looks good"' in data


async def test_a_rejection_fails_the_task_with_the_note_and_skips_its_branch(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    await execute(db, gated_plan(), ScriptedProvider())
    await decide(db, "publish", "rejected", "not yet")
    provider = ScriptedProvider()
    summary = await resume(db, provider)
    assert summary["status"] == "failed" and provider.calls == []
    assert summary["counts"]["failed"] == 1 and summary["counts"]["skipped"] == 1
    assert rows(db, "SELECT task_id, status, error FROM tasks WHERE status <> 'succeeded'") == [
        ("publish", "failed", "rejected by ann: not yet"),
        ("announce", "skipped", "dependency publish failed"),
    ]


async def test_a_decision_is_made_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    await execute(db, gated_plan(), ScriptedProvider())
    await decide(db, "publish", "approved")
    with pytest.raises(AlreadyDecided, match="already approved by ann") as raised:
        await decide(db, "publish", "rejected")
    assert raised.value.exit_code == 6
    with pytest.raises(NoApproval, match="'side' has reached no approval gate"):
        await decide(db, "side", "approved")
    assert rows(db, "SELECT decision, decided_by FROM approvals") == [("approved", "ann")]
    assert [t for (t,) in rows(db, "SELECT type FROM events WHERE type LIKE 'approval.%'")] == [
        "approval.requested",
        "approval.approved",
    ]


async def test_a_live_driver_picks_up_a_decision_from_another_connection(tmp_path: Path) -> None:
    db = tmp_path / "s.db"

    async def approve_soon() -> None:
        with anyio.fail_after(10):
            while rows_soon(db, "SELECT count(*) FROM approvals") != [(1,)]:  # noqa: ASYNC110
                await anyio.sleep(0.05)  # another process: nothing to wait on but the file
        await decide(db, "publish", "approved")

    async with anyio.create_task_group() as tg:
        tg.start_soon(approve_soon)
        summary = await execute(
            db, gated_plan(), ScriptedProvider(), runs.Hooks(wait_approvals=True)
        )
    assert summary["status"] == "succeeded"
    [(woken,)] = rows(db, "SELECT at FROM events WHERE type='task.woken'")
    [(decided,)] = rows(db, "SELECT decided_at FROM approvals")
    assert woken - decided < 1.5  # polled every 0.5 s


class ManualClock:
    """Virtual time that moves only when the test says so; sleepers wake when it passes."""

    def __init__(self) -> None:
        self._now = 0.0
        self._moved = anyio.Event()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        until = self._now + seconds
        while self._now < until:
            await self._moved.wait()

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._moved.set()
        self._moved = anyio.Event()


async def run_with_clock(
    db: Path, data: dict[str, Any], clock: ManualClock, during: Callable[[], Awaitable[None]]
) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    drivers: list[RunDriver] = []
    hooks = runs.Hooks(wait_approvals=True, clock=clock, on_start=drivers.append)

    async def go() -> None:
        out.append(await execute(db, data, ScriptedProvider(), hooks))

    async with anyio.create_task_group() as tg:
        tg.start_soon(go)
        await during()
    return out[0]


async def wait_for(db: Path, sql: str, expected: list[tuple[Any, ...]]) -> None:
    with anyio.fail_after(10):
        while rows_soon(db, sql) != expected:  # noqa: ASYNC110
            await anyio.sleep(0.02)


@pytest.mark.parametrize(("policy", "status"), [("reject", "failed"), ("approve", "succeeded")])
async def test_a_gate_held_for_hours_in_virtual_time_then_its_timeout_decides(
    tmp_path: Path, policy: str, status: str
) -> None:
    db = tmp_path / "s.db"
    clock = ManualClock()
    gate = {"timeout_s": 3 * 3600, "on_timeout": policy}

    async def during() -> None:
        await wait_for(db, "SELECT status FROM tasks WHERE task_id='side'", [("succeeded",)])
        for _ in range(2):  # two hours pass: the branch still waits, the run still goes
            clock.advance(3600)
            await anyio.sleep(0.1)
            assert rows(db, "SELECT status FROM tasks WHERE task_id='publish'") == [("waiting",)]
            assert rows(db, "SELECT status FROM runs") == [("running",)]
        clock.advance(3600)

    summary = await run_with_clock(db, gated_plan(gate), clock, during)
    assert summary["status"] == status
    decision = "rejected" if policy == "reject" else "approved"
    assert rows(db, "SELECT decision, decided_by, note FROM approvals") == [
        (decision, "timeout", "no decision within 10800 s"),
    ]


async def test_a_pause_timeout_ends_the_run_waiting_with_the_gate_open(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    clock = ManualClock()
    gate = {"timeout_s": 60, "on_timeout": "pause"}

    async def during() -> None:
        await wait_for(db, "SELECT status FROM tasks WHERE task_id='side'", [("succeeded",)])
        clock.advance(61)

    summary = await run_with_clock(db, gated_plan(gate), clock, during)
    assert summary["status"] == "waiting"
    assert rows(db, "SELECT decision FROM approvals") == [(None,)]


async def test_a_run_kept_waiting_for_approvals_can_be_cancelled(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    drivers: list[RunDriver] = []

    async def cancel_when_waiting() -> None:
        await wait_for(db, "SELECT status FROM tasks WHERE task_id='side'", [("succeeded",)])
        await wait_for(db, "SELECT status FROM tasks WHERE task_id='publish'", [("waiting",)])
        drivers[0].cancel()

    hooks = runs.Hooks(wait_approvals=True, on_start=drivers.append)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_when_waiting)
            summary = await execute(db, gated_plan(), ScriptedProvider(), hooks)
    assert summary["status"] == "cancelled"
    assert rows(db, "SELECT status FROM tasks WHERE task_id='publish'") == [("waiting",)]
    await decide(db, "publish", "approved")
    assert (await resume(db, ScriptedProvider()))["status"] == "succeeded"


async def test_a_task_streamed_in_while_the_run_goes_is_gated_too(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    plan = Plan.model_validate(gated_plan())

    async def stream() -> AsyncIterator[TaskSpec]:
        for spec in plan.tasks:
            yield spec

    header = Plan.model_validate(plan_data([{"id": "x", "kind": "llm", "prompt": "x"}]))
    provider = ScriptedProvider()
    store = await Store.open(db)
    try:
        summary = await runs.execute_streamed(
            store, header, stream(), provider, runs.RunOptions(), run_id="r"
        )
    finally:
        await store.close()
    assert summary["status"] == "waiting" and "publish" not in provider.tasks_called()


async def test_a_rejected_task_retried_asks_again_and_runs_once_approved(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    await execute(db, gated_plan(), ScriptedProvider())
    await decide(db, "publish", "rejected", "not yet")
    assert (await resume(db, ScriptedProvider()))["status"] == "failed"
    store = await Store.open(db)
    try:
        again = await retrying.retry(store, "r", ScriptedProvider())
    finally:
        await store.close()
    assert again["status"] == "waiting"  # the gate asks again, at the task's new attempt
    assert rows(db, "SELECT attempt, decision FROM approvals ORDER BY attempt") == [
        (1, "rejected"),
        (2, None),
    ]
    await decide(db, "publish", "approved")
    provider = ScriptedProvider()
    assert (await resume(db, provider))["status"] == "succeeded"
    assert provider.tasks_called() == ["publish", "announce"]


async def test_a_rejection_asks_the_replanner_when_the_run_allows_revisions(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    store = await Store.open(db)
    try:
        options = runs.RunOptions(max_replans=1, artifacts_dir=str(tmp_path / "runs"))
        plan = Plan.model_validate(gated_plan())
        first = await runs.execute(store, plan, SimProvider(), options, run_id="r")
        assert first["status"] == "waiting"
        await ApprovalStore(store).decide("r", "publish", "rejected", by="ann", note="redo")
        await runs.resume(store, "r", SimProvider())
    finally:
        await store.close()
    [(data,)] = rows(db, "SELECT data_json FROM events WHERE type = 'plan.revised'")
    assert '"failed": "publish"' in data and "rejected by ann: redo" in data
    assert rows(db, "SELECT status FROM tasks WHERE task_id = 'publish'") == [("replaced",)]

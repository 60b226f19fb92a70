"""LISTEN/NOTIFY on a real PostgreSQL server: a decision or ``swarm cancel`` from another process
wakes a live driver at once (the polls are set to a minute here, so only a notification can
pass the tests in time); a dropped listener connection falls back to polling, loses nothing,
and comes back. :class:`~swarm.runtime.notify.Wakeups` alone, without a server, below."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest

from swarm.plan import Plan
from swarm.runtime import approvals as approvals_module
from swarm.runtime import driver as driver_module
from swarm.runtime import notify as notify_module
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.runtime.notify import Wakeups
from swarm.store.approvals import ApprovalStore
from swarm.store.pg_notify import payload
from swarm.store.pg_sql import dollar
from swarm.store.store import Store
from tests.fakes import ScriptedProvider
from tests.runtime.test_approvals import gated_plan

pytestmark = pytest.mark.anyio
LONG_POLL_S = 60.0
"""The polls in the NOTIFY tests: far beyond the latency they assert."""


async def pg_rows(url: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(dollar(sql), *args)]
    finally:
        await conn.close()


async def wait_for(url: str, sql: str, expected: list[tuple[Any, ...]]) -> None:
    with anyio.fail_after(30):
        while await pg_rows(url, sql) != expected:  # noqa: ASYNC110
            await anyio.sleep(0.05)  # another process's writes: nothing to wait on but the rows


async def swarm_cli(*args: str) -> None:
    """``swarm ARGS`` in another process (the decision or cancel a person makes)."""
    env = {k: v for k, v in os.environ.items() if k != "SWARM_DB"}
    done = await anyio.run_process([sys.executable, "-m", "swarm.cli", *args], env=env)
    assert done.returncode == 0, done.stderr.decode()


@pytest.fixture
def long_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(approvals_module, "POLL_S", LONG_POLL_S)
    monkeypatch.setattr(driver_module, "CANCEL_POLL_S", LONG_POLL_S)


async def drive(
    url: str, during: Callable[[RunDriver], Awaitable[None]], *, limit_s: float = 45
) -> dict[str, Any]:
    """Execute the gated plan (kept waiting for approvals) while ``during(driver)`` runs."""
    drivers: list[RunDriver] = []
    out: list[dict[str, Any]] = []
    started = anyio.Event()

    def on_start(driver: RunDriver) -> None:
        drivers.append(driver)
        started.set()

    async def go() -> None:
        store = await Store.open(url)
        try:
            hooks = runs.Hooks(wait_approvals=True, on_start=on_start)
            plan = Plan.model_validate(gated_plan())
            out.append(
                await runs.execute(
                    store, plan, ScriptedProvider(), runs.RunOptions(), run_id="r", hooks=hooks
                )
            )
        finally:
            await store.close()

    with anyio.fail_after(limit_s):
        async with anyio.create_task_group() as tg:
            tg.start_soon(go)
            await started.wait()
            await during(drivers[0])
    return out[0]


async def listening(driver: RunDriver, connections: int = 1) -> None:
    with anyio.fail_after(30):
        while not (driver.wakeups.listening and driver.wakeups.connections >= connections):  # noqa: ASYNC110
            await anyio.sleep(0.02)  # the listener's state, read as a test only reads it


async def woken_after_decision(url: str) -> float:
    [(woken,)] = await pg_rows(url, "SELECT at FROM events WHERE type = 'task.woken'")
    [(decided,)] = await pg_rows(url, "SELECT decided_at FROM approvals")
    return float(woken - decided)


WAITING = "SELECT status FROM tasks WHERE task_id = 'publish'"


@pytest.mark.usefixtures("long_polls")
async def test_an_approval_from_another_process_wakes_the_driver_by_notify(
    postgres_url: str,
) -> None:
    async def approve(driver: RunDriver) -> None:
        await wait_for(postgres_url, WAITING, [("waiting",)])
        await listening(driver)
        await swarm_cli("approve", "r", "publish", "--db", postgres_url)

    summary = await drive(postgres_url, approve)
    assert summary["status"] == "succeeded"
    assert await woken_after_decision(postgres_url) < 2.0  # the poll would take 60 s


@pytest.mark.usefixtures("long_polls")
async def test_a_rejection_from_another_process_fails_the_task_at_once(postgres_url: str) -> None:
    async def reject(driver: RunDriver) -> None:
        await wait_for(postgres_url, WAITING, [("waiting",)])
        await listening(driver)
        await swarm_cli("reject", "r", "publish", "--db", postgres_url, "--note", "no")

    summary = await drive(postgres_url, reject, limit_s=30)
    assert summary["status"] == "failed"
    assert await pg_rows(postgres_url, WAITING) == [("failed",)]


@pytest.mark.usefixtures("long_polls")
async def test_swarm_cancel_from_another_process_stops_the_driver_at_once(
    postgres_url: str,
) -> None:
    async def cancel(driver: RunDriver) -> None:
        await wait_for(postgres_url, WAITING, [("waiting",)])
        await listening(driver)
        await swarm_cli("cancel", "r", "--db", postgres_url)

    summary = await drive(postgres_url, cancel, limit_s=30)
    assert summary["status"] == "cancelled"
    [(asked, ended)] = await pg_rows(
        postgres_url, "SELECT cancel_requested_at, finished_at FROM runs"
    )
    assert ended - asked < 2.0


async def test_a_dropped_listener_falls_back_to_polling_and_loses_nothing(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listener's backend is ended on the server and stays down (a reconnect only after a
    minute): the approval made meanwhile is found by the 0.3 s poll."""
    monkeypatch.setattr(approvals_module, "POLL_S", 0.3)
    monkeypatch.setattr(notify_module, "RECONNECT_S", LONG_POLL_S)

    async def drop_then_approve(driver: RunDriver) -> None:
        await wait_for(postgres_url, WAITING, [("waiting",)])
        await listening(driver)
        pid = driver.wakeups.server_pid
        await pg_rows(postgres_url, "SELECT pg_terminate_backend(?)", pid)
        with anyio.fail_after(10):
            while driver.wakeups.listening:  # noqa: ASYNC110
                await anyio.sleep(0.02)  # the server ends the link: seen when asyncpg sees it
        store = await Store.open(postgres_url)  # another connection, as another process
        try:
            await ApprovalStore(store).decide("r", "publish", "approved", by="ann", note=None)
        finally:
            await store.close()

    summary = await drive(postgres_url, drop_then_approve)
    assert summary["status"] == "succeeded"
    assert await woken_after_decision(postgres_url) < 2.0
    [(decisions,)] = await pg_rows(postgres_url, "SELECT count(*) FROM approvals")
    assert decisions == 1


@pytest.mark.usefixtures("long_polls")
async def test_the_listener_reconnects_and_notifications_wake_the_driver_again(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify_module, "RECONNECT_S", 0.1)

    async def drop_then_approve(driver: RunDriver) -> None:
        await wait_for(postgres_url, WAITING, [("waiting",)])
        await listening(driver)
        await pg_rows(postgres_url, "SELECT pg_terminate_backend(?)", driver.wakeups.server_pid)
        await listening(driver, connections=2)
        await swarm_cli("approve", "r", "publish", "--db", postgres_url)

    summary = await drive(postgres_url, drop_then_approve)
    assert summary["status"] == "succeeded"
    assert await woken_after_decision(postgres_url) < 2.0


# -- Wakeups alone ---------------------------------------------------------------------------


@pytest.fixture
async def wakeups() -> AsyncIterator[Wakeups]:
    yield Wakeups("r 1")  # a run id with a space: the payload is split once


async def test_a_wait_returns_when_rung_and_otherwise_after_its_timeout(wakeups: Wakeups) -> None:
    with anyio.fail_after(1):
        wakeups.ring("approval")
        await wakeups.wait("approval", LONG_POLL_S)  # rung before the wait: returns at once
    before = anyio.current_time()
    await wakeups.wait("approval", 0.05)  # the ring was consumed: the poll's timeout
    assert anyio.current_time() - before >= 0.05
    with anyio.fail_after(1):
        await wakeups.wait("cancel", 0.0)


async def test_only_this_runs_notifications_ring_and_only_their_kind(wakeups: Wakeups) -> None:
    wakeups._heard(None, 1, "swarm_decisions", payload("cancel", "r 2"))
    wakeups._heard(None, 1, "swarm_decisions", "something else")
    wakeups._heard(None, 1, "swarm_decisions", payload("cancel", "r 1"))
    before = anyio.current_time()
    await wakeups.wait("approval", 0.05)
    assert anyio.current_time() - before >= 0.05  # a cancel does not ring the approvals
    with anyio.fail_after(1):
        await wakeups.wait("cancel", LONG_POLL_S)


async def test_without_a_url_the_listener_returns_at_once_and_polling_is_all() -> None:
    with anyio.fail_after(1):
        await Wakeups("r").listen()

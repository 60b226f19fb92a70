"""The store's half of LISTEN/NOTIFY (PostgreSQL): a decision and a cancel request are
announced by their own transaction, delivered at its commit and never for one rolled back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from swarm.errors import AlreadyDecided, StoreError
from swarm.store import Store
from swarm.store.approvals import ApprovalStore
from swarm.store.ops import ApprovalRequested
from swarm.store.pg_notify import CHANNEL, announce, parse, payload
from tests.store.builders import new_run, started

pytestmark = pytest.mark.anyio


class Heard:
    """A LISTEN connection of its own, as a driver's listener has; what it heard, in order."""

    def __init__(self) -> None:
        self.payloads: list[str] = []
        self._new = anyio.Event()

    def __call__(self, _conn: object, _pid: int, _channel: str, text: str) -> None:
        self.payloads.append(text)
        self._new.set()

    async def settle(self, count: int) -> list[str]:
        """The payloads once ``count`` have arrived, and a moment later (for any extra)."""
        with anyio.fail_after(10):
            while len(self.payloads) < count:
                await self._new.wait()
                self._new = anyio.Event()
        await anyio.sleep(0.3)
        return self.payloads


@pytest.fixture
async def heard(postgres_url: str) -> AsyncIterator[Heard]:
    import asyncpg

    conn = await asyncpg.connect(postgres_url)
    got = Heard()
    await conn.add_listener(CHANNEL, got)
    try:
        yield got
    finally:
        await conn.close()


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(postgres_url)
    await opened.create_run(new_run(n_tasks=2))
    request = ApprovalRequested("r1", "t1", 1, 2000.5, "ok?", None)
    await opened.writer(lambda _: None).write_now([started("t1"), request])
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_decision_is_announced_once_and_a_refused_one_not(
    pg_store: Store, heard: Heard
) -> None:
    approvals = ApprovalStore(pg_store)
    await approvals.decide("r1", "t1", "approved", by="ann", note=None)
    with pytest.raises(AlreadyDecided):
        await approvals.decide("r1", "t1", "rejected", by="bob", note=None)
    assert await heard.settle(1) == [payload("approval", "r1")]


async def test_a_cancel_request_is_announced(pg_store: Store, heard: Heard) -> None:
    await pg_store.request_cancel("r1")
    assert await heard.settle(1) == [payload("cancel", "r1")]


async def test_a_rolled_back_transaction_announces_nothing(pg_store: Store, heard: Heard) -> None:
    with pytest.raises(StoreError):
        async with pg_store._writing("test") as conn:
            await announce(conn, "cancel", "r1")
            await conn.exec_driver_sql("SELECT 1/0")
    assert await heard.settle(0) == []


def test_a_payload_names_its_kind_and_run() -> None:
    assert parse(payload("approval", "run with spaces")) == ("approval", "run with spaces")
    assert parse("approval ") is None and parse("vacuum r1") is None

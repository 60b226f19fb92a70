"""How a live driver hears of decisions made in other processes: LISTEN where it can, polls always.

The driver's two watchers (approvals, :mod:`swarm.runtime.approvals`; ``swarm cancel``,
:meth:`~swarm.runtime.driver.RunDriver._watch_cancel_requests`) look in the database every
poll interval. :class:`Wakeups` lets them look sooner: on PostgreSQL, :meth:`Wakeups.listen`
keeps a connection of its own LISTENing on :data:`~swarm.store.pg_notify.CHANNEL`, and a
notification for this run (sent by the deciding transaction at its commit) wakes the watcher of
its kind at once. The notification carries no decision: the watcher reads it from the database
as a poll would, so a notification lost, late or doubled changes nothing but the latency.

Polling stays the fallback: on SQLite (no channel), and on PostgreSQL while the listener's
connection is down (it is opened again every :data:`RECONNECT_S`; once it is back, every
watcher looks at once, for what was decided while nobody listened).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from swarm.errors import StoreError
from swarm.store.pg_notify import CHANNEL, KINDS, Kind, parse

if TYPE_CHECKING:
    import asyncpg

RECONNECT_S = 2.0
"""How long the listener waits before opening its connection again after it failed or dropped."""


class Wakeups:
    """One run's wake-ups by kind (``approval``, ``cancel``); a listener when given a URL."""

    def __init__(self, run_id: str, url: str | None = None) -> None:
        self.run_id = run_id
        self.url = url
        """The PostgreSQL database to LISTEN on; None (SQLite): the watchers only poll."""
        self._rung = {kind: anyio.Event() for kind in KINDS}
        self.listening = False
        """Whether the listener's connection is up now (while it is not, polling alone)."""
        self.connections = 0
        """How many times the listener's connection was opened (a test sees a reconnect)."""
        self.server_pid: int | None = None
        """The listener's backend process on the server (a test ends it to drop the link)."""

    async def wait(self, kind: Kind, timeout_s: float) -> None:
        """Return when this run's ``kind`` was announced since the last wait, or after
        ``timeout_s`` (the poll interval) in any case."""
        rung = self._rung[kind]
        with anyio.move_on_after(timeout_s):
            await rung.wait()
        if rung.is_set():
            self._rung[kind] = anyio.Event()

    def ring(self, kind: Kind) -> None:
        self._rung[kind].set()

    def _ring_all(self) -> None:
        for kind in KINDS:
            self.ring(kind)

    async def listen(self) -> None:
        """Keep a LISTEN connection while the run goes (in the driver's task group; returns at
        once on SQLite). Never fails the run: a connection that cannot be opened or drops is
        tried again, and the watchers poll meanwhile."""
        if self.url is None:
            return
        while True:
            with contextlib.suppress(StoreError):
                await self._listen_once(self.url)
            await anyio.sleep(RECONNECT_S)

    async def _listen_once(self, url: str) -> None:
        from swarm.store.pg_writer import connect  # asyncpg only on PostgreSQL

        conn = await connect(url)
        lost = anyio.Event()
        try:
            conn.add_termination_listener(lambda _: lost.set())
            await _subscribe(conn, self._heard)
            self.listening, self.server_pid = True, conn.get_server_pid()
            self.connections += 1
            self._ring_all()  # decided while nobody listened: look now
            await lost.wait()
        finally:
            self.listening, self.server_pid = False, None
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _heard(self, _conn: object, _pid: int, _channel: str, text: str) -> None:
        found = parse(text)
        if found is not None and found[1] == self.run_id:
            self.ring(found[0])


async def _subscribe(
    conn: asyncpg.Connection, callback: Callable[[object, int, str, str], None]
) -> None:
    """LISTEN on the channel; a failure (the server went away meanwhile) is a StoreError."""
    try:
        await conn.add_listener(CHANNEL, callback)
    except Exception as exc:  # any of asyncpg's, as the link goes: the watchers poll meanwhile
        raise StoreError(f"cannot LISTEN on {CHANNEL}: {exc}") from exc

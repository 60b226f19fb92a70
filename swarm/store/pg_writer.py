"""The single writer on PostgreSQL: the same group commit, fences and reports as SQLite's.

:class:`PgWriter` is :class:`~swarm.store.writer.Writer` with its transactions sent over one
asyncpg connection of its own instead of a ``sqlite3`` one: everything above the transaction
(submission, grouping, the shielded commit, ``on_commit`` only after the commit, the heartbeat,
the owner lease) is the SQLite writer's, unchanged. A transaction locks the run's row first
(:data:`swarm.store.pg_sql.GUARD_SQL`) and compares the owner epoch; fenced results and attempt
starts are one statement per segment that returns what it matched (see :mod:`pg_sql`). There is
no WAL to checkpoint: the server does that.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio

from swarm.errors import StoreError
from swarm.store import pg_sql as sql
from swarm.store.batch import Plan, Row, artifact_rows, attempt_row, finish_row, step_rows
from swarm.store.failures import repaired
from swarm.store.ops import AttemptFinished, Op
from swarm.store.pg_failures import LostConnection, pg_storable, pg_write_error, unstorable
from swarm.store.target import asyncpg_dsn, shown
from swarm.store.writer import (
    Fence,
    OnCommit,
    Writer,
    _Conflict,
    _TakenOver,
    run_id_taken,
)

if TYPE_CHECKING:
    import asyncpg

_HINT = "check that the PostgreSQL server is running and the URL (--db / SWARM_DB) is right"


async def connect(url: str) -> asyncpg.Connection:
    """An asyncpg connection to ``url``; :class:`StoreError` naming the server if it fails."""
    import asyncpg

    try:
        with anyio.fail_after(30):
            return await asyncpg.connect(asyncpg_dsn(url))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreError(f"cannot connect to {shown(url)}: {exc}", hint=_HINT) from exc


def failures() -> tuple[type[BaseException], ...]:
    """What stops a PostgreSQL writer: the server's errors, the client's, the network's."""
    import asyncpg

    return (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, StoreError, _Conflict)


def data_errors() -> tuple[type[BaseException], ...]:
    """What says a value cannot be stored: asyncpg's encoding errors, the server's class 22."""
    import asyncpg
    from asyncpg.exceptions import _base

    return (UnicodeEncodeError, OverflowError, _base.DataError, asyncpg.DataError)


class PgWriter(Writer):
    """The writer of a PostgreSQL store; see the module docstring and :class:`Writer`."""

    def __init__(
        self,
        url: str,
        on_commit: OnCommit,
        *,
        clock: Callable[[], float],
        heartbeat_s: float = 1.0,
        fence: Fence | None = None,
    ) -> None:
        super().__init__(None, on_commit, clock=clock, heartbeat_s=heartbeat_s, fence=fence)
        self._url = url
        self._path = shown(url)
        self._pg: asyncpg.Connection | None = None
        self._failures = failures()
        self._data_errors = data_errors()

    async def open(self, *, new_run_id: str | None = None) -> None:
        async with self._lock:
            conn = await self._pg_connection()
            if new_run_id is None:
                return
            self._new_run = new_run_id
            try:
                taken = await conn.fetchval("SELECT 1 FROM runs WHERE run_id = $1", new_run_id)
            except self._failures as exc:
                await self._drop_pg()
                raise StoreError(f"cannot read {self._path}: {exc}") from exc
            if taken is not None:
                await self._drop_pg()
                raise run_id_taken(new_run_id, self._path)

    async def _pg_connection(self) -> asyncpg.Connection:
        if self._pg is None:
            self._pg = await connect(self._url)
        return self._pg

    async def _drop_pg(self) -> None:
        conn, self._pg = self._pg, None
        if conn is not None:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def write_now(self, ops: Sequence[Op]) -> None:
        try:
            await super().write_now(ops)
        except BaseException:
            if not self._running:  # nothing else will close the connection
                with anyio.CancelScope(shield=True):
                    await self._disconnect()
            raise

    def _wal_bytes(self) -> int:
        return 0  # the server checkpoints its own WAL

    async def _checkpoint(self) -> None:
        self._checkpointing = False

    async def _disconnect(self) -> None:
        async with self._lock:
            await self._drop_pg()

    async def _repair(self, ops: list[Op]) -> list[Op] | None:
        """``ops`` with each one whose data the server refuses stored repaired (lone
        surrogates and NULs → U+FFFD, integers clamped), noted as on SQLite; or None."""
        problems = await unstorable(await self._pg_connection(), ops, _apply, self._data_errors)
        return repaired(ops, problems, pg_storable, "PostgreSQL")

    def _write_error(self, exc: BaseException, count: int) -> StoreError:
        return pg_write_error(exc, self._path, count, recorded=self._new_run is None)

    def _is_duplicate_run(self, exc: BaseException) -> bool:
        return getattr(exc, "constraint_name", None) == "pk_runs"

    async def _transact(self, plan: Plan, beats: list[Row], *, careful: bool) -> set[int]:
        conn = await self._pg_connection()
        try:
            async with conn.transaction():
                await self._check_fence_pg(conn, plan)
                return await _apply(conn, plan, beats)
        except (_TakenOver, _Conflict):
            raise
        except BaseException as exc:
            if not conn.is_closed():
                raise
            self._pg = None
            if isinstance(exc, Exception):  # whatever asyncpg raised as the link went
                raise LostConnection(f"the connection closed: {exc}") from exc
            raise

    async def _check_fence_pg(self, conn: asyncpg.Connection, plan: Plan) -> None:
        if self._fence is None:
            return
        run_id, epoch = self._fence
        if any(row[0] == run_id for seg in plan.segments for row in seg.created):
            return
        current = await conn.fetchval(sql.GUARD_SQL, run_id)
        if current != epoch:
            raise _TakenOver(None if current is None else int(current))


async def _apply(conn: asyncpg.Connection, plan: Plan, beats: list[Row]) -> set[int]:
    """``plan`` inside the open transaction, as :func:`swarm.store.writer._apply`; returns the
    batch indices refused."""
    refused: set[int] = set()
    taken: set[str] = set()
    for seg in plan.segments:
        await _many(conn, sql.INSERT_RUN_SQL, seg.created)
        await _many(conn, sql.RUN_STARTED_SQL, seg.run_started)
        if seg.tasks_added:
            await conn.execute(sql.INSERT_TASK_SQL, *sql.columns(seg.tasks_added))
        await _many(conn, sql.UPDATE_PLAN_SQL, seg.plans)
        await _many(conn, sql.UPDATE_DEPS_SQL, seg.deps)
        await _started(conn, seg.attempt_started)
        await _many(conn, sql.INSERT_CALL_SQL, seg.calls)
        await _many(conn, sql.FINISH_CALL_SQL, seg.calls_finished)
        if seg.finished:
            accepted = await _fenced(conn, seg.finished, refused)
            taken.update(op.run_id for i, op in seg.finished if i in refused)
            await _many(conn, sql.INSERT_ATTEMPT_SQL, [attempt_row(op) for op in accepted])
            await _many(conn, sql.INSERT_STEP_SQL, [r for op in accepted for r in step_rows(op)])
            await _many(
                conn, sql.INSERT_ARTIFACT_SQL, [r for op in accepted for r in artifact_rows(op)]
            )
        await _many(conn, sql.TASK_WOKEN_SQL, seg.woken)
        await _many(conn, sql.WAIT_FAILED_SQL, seg.wait_failed)
        await _many(conn, sql.INSERT_APPROVAL_SQL, seg.approvals)
        await _many(conn, sql.TASK_SKIPPED_SQL, seg.skipped)
        await _many(conn, sql.TASK_REPLACED_SQL, seg.replaced)
        refused.update(i for i, row in seg.run_finished if row[-1] in taken)
        cancelled = [row for row in seg.cancelled if row[1] not in taken]
        await _many(conn, sql.TASK_CANCELLED_SQL, cancelled)
        for i, row in seg.run_finished:
            if i not in refused and await conn.execute(sql.RUN_FINISHED_SQL, *row) != "UPDATE 1":
                refused.add(i)
    await _many(conn, sql.INSERT_EVENT_SQL, [row for i, row in plan.events if i not in refused])
    await _many(conn, sql.HEARTBEAT_SQL, beats)
    return refused


async def _fenced(
    conn: asyncpg.Connection, finished: list[tuple[int, AttemptFinished]], refused: set[int]
) -> list[AttemptFinished]:
    matched = await _matched(conn, sql.ATTEMPT_FINISHED_SQL, [finish_row(op) for _, op in finished])
    accepted = []
    for ordinal, (index, op) in enumerate(finished, 1):
        if ordinal in matched:
            accepted.append(op)
        else:
            refused.add(index)
    return accepted


async def _started(conn: asyncpg.Connection, rows: list[Row]) -> None:
    """Attempt starts; :class:`_Conflict` if one would start over a succeeded task."""
    if not rows:
        return
    matched = await _matched(conn, sql.ATTEMPT_STARTED_SQL, rows)
    for ordinal, (_, _, _, run_id, task_id) in enumerate(rows, 1):
        if ordinal in matched:
            continue
        status = await conn.fetchval(sql.TASK_STATUS_SQL, run_id, task_id)
        if status is None or status == "succeeded":
            what = "has no row" if status is None else "is already succeeded"
            raise _Conflict(f"refused to start an attempt of task {task_id!r}: it {what}")


async def _matched(conn: asyncpg.Connection, statement: str, rows: list[Row]) -> set[int]:
    """Run an ``unnest`` statement over ``rows`` (given as columns); the ordinals it matched."""
    return {int(record[0]) for record in await conn.fetch(statement, *sql.columns(rows))}


async def _many(conn: asyncpg.Connection, statement: str, rows: list[Row]) -> None:
    if rows:
        await conn.executemany(statement, rows)

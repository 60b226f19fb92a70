"""The single writer: the only code that changes the database, committing ops in groups.

Tasks hand ops to :meth:`Writer.submit` (never blocks). :meth:`Writer.run` takes *everything*
pending, applies it in one ``BEGIN IMMEDIATE`` transaction with one ``executemany`` per statement
(see :mod:`swarm.store.batch`), commits, and only then reports the group to ``on_commit``, so the
runtime never acts on a result that is not yet durable. While one group commits, the next one
accumulates: the busier the swarm, the larger the groups and the cheaper each op.

A whole transaction is one call over the writer's own ``sqlite3`` connection (same file and
pragmas as the engine's), instead of a thread hop per statement through the async driver. A
small one runs right on the event loop: the hop to a worker thread and back costs ~0.15 ms of
latency, and while a run waits for its commit the loop has nothing else to do. A large one (a
new run's task rows, a wide wave) goes to a worker thread, so the loop is never held for more
than about a millisecond or two (see :data:`INLINE_MAX_ROWS`). Transactions run one at a time
(a lock and a one-token limiter) inside shielded cancel scopes, so a group is either fully
committed and reported or not applied at all, and :meth:`Writer.write_now` (terminal writes
after the loop was cancelled) never overlaps the loop.

Checkpoints (copying the WAL back into the database file) run beside the commits, on a thread
and a connection of their own, instead of inside whichever commit crosses SQLite's
auto-checkpoint threshold: that commit would take 5-7 ms instead of a fraction of one, and the
run waits for every commit (see :data:`CHECKPOINT_EVERY_OPS`). Those cannot always reset the
WAL (a reader in the middle of a snapshot keeps it), so past ``WAL_LIMIT_BYTES`` the writer
runs a ``TRUNCATE`` checkpoint on its own connection between two commits, and
``journal_size_limit`` cuts the file back whenever SQLite resets it: the WAL stays within a few
MB instead of growing to several times the database.

Every transaction of a driver's writer is fenced by the run's owner epoch (``fence``): see
:class:`Writer` and the "Fencing" rule in docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

import anyio
import anyio.to_thread
from anyio.abc import TaskStatus
from sqlalchemy.ext.asyncio import AsyncEngine

from swarm.errors import ConfigError, RunTakenOver, StoreError
from swarm.store import batch as sql
from swarm.store.batch import Plan, Row, check_op, plan_batch
from swarm.store.engine import BUSY_TIMEOUT_MS, WAL_LIMIT_BYTES, connect_for_writing
from swarm.store.failures import DATA_ERRORS, repair, write_error
from swarm.store.ops import AttemptFinished, Op, RunFinished, RunStarted, TaskWaiting

OWNER_LEASE_S = 3.0
"""How old the last commit may be before a new model call first waits for the next one: below
the 5 s after which another process may take the run (``runtime.run.LIVE_HEARTBEAT_S``)."""

OnCommit = Callable[[list[Op]], None]
Fence = tuple[str, int]
"""(run id, owner epoch): the run this writer's driver owns, and the epoch it took it at."""

FAILPOINT_EXIT_CODE = 97
_EXIT_AFTER_COMMIT = int(os.environ.get("SWARM_FAILPOINT_EXIT_AFTER_COMMIT", "0") or 0)
"""Fault injection for the crash tests (fault F2): with ``SWARM_FAILPOINT_EXIT_AFTER_COMMIT=k``
the process exits at once, like a ``kill -9``, right after its k-th commit. Read once, at import;
0 (the default) disables it."""


INLINE_MAX_ROWS = 256
"""Transactions writing at most about this many rows (~7 µs each) run on the event loop's
thread; larger ones on a worker thread. Measured on 2,000 no-op tasks at concurrency 16 (~100
rows per commit): 8,565 vs 7,569 tasks/s with every commit on a worker thread."""
CHECKPOINT_EVERY_OPS = 1000
"""After about this many committed ops the writer checkpoints the WAL in the background (a
``PASSIVE`` checkpoint: it never blocks the commits, which go on appending to the WAL)."""
TRUNCATE_WAIT_MS = 50
"""How long a ``TRUNCATE`` checkpoint waits for readers before it gives up (for now)."""
BACKSTOP_AUTOCHECKPOINT_PAGES = 10_000
"""SQLite's own auto-checkpoint on the writer's connection, kept only as a backstop in case the
background checkpoints fall behind (the default is 1,000 pages)."""


def run_id_taken(run_id: str, path: object) -> ConfigError:
    return ConfigError(
        f"run {run_id!r} already exists in {path}",
        hint="pick another run id, or resume the existing run",
    )


class _Busy(Exception):
    """Another connection holds the write lock (a transaction that did not wait for it)."""


class _FenceMismatch(Exception):
    """A many-row fenced update matched fewer rows than it had: redo the group row by row."""


class _TakenOver(Exception):
    """The run's owner epoch is no longer this writer's: the transaction was rolled back."""

    def __init__(self, current: int | None) -> None:
        super().__init__(current)
        self.current = current


class _Conflict(Exception):
    """A write the database's state refused (an attempt started over a success)."""


class Writer:
    """Commits submitted ops in groups; see the module docstring.

    ``on_commit`` receives each committed group in submission order, *without* the fenced
    :class:`AttemptFinished` ops the database refused: those are appended to :attr:`stale`
    and wrote nothing (no task change, no attempt row, no steps, no event). A
    :class:`RunFinished` in the same group as a refused result of its run is dropped too.

    ``engine`` names the database; the writer writes through a connection of its own (see the
    module docstring). ``clock`` gives the wall time written as the runs' heartbeat.

    ``fence``: the run this writer's driver owns and its owner epoch. Every transaction first
    reads the run's epoch (under the write lock, so nothing can move it before the commit)
    and, if it moved, is rolled back whole and the writer stops with :class:`RunTakenOver`.
    A transaction that creates the run is its own take (the insert fails if the id exists).
    """

    stale: list[AttemptFinished]
    """Results refused by the fence: their attempt was no longer the task's running attempt."""
    transactions: int
    """How many groups have been committed (a measure of batching)."""
    checkpoints: int
    """How many background checkpoints have run."""
    truncations: int
    """How many times the WAL passed :data:`WAL_LIMIT_BYTES` and was checkpointed to zero."""
    unended: list[RunFinished]
    """Run ends the database refused because tasks of the run were still ``running``."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        on_commit: OnCommit,
        *,
        clock: Callable[[], float] = time.time,
        heartbeat_s: float = 1.0,
        fence: Fence | None = None,
    ) -> None:
        self._path = "" if engine is None else str(engine.url.database)
        self._failures: tuple[type[BaseException], ...] = _FAILURES
        """What stops the writer (after the one repair a data error gets)."""
        self._data_errors: tuple[type[BaseException], ...] = DATA_ERRORS
        """What says one op's data cannot be stored (then :meth:`_repair`)."""
        self._fence = fence
        self._new_run: str | None = None
        """A run this writer is to create and has not committed yet (errors say so)."""
        self._on_commit = on_commit
        self._confirmed_at = time.monotonic()
        """When a commit last succeeded: each one checked this driver's owner epoch."""
        self._confirmation: anyio.Event | None = None
        self._clock = clock
        self._heartbeat_s = heartbeat_s
        self._pending: list[Op] = []
        self._submitted = 0
        self._done = 0
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        self._lock = anyio.Lock()
        self._limiter = anyio.CapacityLimiter(1)
        self._conn: sqlite3.Connection | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoint_limiter = anyio.CapacityLimiter(1)
        self._checkpointing = False
        self._uncheckpointed = 0
        """Ops committed since the last background checkpoint started."""
        self._truncate_at = WAL_LIMIT_BYTES
        """The WAL size past which the next commit is followed by a ``TRUNCATE`` checkpoint."""
        self._running = False
        self._started = False
        self._closing = False
        self._stopped = False
        self._error: StoreError | None = None
        self._live_runs: set[str] = set()
        self._last_beat = -math.inf
        self.stale = []
        self.unended = []
        self.transactions = 0
        self.checkpoints = 0
        self.truncations = 0

    def submit(self, op: Op) -> None:
        """Queue ``op`` for the next group; :class:`StoreError` once the writer failed or stopped.

        Ops submitted after :meth:`close` (by an ``on_commit`` callback, say) are still taken,
        as long as :meth:`run` has not returned.
        """
        if self._error is not None:
            raise StoreError(f"the store writer has failed: {self._error.message}")
        if self._stopped:
            raise StoreError("the store writer has stopped; nothing more can be submitted")
        check_op(op)
        self._pending.append(op)
        self._submitted += 1
        self._wake.set()

    async def open(self, *, new_run_id: str | None = None) -> None:
        """Open the writer's connection now, before :meth:`run`, instead of in its first
        transaction; with ``new_run_id``, :class:`ConfigError` if that run already exists (the
        run is created by a ``RunCreated`` op in the first transaction)."""
        async with self._lock:
            await anyio.to_thread.run_sync(self._open_sync, new_run_id, limiter=self._limiter)

    def _open_sync(self, new_run_id: str | None) -> None:
        if self._conn is None:
            self._conn = self._connect()
        if new_run_id is None:
            return
        self._new_run = new_run_id
        query = "SELECT 1 FROM runs WHERE run_id = ?"
        try:
            taken = self._conn.execute(query, (new_run_id,)).fetchone() is not None
        except sqlite3.Error as exc:
            self._drop_connection()
            raise StoreError(f"cannot read {self._path}: {exc}") from exc
        if taken:
            self._drop_connection()
            raise run_id_taken(new_run_id, self._path)

    def _connect(self) -> sqlite3.Connection:
        conn = connect_for_writing(self._path)
        conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_AUTOCHECKPOINT_PAGES}")
        return conn

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self._path + "-wal").st_size
        except OSError:
            return 0

    async def _truncate_wal(self) -> None:
        """A ``TRUNCATE`` checkpoint on the writer's own connection, between two commits: the
        WAL is copied back and cut to zero bytes (readers are short: it waits for them). A
        background checkpoint still copying is waited for: it has done most of the work."""
        async with self._checkpoint_limiter, self._lock:
            await anyio.to_thread.run_sync(self._truncate_sync, limiter=self._limiter)

    def _truncate_sync(self) -> None:
        """Waits at most :data:`TRUNCATE_WAIT_MS` for readers (a reader keeping its snapshot
        keeps the WAL); if one is still there, tries again once the WAL has grown by another
        quarter of the bound, so a long reader never holds the commits up for long."""
        conn = self._connection()
        busy = 1
        try:
            conn.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            pass  # the commits report what is wrong with the file
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if busy:
            self._truncate_at = self._wal_bytes() + WAL_LIMIT_BYTES // 4
        else:
            self.truncations += 1
            self._truncate_at = WAL_LIMIT_BYTES

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Ask :meth:`run` to return once everything submitted so far is committed."""
        self._closing = True
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed (needs :meth:`run` running)."""
        target = self._submitted
        while self._done < target:
            if self._error is not None:
                raise StoreError(f"the store writer has failed: {self._error.message}")
            if self._stopped:
                raise StoreError("the store writer stopped before everything was written")
            await self._progress.wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The commit loop; returns after :meth:`close`, raises :class:`StoreError` on failure."""
        if self._started:
            raise RuntimeError("Writer.run() can only be called once")
        self._started = self._running = True
        task_status.started()
        failure: StoreError | None = None
        try:
            async with anyio.create_task_group() as checkpoints:
                try:
                    await self._commit_loop(checkpoints)
                except StoreError as exc:
                    failure = exc  # raised as it is, not wrapped in the group's ExceptionGroup
                finally:
                    self._stop_checkpoint()
            if failure is not None:
                raise failure
        finally:
            self._running = False
            self._stopped = True
            self._notify()
            with anyio.CancelScope(shield=True):
                await self._disconnect()

    async def _commit_loop(self, checkpoints: anyio.abc.TaskGroup) -> None:
        while True:
            if self._error is not None:
                raise StoreError(f"the store writer has failed: {self._error.message}")
            if self._pending or (self._beat_due() and not self._closing):
                async with self._lock:
                    await self._commit(self._take())
                if self._wal_bytes() > self._truncate_at:
                    with anyio.CancelScope(shield=True):
                        await self._truncate_wal()
                elif self._uncheckpointed >= CHECKPOINT_EVERY_OPS and not self._checkpointing:
                    self._checkpointing = True
                    self._uncheckpointed = 0
                    checkpoints.start_soon(self._checkpoint)
            elif self._closing:
                return
            else:
                with anyio.move_on_after(self._until_beat()):
                    await self._wake.wait()
                self._wake = anyio.Event()

    def _stop_checkpoint(self) -> None:
        """Cut a running checkpoint short rather than wait for it: the next one finishes it."""
        if self._checkpointing and self._checkpoint_conn is not None:
            self._checkpoint_conn.interrupt()

    async def _checkpoint(self) -> None:
        try:
            await anyio.to_thread.run_sync(self._checkpoint_sync, limiter=self._checkpoint_limiter)
        finally:
            self._checkpointing = False

    def _checkpoint_sync(self) -> None:
        """A ``PASSIVE`` checkpoint: copies what no reader still needs and never waits. Errors
        are left to the commits to report (they share the file); an interrupted checkpoint
        (the writer closing) just leaves its rest to the next one."""
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = connect_for_writing(self._path)
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except (sqlite3.Error, StoreError):
            pass

    async def write_now(self, ops: Sequence[Op]) -> None:
        """Commit whatever is still pending, then ``ops``, in one transaction, right now.

        For terminal writes once the loop is gone (call it inside a shielded cancel scope). The
        group is reported to ``on_commit`` like any other.
        """
        for op in ops:
            check_op(op)
        async with self._lock:
            self._submitted += len(ops)
            await self._commit([*self._take(), *ops])
        if not self._running:
            with anyio.CancelScope(shield=True):
                await self._disconnect()

    def _take(self) -> list[Op]:
        ops, self._pending = self._pending, []
        return ops

    async def _commit(self, ops: list[Op]) -> None:
        """Apply ``ops`` (plus a heartbeat if due) in one transaction, then report them."""
        now = self._clock()
        beats = [(now, run_id) for run_id in sorted(self._live_runs)] if self._beat_due() else []
        count = len(ops)
        with anyio.CancelScope(shield=True):
            try:
                try:
                    refused = await self._transact_all(plan_batch(ops), beats)
                except self._data_errors:
                    # One op's data cannot be bound: find it, store it repaired, go on.
                    fixed = await self._repair(ops)
                    if fixed is None:
                        raise
                    ops = fixed
                    refused = await self._transact_all(plan_batch(ops), beats)
            except _TakenOver as exc:
                self._taken_over(exc.current, count)
            except self._failures as exc:
                self._fail(exc, count)
        self.transactions += 1
        self._confirmed_at = time.monotonic()
        if self._confirmation is not None:
            self._confirmation.set()
            self._confirmation = None
        if self.transactions == _EXIT_AFTER_COMMIT:
            os._exit(FAILPOINT_EXIT_CODE)  # fault injection: die right after the k-th commit
        self._done += count
        self._uncheckpointed += count
        self._new_run = None  # whatever this writer was to create is in the database now
        if beats:
            self._last_beat = now
        committed = ops
        if refused:
            committed = [op for i, op in enumerate(ops) if i not in refused]
            self.stale.extend(
                op.as_finished() if isinstance(op, TaskWaiting) else op
                for i, op in enumerate(ops)
                if i in refused and isinstance(op, AttemptFinished | TaskWaiting)
            )
            self.unended.extend(
                op for i, op in enumerate(ops) if i in refused and isinstance(op, RunFinished)
            )
        self._track_runs(committed, now)
        self._notify()
        if committed or refused:  # a refusal alone must be seen too (the run was taken over)
            self._on_commit(committed)

    async def owned_recently(self, max_age_s: float = OWNER_LEASE_S) -> None:
        """Return once a commit younger than ``max_age_s`` has confirmed this driver's owner
        epoch (every transaction checks it). After a long stop (SIGSTOP, a debugger, a VM
        pause) a new model call waits here for the next commit, the heartbeat's within a
        second; a driver another process took over never makes it (its writer stops first, and
        the run's cancel scope ends the wait), so a woken stale driver starts no new call."""
        while time.monotonic() - self._confirmed_at > max_age_s:
            if self._confirmation is None:
                self._confirmation = anyio.Event()
            await self._confirmation.wait()

    async def _transact_all(self, plan: Plan, beats: list[Row]) -> set[int]:
        """The whole plan in one transaction: many rows per statement, or, if a fenced update
        matched fewer rows than it had, again row by row to find the refused ones."""
        try:
            return await self._transact(plan, beats, careful=False)
        except _FenceMismatch:
            return await self._transact(plan, beats, careful=True)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    async def _transact(self, plan: Plan, beats: list[Row], *, careful: bool) -> set[int]:
        if plan.rows() + len(beats) <= INLINE_MAX_ROWS:
            with contextlib.suppress(_Busy):  # the lock is taken: wait for it on a thread
                return self._transact_sync(plan, beats, careful, wait=False)
        return await anyio.to_thread.run_sync(
            self._transact_sync, plan, beats, careful, limiter=self._limiter
        )

    def _transact_sync(
        self, plan: Plan, beats: list[Row], careful: bool, *, wait: bool = True
    ) -> set[int]:
        """One transaction: all of ``plan`` is committed, or none of it. ``wait=False`` (on the
        event loop): :class:`_Busy` at once if another connection holds the write lock, rather
        than block the loop on SQLite's busy timeout (the holder may need the loop to finish)."""
        conn = self._connection()
        if not wait:
            conn.execute("PRAGMA busy_timeout=0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _Busy from exc
            finally:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            if wait:
                conn.execute("BEGIN IMMEDIATE")
            _check_fence(conn, plan, self._fence)
            refused = _apply(conn, plan, beats, careful)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                # If this fails too, SQLite has rolled back already or the connection is broken;
                # either way it is closed below.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if not isinstance(exc, _HARMLESS):  # the connection itself may be broken
                self._conn = None
                conn.close()
            raise
        return refused

    async def _disconnect(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)
        checkpoint_conn, self._checkpoint_conn = self._checkpoint_conn, None
        if checkpoint_conn is not None:
            await anyio.to_thread.run_sync(checkpoint_conn.close, limiter=self._checkpoint_limiter)

    async def _repair(self, ops: list[Op]) -> list[Op] | None:
        """``ops`` with the one whose data cannot be bound stored repaired, or None."""
        return repair(self._connection(), ops)

    def _write_error(self, exc: BaseException, count: int) -> StoreError:
        """What ``exc`` means for the ``count`` ops it stopped, and what to do."""
        return write_error(exc, self._path, count, recorded=self._new_run is None)

    def _is_duplicate_run(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "runs.run_id" in str(exc)

    def _fail(self, exc: BaseException, count: int) -> NoReturn:
        if self._new_run is not None and self._is_duplicate_run(exc):
            error = StoreError(
                f"run {self._new_run!r} already exists in {self._path}: another process "
                "created it first; nothing was written",
                hint="pick another run id, or resume the existing run",
            )
        elif isinstance(exc, _Conflict):
            error = StoreError(
                f"cannot write to {self._path}: {exc}; the last {count} operation(s) were not "
                "saved",
                hint="this is a bug or a process writing the run without owning it; resume "
                "the run to go on (what was committed is kept)",
            )
        else:
            error = self._write_error(exc, count)
        self._error = error
        self._notify()
        raise error from exc

    def _taken_over(self, current: int | None, count: int) -> NoReturn:
        assert self._fence is not None
        error = RunTakenOver(self._fence[0], self._fence[1], current)
        error.message += f" ({count} operation(s) refused)"
        self._error = error
        self._notify()
        raise error

    def _notify(self) -> None:
        self._progress.set()
        self._progress = anyio.Event()

    def _track_runs(self, ops: list[Op], now: float) -> None:
        for op in ops:
            if isinstance(op, RunStarted):
                self._live_runs.add(op.run_id)
                self._last_beat = now  # RunStarted wrote the heartbeat itself
            elif isinstance(op, RunFinished):
                self._live_runs.discard(op.run_id)

    def _beat_due(self) -> bool:
        return bool(self._live_runs) and self._clock() - self._last_beat >= self._heartbeat_s

    def _until_beat(self) -> float:
        if not self._live_runs:
            return math.inf
        return max(0.0, self._last_beat + self._heartbeat_s - self._clock())


_HARMLESS = (_FenceMismatch, _TakenOver, _Conflict, *DATA_ERRORS)
"""Failures of a transaction that leave its connection sound (it was rolled back)."""
_FAILURES: tuple[type[BaseException], ...] = (
    sqlite3.Error,
    OSError,
    StoreError,
    _Conflict,
    *DATA_ERRORS,
)
"""What stops the writer (after the one repair a data error gets)."""


def _check_fence(conn: sqlite3.Connection, plan: Plan, fence: Fence | None) -> None:
    """:class:`_TakenOver` unless the fenced run is still at this writer's epoch (or is created
    by this very transaction, whose insert is the take)."""
    if fence is None:
        return
    run_id, epoch = fence
    if any(row[0] == run_id for seg in plan.segments for row in seg.created):
        return
    row = conn.execute(sql.GUARD_SQL, (run_id,)).fetchone()
    current = None if row is None else int(row[0])
    if current != epoch:
        raise _TakenOver(current)


def _apply(conn: sqlite3.Connection, plan: Plan, beats: list[Row], careful: bool) -> set[int]:
    """Run ``plan`` inside the open transaction; returns the batch indices refused (results
    the attempt fence refused, run ends refused while tasks of the run still run)."""
    refused: set[int] = set()
    taken: set[str] = set()  # runs with a refused result: another process owns them now
    for seg in plan.segments:
        _many(conn, sql.INSERT_RUN_SQL, seg.created)
        _many(conn, sql.RUN_STARTED_SQL, seg.run_started)
        _many(conn, sql.INSERT_TASK_SQL, seg.tasks_added)
        _many(conn, sql.UPDATE_PLAN_SQL, seg.plans)
        _many(conn, sql.UPDATE_DEPS_SQL, seg.deps)
        _started(conn, seg.attempt_started)
        _many(conn, sql.INSERT_CALL_SQL, seg.calls)
        _many(conn, sql.FINISH_CALL_SQL, seg.calls_finished)
        if seg.finished:
            accepted = _fenced(conn, seg.finished, careful, refused)
            taken.update(op.run_id for i, op in seg.finished if i in refused)
            _many(conn, sql.INSERT_ATTEMPT_SQL, [sql.attempt_row(op) for op in accepted])
            _many(conn, sql.INSERT_STEP_SQL, [r for op in accepted for r in sql.step_rows(op)])
            _many(
                conn, sql.INSERT_ARTIFACT_SQL, [r for op in accepted for r in sql.artifact_rows(op)]
            )
        _many(conn, sql.TASK_WOKEN_SQL, seg.woken)
        _many(conn, sql.WAIT_FAILED_SQL, seg.wait_failed)
        _many(conn, sql.INSERT_APPROVAL_SQL, seg.approvals)
        _many(conn, sql.TASK_SKIPPED_SQL, seg.skipped)
        _many(conn, sql.TASK_REPLACED_SQL, seg.replaced)
        refused.update(i for i, row in seg.run_finished if row[-1] in taken)
        _many(conn, sql.TASK_CANCELLED_SQL, [row for row in seg.cancelled if row[1] not in taken])
        for i, row in seg.run_finished:
            if i not in refused and conn.execute(sql.RUN_FINISHED_SQL, row).rowcount != 1:
                refused.add(i)  # tasks of the run are still running: the end is not written
    _many(conn, sql.INSERT_EVENT_SQL, [row for i, row in plan.events if i not in refused])
    _many(conn, sql.HEARTBEAT_SQL, beats)
    return refused


def _fenced(
    conn: sqlite3.Connection,
    finished: list[tuple[int, AttemptFinished]],
    careful: bool,
    refused: set[int],
) -> list[AttemptFinished]:
    """Apply fenced results; all at once, or (``careful``) one by one to find the refused ones."""
    if not careful:
        rows = [sql.finish_row(op) for _, op in finished]
        if conn.executemany(sql.ATTEMPT_FINISHED_SQL, rows).rowcount != len(rows):
            raise _FenceMismatch
        return [op for _, op in finished]
    accepted = []
    for index, op in finished:
        if conn.execute(sql.ATTEMPT_FINISHED_SQL, sql.finish_row(op)).rowcount == 1:
            accepted.append(op)
        else:
            refused.add(index)
    return accepted


def _started(conn: sqlite3.Connection, rows: list[Row]) -> None:
    """Attempt starts; :class:`_Conflict` (the transaction is rolled back) if one would start
    an attempt over a task the database records as succeeded."""
    if not rows or conn.executemany(sql.ATTEMPT_STARTED_SQL, rows).rowcount == len(rows):
        return
    for _, _, _, run_id, task_id in rows:
        found = conn.execute(sql.TASK_STATUS_SQL, (run_id, task_id)).fetchone()
        if found is None or found[0] == "succeeded":
            what = "has no row" if found is None else "is already succeeded"
            raise _Conflict(f"refused to start an attempt of task {task_id!r}: it {what}")


def _many(conn: sqlite3.Connection, statement: str, rows: list[Row]) -> None:
    if rows:
        conn.executemany(statement, rows)

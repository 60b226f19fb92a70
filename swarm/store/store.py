"""The store facade: opening the database, creating runs, and the reads the runtime and CLI need.

All changes made while a run executes go through the :class:`~swarm.store.writer.Writer`; the
few writes here (creating a run, preparing a resume) happen before a writer exists, each in one
``BEGIN IMMEDIATE`` transaction. Reads use deferred transactions and never block the writer (WAL).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Row, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from swarm.errors import ConfigError, RunNotFound, RunTakenOver, StoreError
from swarm.providers.base import CallIntent
from swarm.store import batch as sql_text
from swarm.store import migrate, pg_sql, statements
from swarm.store.engine import (
    READ_ONLY_API_HINT,
    READ_ONLY_HINT,
    check_path,
    create_engine,
    is_writable,
    reader,
)
from swarm.store.failures import is_read_only
from swarm.store.pg_notify import announce
from swarm.store.records import NewRun, RunRecord, TaskRecord, Wait
from swarm.store.schema import TASK_STATUSES, attempts, calls, events, runs, tasks
from swarm.store.target import DbTarget, is_postgres, shown
from swarm.store.writer import Fence, OnCommit, Writer, run_id_taken

_INTERRUPTED = "the process stopped before this attempt finished"


class Store:
    """One database holding any number of runs: a SQLite file, or a PostgreSQL database."""

    path: str
    """The absolute path of the database file, or the PostgreSQL URL without its password."""
    url: str | None
    """The PostgreSQL URL (None for SQLite)."""
    engine: AsyncEngine
    read_only: bool
    """Opened read-only (the file or its folder cannot be written): every write refuses."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], float] = time.time,
        read_only: bool = False,
        path: str | None = None,
        url: str | None = None,
    ) -> None:
        self.engine = engine
        self.url = url
        self.path = path or (shown(url) if url else str(engine.url.database))
        self.postgres = url is not None
        self.read_only = read_only
        self._reader = reader(engine)
        self._clock = clock

    @classmethod
    async def open(cls, path: DbTarget, *, read_only: bool | None = None) -> Store:
        """Open (creating if needed) the database at ``path``; migrate it to the newest schema.

        ``path``: a SQLite file, or a ``postgresql://`` URL (the database must exist; its tables
        are created on first open). A file that cannot be written is opened read-only
        (``read_only=None``, the default, decides by the file's permissions and file system,
        and by the first write refused). ``read_only=True`` opens either read-only: nothing is
        migrated (the schema must be this swarm's), reads work and every write refuses; on
        PostgreSQL each transaction is also ``READ ONLY`` on the server.
        """
        if is_postgres(path):
            return await cls._open_postgres(str(path), read_only=bool(read_only))
        file = check_path(path)
        if read_only or (read_only is None and file.exists() and not is_writable(file)):
            return await cls._open_read_only(file)
        if not file.exists() and not is_writable(file):
            raise StoreError(
                f"cannot create database {file}: folder {file.parent} is read-only",
                hint="point --db or SWARM_DB at a file in a writable folder",
            )
        engine = create_engine(file)
        try:
            await migrate.upgrade(engine)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await engine.dispose()
            if read_only is None and file.exists() and _read_only_cause(exc):
                return await cls._open_read_only(file)
            raise
        return cls(engine)

    @classmethod
    async def _open_postgres(cls, url: str, *, read_only: bool) -> Store:
        from swarm.store.pg_engine import create_pg_engine

        engine = create_pg_engine(url, read_only=read_only)
        try:
            if read_only:
                await _check_revision(engine, shown(url), _PG_BEHIND_HINT)
            else:
                await migrate.upgrade(engine)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await engine.dispose()
            raise
        return cls(engine, url=url, read_only=read_only)

    @classmethod
    async def _open_read_only(cls, file: Path) -> Store:
        engine = create_engine(file, read_only=True)
        try:
            await _check_revision(engine, str(file), _FILE_BEHIND_HINT)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await engine.dispose()
            raise
        return cls(engine, read_only=True, path=str(file))

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    def writer(
        self,
        on_commit: OnCommit,
        *,
        fence: Fence | None = None,
        clock: Callable[[], float] | None = None,
        heartbeat_s: float = 1.0,
    ) -> Writer:
        """The single writer for this database; run it in a task group with ``Writer.run``.

        ``fence``: the run the caller owns and its epoch (see :meth:`take_run`). ``clock``
        (the store's by default) and ``heartbeat_s``: see :class:`Writer`."""
        self.refuse_if_read_only("record a run")
        clock = clock or self._clock
        if self.url is not None:
            from swarm.store.pg_writer import PgWriter

            return PgWriter(self.url, on_commit, clock=clock, fence=fence, heartbeat_s=heartbeat_s)
        return Writer(self.engine, on_commit, clock=clock, fence=fence, heartbeat_s=heartbeat_s)

    async def take_run(self, run_id: str, *, pid: int, live_s: float) -> int:
        """Become the run's driver: its new owner epoch, taken in one ``BEGIN IMMEDIATE``
        transaction with the judgement that no other driver is alive.

        The owner is alive if its heartbeat is younger than ``live_s`` and it runs on another
        machine (``owner_host``: its pid cannot be checked from here), or its process on this
        machine exists, this process included (a run's end releases it: ``owner_pid`` NULL);
        then :class:`ConfigError` and nothing is written. A second caller right behind sees
        this caller's fresh heartbeat, so of two resumes exactly one takes the run.
        :class:`RunNotFound` for no run.
        """
        with anyio.CancelScope(shield=True):
            async with self._writing("take over a run") as conn:
                found = await conn.execute(
                    select(
                        runs.c.owner_epoch,
                        runs.c.owner_pid,
                        runs.c.owner_host,
                        runs.c.heartbeat_at,
                    )
                    .where(runs.c.run_id == run_id)
                    .with_for_update(key_share=True)  # PostgreSQL: a second take waits here
                )
                row = found.first()
                if row is None:
                    raise RunNotFound(run_id, self.path)
                now = self._clock()
                fresh = row.heartbeat_at is not None and now - row.heartbeat_at < live_s
                elsewhere = row.owner_host not in (None, sql_text.HOST)
                if fresh and row.owner_pid is not None and (elsewhere or _alive(row.owner_pid)):
                    where = f" on {row.owner_host}" if elsewhere else ""
                    raise ConfigError(
                        f"run {run_id} is being executed by process {row.owner_pid}{where}",
                        hint="wait for it, or stop it (Ctrl-C or kill PID) and resume it "
                        "afterwards",
                    )
                taken = await conn.exec_driver_sql(
                    self._statements.TAKE_SQL,
                    (pid, sql_text.HOST, now, run_id, row.owner_epoch),
                )
                epoch = taken.scalar()
                if epoch is None:  # not reachable under the write lock: the lease's rule
                    raise RunTakenOver(run_id, row.owner_epoch + 1, None)
                mine = int(epoch)
        return mine

    async def create_run(self, run: NewRun) -> None:
        """Write the run (status ``created``), its pending tasks and a ``run.created`` event, as
        the writer's ``RunCreated`` does (runs started by the runtime go that way).

        Raises :class:`ConfigError` if the run id is taken, and writes nothing then.
        """
        with anyio.CancelScope(shield=True):
            await self._create_run(run)

    async def _create_run(self, run: NewRun) -> None:
        run_row, task_rows, event_row = sql_text.created_rows(run, epoch=0)
        async with self._writing("create a run") as conn:
            if await _run_exists(conn, run.run_id):
                raise run_id_taken(run.run_id, self.path)
            await conn.exec_driver_sql(self._statements.INSERT_RUN_SQL, run_row)
            if task_rows and self.postgres:  # one statement for every row (pg_sql)
                rows = tuple(pg_sql.columns(task_rows))
                await conn.exec_driver_sql(self._statements.INSERT_TASK_SQL, rows)
            elif task_rows:
                await conn.exec_driver_sql(self._statements.INSERT_TASK_SQL, task_rows)
            await conn.exec_driver_sql(self._statements.INSERT_EVENT_SQL, event_row)

    async def run_exists(self, run_id: str) -> bool:
        async with self._reading() as conn:
            return await _run_exists(conn, run_id)

    async def load_run(self, run_id: str) -> RunRecord:
        """The run's row; :class:`RunNotFound` if there is none."""
        async with self._reading() as conn:
            row = (await conn.execute(select(runs).where(runs.c.run_id == run_id))).first()
        if row is None:
            raise RunNotFound(run_id, self.path)
        return _run_record(row)

    async def load_tasks(self, run_id: str) -> list[TaskRecord]:
        """The run's tasks in the order they were created; :class:`RunNotFound` for no run."""
        query = (
            select(
                tasks.c.task_id,
                tasks.c.kind,
                tasks.c.status,
                tasks.c.attempt,
                tasks.c.result,
                tasks.c.error,
                tasks.c.started_at,
                tasks.c.finished_at,
                tasks.c.steps_used,
                tasks.c.tokens_in,
                tasks.c.tokens_out,
                tasks.c.cost_usd,
            )
            .where(tasks.c.run_id == run_id)
            .order_by(*self.creation_order())
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
            if not rows and not await _run_exists(conn, run_id):
                raise RunNotFound(run_id, self.path)
        return [TaskRecord(**row._mapping) for row in rows]

    async def task_totals(self, run_id: str) -> dict[str, Any]:
        """Counts by status and the sums of steps, tokens and cost over the run's tasks (all
        attempts), added up by SQLite in one query; :class:`RunNotFound` for no run."""
        query = (
            select(
                tasks.c.status,
                func.count(),
                func.sum(tasks.c.steps_used),
                func.sum(tasks.c.tokens_in),
                func.sum(tasks.c.tokens_out),
                func.sum(tasks.c.cost_usd),
            )
            .where(tasks.c.run_id == run_id)
            .group_by(tasks.c.status)
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
            if not rows and not await _run_exists(conn, run_id):
                raise RunNotFound(run_id, self.path)
        totals: dict[str, Any] = {
            "tasks": 0,
            "counts": {},
            "steps_total": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost_usd": 0.0,
        }
        for status, count, steps, tokens_in, tokens_out, cost in rows:
            totals["counts"][status] = count
            totals["tasks"] += count
            totals["steps_total"] += steps or 0
            totals["tokens_in"] += tokens_in or 0
            totals["tokens_out"] += tokens_out or 0
            totals["cost_usd"] += cost or 0.0
        return totals

    async def open_calls(self, run_id: str) -> dict[tuple[str, int], str]:
        """Remote predictions whose outcome was never recorded, newest per (task, step): what a
        resumed run re-attaches to instead of creating them again."""
        query = (
            select(calls.c.task_id, calls.c.step, calls.c.ref)
            .where(calls.c.run_id == run_id, calls.c.status.is_(None))
            .order_by(calls.c.id)
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return {(row.task_id, row.step): row.ref for row in rows}

    async def open_intents(self, run_id: str) -> dict[tuple[str, int], CallIntent]:
        """Creations whose intent was committed (a ``call.intended`` event) but whose
        prediction never was (no ``calls`` row for the task and step from that attempt on),
        newest per (task, step): what a resumed run asks the provider about before creating
        again."""
        query = (
            select(events.c.task_id, events.c.attempt, events.c.at, events.c.data_json)
            .where(events.c.run_id == run_id, events.c.type == "call.intended")
            .order_by(events.c.id)
        )
        known = (
            select(calls.c.task_id, calls.c.step, func.max(calls.c.attempt))
            .where(calls.c.run_id == run_id)
            .group_by(calls.c.task_id, calls.c.step)
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
            journaled = {(t, s): a for t, s, a in (await conn.execute(known)).all()}
        found: dict[tuple[str, int], CallIntent] = {}
        for row in rows:
            data = json.loads(row.data_json)
            slot = (row.task_id, int(data["step"]))
            if journaled.get(slot, 0) < row.attempt:
                found[slot] = CallIntent(str(data["fingerprint"]), float(row.at))
        return found

    async def waits(self, run_id: str) -> dict[str, Wait]:
        """The run's waiting tasks and what each waits on (from its latest ``task.waiting``
        event, of the attempt the task row records): what a resume restores."""
        waiting = select(tasks.c.task_id, tasks.c.attempt).where(
            tasks.c.run_id == run_id, tasks.c.status == "waiting"
        )
        query = (
            select(events.c.task_id, events.c.attempt, events.c.data_json)
            .where(events.c.run_id == run_id, events.c.type == "task.waiting")
            .order_by(events.c.id)
        )
        async with self._reading() as conn:
            current = {t: a for t, a in (await conn.execute(waiting)).all()}
            if not current:
                return {}
            rows = (await conn.execute(query)).all()
        found = {task_id: Wait(attempt) for task_id, attempt in current.items()}
        for row in rows:
            if current.get(row.task_id) == row.attempt:
                data = json.loads(row.data_json or "{}")
                on = tuple(str(t) for t in data.get("on", ()))
                found[row.task_id] = Wait(row.attempt, on, str(data.get("reason", "approval")))
        return found

    async def mark_interrupted(self, run_id: str, *, epoch: int | None = None) -> list[str]:
        """Prepare a resume: put tasks a stopped process left ``running`` or ``cancelled`` back
        to ``pending``.

        A ``running`` task's attempt gets an ``interrupted`` attempts row (unless it has one),
        so the attempt still counts. Returns the ids touched, and logs ``task.interrupted`` for
        each; one transaction. ``epoch``: the caller's owner epoch (:meth:`take_run`); if
        another driver has taken the run since, :class:`RunTakenOver` and nothing is written.
        """
        with anyio.CancelScope(shield=True):
            touched = await self._mark_interrupted(run_id, self._clock(), epoch)
        return touched

    async def _mark_interrupted(self, run_id: str, now: float, epoch: int | None) -> list[str]:
        async with self._writing("prepare the resume of a run") as conn:
            await _check_owner(conn, run_id, epoch, self.path)
            # Resuming is an explicit wish to go on: an earlier `swarm cancel` no longer holds.
            await conn.execute(
                runs.update().where(runs.c.run_id == run_id).values(cancel_requested_at=None)
            )
            found = await conn.execute(
                select(tasks.c.task_id, tasks.c.status, tasks.c.attempt, tasks.c.started_at)
                .where(tasks.c.run_id == run_id, tasks.c.status.in_(("running", "cancelled")))
                .order_by(*self.creation_order())
            )
            touched = found.all()
            if not touched:
                return []
            lost = [
                {
                    "run_id": run_id,
                    "task_id": row.task_id,
                    "attempt": row.attempt,
                    "status": "interrupted",
                    "started_at": now if row.started_at is None else row.started_at,
                    "finished_at": now,
                    "error": _INTERRUPTED,
                    "error_kind": "Interrupted",
                    "retryable": 1,
                }
                for row in touched
                if row.status == "running"
            ]
            if lost:
                dialect = postgresql if self.postgres else sqlite
                await conn.execute(dialect.insert(attempts).on_conflict_do_nothing(), lost)
            await conn.execute(
                tasks.update()
                .where(tasks.c.run_id == run_id, tasks.c.status.in_(("running", "cancelled")))
                .values(status="pending", finished_at=None)
            )
            await conn.execute(
                insert(events),
                [
                    {
                        "run_id": run_id,
                        "at": now,
                        "type": "task.interrupted",
                        "task_id": row.task_id,
                        "attempt": row.attempt,
                        "data_json": json.dumps({"was": row.status}),
                    }
                    for row in touched
                ],
            )
        return [row.task_id for row in touched]

    async def change_limits(
        self, run_id: str, plan_json: str, change: dict[str, Any], *, epoch: int
    ) -> None:
        """Store a run's plan with new budget limits (`swarm resume --max-tokens` …) and a
        ``run.limits_changed`` event saying what changed; one transaction, fenced by the
        caller's owner epoch (:meth:`take_run`)."""
        with anyio.CancelScope(shield=True):
            async with self._writing("change the limits of a run") as conn:
                await _check_owner(conn, run_id, epoch, self.path)
                await conn.execute(
                    runs.update().where(runs.c.run_id == run_id).values(plan_json=plan_json)
                )
                await conn.execute(
                    insert(events).values(
                        run_id=run_id,
                        at=self._clock(),
                        type="run.limits_changed",
                        data_json=json.dumps(change),
                    )
                )

    async def retry_tasks(
        self, run_id: str, failed: list[str], unskipped: list[str], *, epoch: int
    ) -> None:
        """Put failed tasks and their un-skipped descendants back to ``pending`` (`swarm
        retry`), with a ``task.retried`` or ``task.unskipped`` event each; one transaction,
        fenced by the caller's owner epoch. Attempt rows stay: the next attempts continue their
        numbering."""
        now = self._clock()
        with anyio.CancelScope(shield=True):
            async with self._writing("retry the failed tasks of a run") as conn:
                await _check_owner(conn, run_id, epoch, self.path)
                for ids, was in ((failed, "failed"), (unskipped, "skipped")):
                    if not ids:
                        continue
                    await conn.execute(
                        tasks.update()
                        .where(
                            tasks.c.run_id == run_id,
                            tasks.c.task_id.in_(ids),
                            tasks.c.status == was,
                        )
                        .values(status="pending", error=None, error_kind=None, finished_at=None)
                    )
                    kind = "task.retried" if was == "failed" else "task.unskipped"
                    await conn.execute(
                        insert(events),
                        [
                            {"run_id": run_id, "at": now, "type": kind, "task_id": task_id}
                            for task_id in ids
                        ],
                    )

    async def request_cancel(self, run_id: str) -> RunRecord:
        """Ask whichever process drives the run to cancel it (``swarm cancel``, any process).

        Records ``runs.cancel_requested_at`` and a ``run.cancel_requested`` event, unless the
        run has already ended; returns the run as it was. :class:`RunNotFound` for no run.
        """
        with anyio.CancelScope(shield=True):
            async with self._writing("request the cancellation of a run") as conn:
                row = (await conn.execute(select(runs).where(runs.c.run_id == run_id))).first()
                if row is None:
                    raise RunNotFound(run_id, self.path)
                record = _run_record(row)
                if record.status in ("succeeded", "failed", "cancelled", "paused", "waiting"):
                    return record
                now = self._clock()
                await conn.execute(
                    runs.update()
                    .where(runs.c.run_id == run_id)
                    .values(cancel_requested_at=func.coalesce(runs.c.cancel_requested_at, now))
                )
                await conn.execute(
                    insert(events).values(
                        run_id=run_id,
                        at=now,
                        type="run.cancel_requested",
                        data_json=json.dumps({"status": record.status}),
                    )
                )
                await announce(conn, "cancel", run_id)  # PostgreSQL: the driver wakes at commit
        return record

    async def cancel_requested(self, run_id: str) -> bool:
        """Whether ``swarm cancel`` asked for this run to stop (the driver polls this, and on
        PostgreSQL reads it when :meth:`request_cancel`'s notification wakes it)."""
        query = select(runs.c.cancel_requested_at).where(runs.c.run_id == run_id)
        async with self._reading() as conn:
            value = (await conn.execute(query)).scalar()
        return value is not None

    async def record_metrics(
        self, run_id: str, metrics: dict[str, Any], *, epoch: int | None = None
    ) -> None:
        """Store the run's metrics under ``summary_json.metrics`` (after the run has ended);
        with ``epoch``, only while the run is still the caller's (nothing written otherwise)."""
        owned = [runs.c.owner_epoch == epoch] if epoch is not None else []
        with anyio.CancelScope(shield=True):
            async with self._writing("record the metrics of a run") as conn:
                found = await conn.execute(
                    select(runs.c.summary_json)
                    .where(runs.c.run_id == run_id, *owned)
                    .with_for_update(key_share=True)
                )
                row = found.first()
                if row is None:
                    return
                summary = json.loads(row.summary_json) if row.summary_json else {}
                summary["metrics"] = metrics
                await conn.execute(
                    runs.update()
                    .where(runs.c.run_id == run_id, *owned)
                    .values(summary_json=json.dumps(summary))
                )

    async def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """The newest runs first."""
        query = select(runs).order_by(runs.c.created_at.desc(), runs.c.run_id).limit(limit)
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [_run_record(row) for row in rows]

    async def counts(self, run_id: str) -> dict[str, int]:
        """How many tasks are in each status (every task status is a key, zeros included)."""
        counts = dict.fromkeys(sorted(TASK_STATUSES), 0)
        counts.update((await self.task_totals(run_id))["counts"])
        return counts

    async def totals(self, run_id: str) -> dict[str, float]:
        """Steps, tokens and cost summed over the run's tasks (all attempts)."""
        totals = await self.task_totals(run_id)
        return {
            key: float(totals[key])
            for key in ("steps_total", "tokens_in", "tokens_out", "cost_usd")
        }

    def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return reading(self._reader, self.path)

    @property
    def _statements(self) -> statements.Statements:
        """The writer's statements in this database's dialect (generated from ``schema.py``)."""
        return statements.for_dialect("postgresql" if self.postgres else "sqlite")

    def creation_order(self) -> tuple[Any, ...]:
        """Tasks in the order they were created (``tasks.seq``, given at insert)."""
        return (tasks.c.seq, tasks.c.task_id)

    def _writing(self, what: str) -> AbstractAsyncContextManager[AsyncConnection]:
        self.refuse_if_read_only(what)
        return _transaction(self.engine, f"{what} in {self.path}")

    def refuse_if_read_only(self, what: str) -> None:
        if self.read_only:
            raise StoreError(
                f"cannot {what}: database {self.path} is read-only (nothing was written)",
                hint=READ_ONLY_PG_HINT if self.postgres else READ_ONLY_API_HINT,
                cli_hint=READ_ONLY_PG_HINT if self.postgres else READ_ONLY_HINT,
            )


READ_ONLY_PG_HINT = (
    "it was opened read-only (as the read commands open PostgreSQL): to write, open it without "
    "read_only=True, or use a command that runs or changes runs"
)
_PG_BEHIND_HINT = "upgrade it first with: swarm db upgrade --db URL (a role that may write)"
_FILE_BEHIND_HINT = "open it once with write access (any swarm command upgrades it)"


async def _check_revision(engine: AsyncEngine, where: str, hint: str) -> None:
    """:class:`StoreError` unless the database, opened read-only, has this swarm's schema."""
    revision = await migrate.current_revision(engine)
    if revision != migrate.HEAD:
        schema_of = "no swarm schema" if revision is None else f"schema revision {revision}"
        raise StoreError(
            f"database {where} is read-only and has {schema_of}, not this swarm's "
            f"({migrate.HEAD}): it cannot be upgraded",
            hint=hint,
        )


def reading(engine: AsyncEngine, path: object) -> AbstractAsyncContextManager[AsyncConnection]:
    """A read transaction on ``engine`` (the store's reader), shielded: see :func:`_transaction`.
    Shared by :class:`Store` and :class:`~swarm.store.queries.Queries`."""
    return _transaction(engine, f"read {path}", shield=True)


@asynccontextmanager
async def _transaction(
    engine: AsyncEngine, what: str, *, shield: bool = False
) -> AsyncIterator[AsyncConnection]:
    """One connection in one transaction; database errors become :class:`StoreError`.

    ``shield`` (reads): a cancellation waits for the transaction to end instead of cutting a
    query short, which makes SQLAlchemy throw its aiosqlite connection away in a task that can
    outlive the store and hang the event loop's shutdown. Reads are short and never wait for
    a lock in WAL mode; writes stay cancellable (one may wait out a busy database).
    """
    try:
        with anyio.CancelScope(shield=shield):
            async with engine.begin() as conn:
                yield conn
    except (SQLAlchemyError, OSError) as exc:  # OSError: a server that cannot be reached
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(f"cannot {what}: {reason}") from exc


async def _check_owner(conn: AsyncConnection, run_id: str, epoch: int | None, path: str) -> None:
    """:class:`RunNotFound`, or (with ``epoch``) :class:`RunTakenOver` if the run's owner epoch
    is no longer ``epoch``; inside the caller's ``BEGIN IMMEDIATE`` transaction."""
    found = await conn.execute(
        select(runs.c.owner_epoch).where(runs.c.run_id == run_id).with_for_update(key_share=True)
    )
    current = found.scalar()
    if current is None:
        raise RunNotFound(run_id, path)
    if epoch is not None and current != epoch:
        raise RunTakenOver(run_id, epoch, current)


def _read_only_cause(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the file cannot be written."""
    seen: BaseException | None = exc
    while seen is not None:
        if is_read_only(seen) or "unable to open database" in str(seen):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


async def _run_exists(conn: AsyncConnection, run_id: str) -> bool:
    found = await conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id))
    return found.first() is not None


def _run_record(row: Row[Any]) -> RunRecord:
    summary = None if row.summary_json is None else json.loads(row.summary_json)
    return RunRecord(
        run_id=row.run_id,
        goal=row.goal,
        plan_json=row.plan_json,
        config=json.loads(row.config_json),
        status=row.status,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        summary=summary,
        owner_pid=row.owner_pid,
        heartbeat_at=row.heartbeat_at,
    )

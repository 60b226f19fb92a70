"""The store facade: opening the database, creating runs, and the reads the runtime and CLI need.

All changes made while a run executes go through the :class:`~swarm.store.writer.Writer`; the
few writes here (creating a run, preparing a resume) happen before a writer exists, each in one
``BEGIN IMMEDIATE`` transaction. Reads use deferred transactions and never block the writer (WAL).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Row, func, insert, literal_column, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from swarm.errors import RunNotFound, StoreError
from swarm.store import batch as sql_text
from swarm.store import migrate
from swarm.store.engine import create_engine, reader
from swarm.store.records import NewRun, RunRecord, TaskRecord
from swarm.store.schema import TASK_STATUSES, attempts, calls, events, runs, tasks
from swarm.store.writer import OnCommit, Writer, run_id_taken

_INTERRUPTED = "the process stopped before this attempt finished"


class Store:
    """One SQLite database file holding any number of runs."""

    path: str
    """The absolute path of the database file."""
    engine: AsyncEngine

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.path = str(engine.url.database)
        self._reader = reader(engine)
        self._clock = clock

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) the database at ``path``; migrate it to the newest schema."""
        engine = create_engine(path)
        try:
            await migrate.upgrade(engine)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    def writer(self, on_commit: OnCommit) -> Writer:
        """The single writer for this database; run it in a task group with ``Writer.run``."""
        return Writer(self.engine, on_commit, clock=self._clock)

    async def create_run(self, run: NewRun) -> None:
        """Write the run (status ``created``), its pending tasks and a ``run.created`` event, as
        the writer's ``RunCreated`` does (runs started by the runtime go that way).

        Raises :class:`ConfigError` if the run id is taken, and writes nothing then.
        """
        with anyio.CancelScope(shield=True):
            await self._create_run(run)

    async def _create_run(self, run: NewRun) -> None:
        run_row, task_rows, event_row = sql_text.created_rows(run)
        async with self._writing("create a run") as conn:
            if await _run_exists(conn, run.run_id):
                raise run_id_taken(run.run_id, self.path)
            await conn.exec_driver_sql(sql_text.INSERT_RUN_SQL, run_row)
            if task_rows:
                await conn.exec_driver_sql(sql_text.INSERT_TASK_SQL, task_rows)
            await conn.exec_driver_sql(sql_text.INSERT_EVENT_SQL, event_row)

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
            .order_by(literal_column("rowid"))
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

    async def mark_interrupted(self, run_id: str) -> list[str]:
        """Prepare a resume: put tasks a stopped process left ``running`` or ``cancelled`` back
        to ``pending``.

        A ``running`` task's attempt gets an ``interrupted`` attempts row (unless it has one),
        so the attempt still counts. Returns the ids touched, and logs ``task.interrupted`` for
        each; one transaction.
        """
        with anyio.CancelScope(shield=True):
            touched = await self._mark_interrupted(run_id, self._clock())
        return touched

    async def _mark_interrupted(self, run_id: str, now: float) -> list[str]:
        async with self._writing("prepare the resume of a run") as conn:
            if not await _run_exists(conn, run_id):
                raise RunNotFound(run_id, self.path)
            # Resuming is an explicit wish to go on: an earlier `swarm cancel` no longer holds.
            await conn.execute(
                runs.update().where(runs.c.run_id == run_id).values(cancel_requested_at=None)
            )
            found = await conn.execute(
                select(tasks.c.task_id, tasks.c.status, tasks.c.attempt, tasks.c.started_at)
                .where(tasks.c.run_id == run_id, tasks.c.status.in_(("running", "cancelled")))
                .order_by(literal_column("rowid"))
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
                await conn.execute(insert(attempts).prefix_with("OR IGNORE"), lost)
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

    async def change_limits(self, run_id: str, plan_json: str, change: dict[str, Any]) -> None:
        """Store a run's plan with new budget limits (`swarm resume --max-tokens` …) and a
        ``run.limits_changed`` event saying what changed; one transaction."""
        with anyio.CancelScope(shield=True):
            async with self._writing("change the limits of a run") as conn:
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

    async def retry_tasks(self, run_id: str, failed: list[str], unskipped: list[str]) -> None:
        """Put failed tasks and their un-skipped descendants back to ``pending`` (`swarm
        retry`), with a ``task.retried`` or ``task.unskipped`` event each; one transaction.
        Attempt rows stay: the next attempts continue their numbering."""
        now = self._clock()
        with anyio.CancelScope(shield=True):
            async with self._writing("retry the failed tasks of a run") as conn:
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
                if record.status in ("succeeded", "failed", "cancelled", "paused"):
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
        return record

    async def cancel_requested(self, run_id: str) -> bool:
        """Whether ``swarm cancel`` asked for this run to stop (the driver polls this)."""
        query = select(runs.c.cancel_requested_at).where(runs.c.run_id == run_id)
        async with self._reading() as conn:
            value = (await conn.execute(query)).scalar()
        return value is not None

    async def record_metrics(self, run_id: str, metrics: dict[str, Any]) -> None:
        """Store the run's metrics under ``summary_json.metrics`` (after the run has ended)."""
        with anyio.CancelScope(shield=True):
            async with self._writing("record the metrics of a run") as conn:
                await conn.execute(
                    runs.update()
                    .where(runs.c.run_id == run_id)
                    .values(
                        summary_json=func.json_set(
                            func.coalesce(runs.c.summary_json, "{}"),
                            "$.metrics",
                            func.json(json.dumps(metrics)),
                        )
                    )
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

    def _writing(self, what: str) -> AbstractAsyncContextManager[AsyncConnection]:
        return _transaction(self.engine, f"{what} in {self.path}")


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
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(f"cannot {what}: {reason}") from exc


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

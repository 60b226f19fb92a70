"""Read-side queries for inspecting runs (CLI, report, export): SQL in, plain dataclasses out.

Every read runs in a deferred transaction on the store's reader, so inspecting a live run from
another process never blocks its writer (WAL). Unknown run ids raise :class:`RunNotFound`.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from swarm.errors import RunNotFound
from swarm.store.engine import reader
from swarm.store.pg_sql import dollar
from swarm.store.store import Store, reading
from swarm.store.views import to_postgres

_SESSION_STARTS = ("run.started", "run.resumed")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of ``swarm runs``: a run with its task counts and usage."""

    run_id: str
    goal: str
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat_at: float | None
    owner_pid: int | None
    duration_s: float | None
    """Wall clock from the first start to the end (or to the last heartbeat while live)."""
    tasks: int
    counts: dict[str, int]
    attempts: int
    steps: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    concurrency: int | None
    """The plan's ``budget.max_concurrency``, if it sets one."""
    cancel_requested_at: float | None
    summary: dict[str, Any] | None = None
    """``runs.summary_json`` as written at the run's end (with ``metrics`` once recorded)."""

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True, slots=True)
class TaskDetail:
    """A task as ``swarm show`` and the report present it."""

    task_id: str
    kind: str
    title: str | None
    status: str
    attempts: int
    deps: tuple[str, ...]
    started_at: float | None
    finished_at: float | None
    work_s: float
    """Time spent in all of its finished attempts (its share of the serial sum)."""
    steps: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    error: str | None
    error_kind: str | None
    result: str | None

    @property
    def duration_s(self) -> float | None:
        """The latest attempt's wall time, if it has finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)


@dataclass(frozen=True, slots=True)
class AttemptRow:
    task_id: str
    attempt: int
    status: str
    started_at: float
    finished_at: float
    error: str | None
    error_kind: str | None
    retryable: bool | None
    steps: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class StepRow:
    task_id: str
    attempt: int
    n: int
    kind: str
    name: str
    started_at: float
    latency_s: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    ref: str | None
    detail: Any


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    at: float
    type: str
    task_id: str | None
    attempt: int | None
    data: Any


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    task_id: str
    kind: str
    path: str
    """Relative to the run's artifact folder."""
    size: int
    sha256: str
    created_at: float


@dataclass(frozen=True, slots=True)
class RunDetail:
    """Everything ``swarm show``, the report and ``swarm export`` need about one run."""

    run: RunSummary
    tasks: list[TaskDetail]
    active_s: float
    """Time the run was being driven, summed over its sessions (start or resume to end)."""
    artifacts_dir: str | None
    """The run's own folder (``<artifacts_dir>/<run_id>``) as configured, if known."""
    artifacts: list[ArtifactRow] = field(default_factory=list)


class Queries:
    """Reads of one database; construct over an open :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.path
        self._reader = reader(store.engine)

    # -- runs -----------------------------------------------------------------------------

    async def runs(self, limit: int = 20) -> list[RunSummary]:
        """The newest runs first."""
        async with self._reading() as conn:
            rows = (await conn.exec_driver_sql(self._sql(_RUNS_SQL + _NEWEST), (limit,))).all()
        return [_run_summary(row) for row in rows]

    async def run(self, run_id: str) -> RunSummary:
        async with self._reading() as conn:
            return await self._run(conn, run_id)

    async def detail(self, run_id: str) -> RunDetail:
        """The run, its tasks (in creation order), its active time and its artifacts."""
        async with self._reading() as conn:
            run = await self._run(conn, run_id)
            task_rows = (await conn.exec_driver_sql(self._sql(_TASKS_SQL), (run_id, run_id))).all()
            marks = (await conn.exec_driver_sql(self._sql(_SESSIONS_SQL), (run_id,))).all()
            config = (
                await conn.exec_driver_sql(
                    self._sql("SELECT config_json FROM runs WHERE run_id = ?"), (run_id,)
                )
            ).scalar()
            artifacts = await self._artifacts(conn, run_id)
        tasks = [_task_detail(row) for row in task_rows]
        end = run.finished_at if run.status in _ENDED else (run.heartbeat_at or time.time())
        return RunDetail(
            run=run,
            tasks=tasks,
            active_s=active_seconds([(m.type, m.at) for m in marks], end),
            artifacts_dir=_run_folder(config, run_id),
            artifacts=artifacts,
        )

    # -- rows of one run ------------------------------------------------------------------

    async def attempts(self, run_id: str) -> list[AttemptRow]:
        async with self._reading() as conn:
            await self._run(conn, run_id)
            rows = (await conn.exec_driver_sql(self._sql(_ATTEMPTS_SQL), (run_id,))).all()
        return [
            AttemptRow(
                task_id=r.task_id,
                attempt=r.attempt,
                status=r.status,
                started_at=r.started_at,
                finished_at=r.finished_at,
                error=r.error,
                error_kind=r.error_kind,
                retryable=None if r.retryable is None else bool(r.retryable),
                steps=r.steps_used,
                tokens_in=r.tokens_in,
                tokens_out=r.tokens_out,
                cost_usd=r.cost_usd,
            )
            for r in rows
        ]

    async def steps(self, run_id: str) -> list[StepRow]:
        async with self._reading() as conn:
            await self._run(conn, run_id)
            rows = (await conn.exec_driver_sql(self._sql(_STEPS_SQL), (run_id,))).all()
        return [
            StepRow(
                task_id=r.task_id,
                attempt=r.attempt,
                n=r.n,
                kind=r.kind,
                name=r.name,
                started_at=r.started_at,
                latency_s=r.latency_s,
                tokens_in=r.tokens_in,
                tokens_out=r.tokens_out,
                cost_usd=r.cost_usd,
                ref=r.ref,
                detail=_loads(r.detail_json),
            )
            for r in rows
        ]

    async def events(
        self, run_id: str, *, after_id: int = 0, limit: int | None = None
    ) -> list[EventRow]:
        """The run's events with ``id > after_id``, oldest first (``id`` orders the log)."""
        sql = _EVENTS_SQL + ("" if limit is None else f" LIMIT {int(limit)}")
        async with self._reading() as conn:
            rows = (await conn.exec_driver_sql(self._sql(sql), (run_id, after_id))).all()
            if not rows and after_id == 0:
                await self._run(conn, run_id)
        return [
            EventRow(r.id, r.at, r.type, r.task_id, r.attempt, _loads(r.data_json)) for r in rows
        ]

    async def artifacts(self, run_id: str) -> list[ArtifactRow]:
        async with self._reading() as conn:
            await self._run(conn, run_id)
            return await self._artifacts(conn, run_id)

    # -- internals ------------------------------------------------------------------------

    async def _run(self, conn: AsyncConnection, run_id: str) -> RunSummary:
        row = (await conn.exec_driver_sql(self._sql(_RUNS_SQL + _ONE), (run_id,))).first()
        if row is None:
            raise RunNotFound(run_id, self.path)
        return _run_summary(row)

    async def _artifacts(self, conn: AsyncConnection, run_id: str) -> list[ArtifactRow]:
        rows = (await conn.exec_driver_sql(self._sql(_ARTIFACTS_SQL), (run_id,))).all()
        return [ArtifactRow(**row._mapping) for row in rows]

    def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return reading(self._reader, self.path)

    def _sql(self, statement: str) -> str:
        """``statement`` (SQLite's SQL) in this store's dialect."""
        return _postgres(statement) if self.store.postgres else statement


@functools.cache
def _postgres(statement: str) -> str:
    """A query in PostgreSQL's SQL: its functions (:func:`views.to_postgres`), ``$n``
    placeholders."""
    return dollar(to_postgres(statement))


def active_seconds(marks: Sequence[tuple[str, float]], end: float | None) -> float:
    """Time a run was being driven, from its ``run.started``/``run.resumed``/``run.finished``
    events in order: each session runs from its start to its ``run.finished``, or to the next
    session's start (a process that died), or to ``end`` for the last one."""
    total = 0.0
    start: float | None = None
    for kind, at in marks:
        if kind in _SESSION_STARTS:
            if start is not None:
                total += max(0.0, at - start)
            start = at
        elif kind == "run.finished" and start is not None:
            total += max(0.0, at - start)
            start = None
    if start is not None and end is not None:
        total += max(0.0, end - start)
    return total


_ENDED = frozenset({"succeeded", "failed", "cancelled", "paused", "waiting"})

_RUNS_SQL = """
SELECT s.run_id, s.goal, s.status, s.created_at, s.started_at, s.finished_at, s.duration_s,
       s.tasks, s.succeeded, s.failed, s.skipped, s.cancelled, s.running, s.pending,
       s.attempts, s.steps, s.tokens_in, s.tokens_out, s.cost_usd, s.cancel_requested_at,
       r.heartbeat_at, r.owner_pid, r.summary_json,
       json_extract(r.plan_json, '$.budget.max_concurrency') AS concurrency,
       (SELECT COUNT(*) FROM tasks AS w WHERE w.run_id = s.run_id AND w.status = 'waiting')
           AS waiting
FROM run_summary AS s JOIN runs AS r ON r.run_id = s.run_id
"""
"""``waiting`` is counted here, not in the ``run_summary`` view (whose columns revision 0003
fixed): tasks suspended until a decision or other tasks end."""
_NEWEST = " ORDER BY s.created_at DESC, s.run_id LIMIT ?"
_ONE = " WHERE s.run_id = ?"

_TASKS_SQL = """
SELECT t.task_id, t.kind, t.title, t.status, t.attempt, t.deps_json, t.started_at,
       t.finished_at, t.steps_used, t.tokens_in, t.tokens_out, t.cost_usd, t.error,
       t.error_kind, t.result, COALESCE(w.work_s, 0.0) AS work_s
FROM tasks AS t
LEFT JOIN (
    SELECT task_id, SUM(finished_at - started_at) AS work_s
    FROM attempts WHERE run_id = ? GROUP BY task_id
) AS w ON w.task_id = t.task_id
WHERE t.run_id = ?
ORDER BY t.seq, t.task_id
"""

_SESSIONS_SQL = """
SELECT type, at FROM events
WHERE run_id = ? AND type IN ('run.started', 'run.resumed', 'run.finished')
ORDER BY id
"""

_ATTEMPTS_SQL = """
SELECT task_id, attempt, status, started_at, finished_at, error, error_kind, retryable,
       steps_used, tokens_in, tokens_out, cost_usd
FROM attempts WHERE run_id = ? ORDER BY started_at, task_id, attempt
"""

_STEPS_SQL = """
SELECT task_id, attempt, n, kind, name, started_at, latency_s, tokens_in, tokens_out, cost_usd,
       ref, detail_json
FROM steps WHERE run_id = ? ORDER BY id
"""

_EVENTS_SQL = """
SELECT id, at, type, task_id, attempt, data_json FROM events
WHERE run_id = ? AND id > ? ORDER BY id
"""

_ARTIFACTS_SQL = """
SELECT task_id, kind, path, size, sha256, created_at FROM artifacts
WHERE run_id = ? ORDER BY task_id, path
"""


def _run_summary(row: Row[Any]) -> RunSummary:
    counts = {
        "pending": int(row.pending),
        "running": int(row.running),
        "succeeded": int(row.succeeded),
        "failed": int(row.failed),
        "skipped": int(row.skipped),
        "cancelled": int(row.cancelled),
        "waiting": int(row.waiting),
    }
    return RunSummary(
        run_id=row.run_id,
        goal=row.goal,
        status=row.status,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        owner_pid=row.owner_pid,
        duration_s=row.duration_s,
        tasks=int(row.tasks),
        counts=counts,
        attempts=int(row.attempts),
        steps=int(row.steps),
        tokens_in=int(row.tokens_in),
        tokens_out=int(row.tokens_out),
        cost_usd=float(row.cost_usd),
        concurrency=None if row.concurrency is None else int(row.concurrency),
        cancel_requested_at=row.cancel_requested_at,
        summary=_loads(row.summary_json),
    )


def _task_detail(row: Row[Any]) -> TaskDetail:
    return TaskDetail(
        task_id=row.task_id,
        kind=row.kind,
        title=row.title,
        status=row.status,
        attempts=int(row.attempt),
        deps=tuple(json.loads(row.deps_json)),
        started_at=row.started_at,
        finished_at=row.finished_at,
        work_s=float(row.work_s),
        steps=int(row.steps_used),
        tokens_in=int(row.tokens_in),
        tokens_out=int(row.tokens_out),
        cost_usd=float(row.cost_usd),
        error=row.error,
        error_kind=row.error_kind,
        result=row.result,
    )


def _run_folder(config_json: str | None, run_id: str) -> str | None:
    config = _loads(config_json)
    if not isinstance(config, dict) or not config.get("artifacts_dir"):
        return None
    return f"{str(config['artifacts_dir']).rstrip('/')}/{run_id}"


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text

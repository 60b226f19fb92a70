"""The writer's statements in PostgreSQL's dialect, derived from :mod:`swarm.store.batch`'s.

Most are batch.py's own SQL with ``$n`` placeholders (:func:`dollar`). Three differ: the artifact
upsert (``ON CONFLICT`` instead of ``INSERT OR REPLACE``), and the two statements whose matched
rows the writer must know, which asyncpg's ``executemany`` does not report: the fenced results
and the attempt starts are one ``UPDATE … FROM unnest(…) WITH ORDINALITY … RETURNING`` each, so
a whole segment's rows go in one round trip and the rows the database refused are the ordinals
missing from the answer. The guard locks the run's row (``FOR NO KEY UPDATE``) for the whole
transaction: a take's ``UPDATE`` waits for the commit, and a foreign-key check (an event of
``swarm cancel``) does not wait for it.
"""

from __future__ import annotations

import re

from swarm.store import batch

_MARK = re.compile(r"\?")


def dollar(statement: str) -> str:
    """``statement`` with each ``?`` (none sits inside a literal here) as ``$1``, ``$2`` …"""
    count = iter(range(1, 10_000))
    return _MARK.sub(lambda _: f"${next(count)}", statement)


def _unnest(columns: list[tuple[str, str]]) -> tuple[str, str]:
    """``unnest($1::t1[], …) WITH ORDINALITY AS v(c1, …, i)`` for ``columns`` (name, type)."""
    arrays = ", ".join(f"${n}::{kind}[]" for n, (_, kind) in enumerate(columns, 1))
    names = ", ".join(name for name, _ in columns)
    return f"unnest({arrays}) WITH ORDINALITY", f"v({names}, i)"


GUARD_SQL = "SELECT owner_epoch FROM runs WHERE run_id = $1 FOR NO KEY UPDATE"
INSERT_RUN_SQL = dollar(batch.INSERT_RUN_SQL)
RUN_STARTED_SQL = dollar(batch.RUN_STARTED_SQL)
UPDATE_PLAN_SQL = dollar(batch.UPDATE_PLAN_SQL)
UPDATE_DEPS_SQL = dollar(batch.UPDATE_DEPS_SQL)
INSERT_CALL_SQL = dollar(batch.INSERT_CALL_SQL)
FINISH_CALL_SQL = dollar(batch.FINISH_CALL_SQL)
INSERT_ATTEMPT_SQL = dollar(batch.INSERT_ATTEMPT_SQL)
INSERT_STEP_SQL = dollar(batch.INSERT_STEP_SQL)
INSERT_ARTIFACT_SQL = (
    dollar(batch.INSERT_ARTIFACT_SQL.replace("INSERT OR REPLACE", "INSERT"))
    + " ON CONFLICT (run_id, path) DO UPDATE SET task_id = EXCLUDED.task_id,"
    " kind = EXCLUDED.kind, size = EXCLUDED.size, sha256 = EXCLUDED.sha256,"
    " created_at = EXCLUDED.created_at"
)
TASK_SKIPPED_SQL = dollar(batch.TASK_SKIPPED_SQL)
TASK_REPLACED_SQL = dollar(batch.TASK_REPLACED_SQL)
TASK_WOKEN_SQL = dollar(batch.TASK_WOKEN_SQL)
WAIT_FAILED_SQL = dollar(batch.WAIT_FAILED_SQL)
INSERT_APPROVAL_SQL = dollar(batch.INSERT_APPROVAL_SQL)
TASK_CANCELLED_SQL = dollar(batch.TASK_CANCELLED_SQL)
RUN_FINISHED_SQL = dollar(batch.RUN_FINISHED_SQL)
INSERT_EVENT_SQL = dollar(batch.INSERT_EVENT_SQL)
HEARTBEAT_SQL = dollar(batch.HEARTBEAT_SQL)

_FINISH_COLUMNS = [
    ("status", "text"),
    ("result", "text"),
    ("error", "text"),
    ("error_kind", "text"),
    ("finished_at", "float8"),
    ("retry_at", "float8"),
    ("steps", "int"),
    ("tokens_in", "int"),
    ("tokens_out", "int"),
    ("cost_usd", "float8"),
    ("run_id", "text"),
    ("task_id", "text"),
    ("attempt", "int"),
]
"""The columns of :func:`swarm.store.batch.finish_row`, in order."""
_source, _alias = _unnest(_FINISH_COLUMNS)
ATTEMPT_FINISHED_SQL = (
    "UPDATE tasks AS t SET status = v.status, result = v.result, error = v.error,"
    " error_kind = v.error_kind, finished_at = v.finished_at, retry_at = v.retry_at,"
    " steps_used = t.steps_used + v.steps, tokens_in = t.tokens_in + v.tokens_in,"
    " tokens_out = t.tokens_out + v.tokens_out, cost_usd = t.cost_usd + v.cost_usd"
    f" FROM {_source} AS {_alias}"
    " WHERE t.run_id = v.run_id AND t.task_id = v.task_id AND t.attempt = v.attempt"
    " AND t.status = 'running' RETURNING v.i"
)
"""Fenced as :data:`swarm.store.batch.ATTEMPT_FINISHED_SQL`; returns the accepted ordinals."""

_START_COLUMNS = [
    ("attempt", "int"),
    ("allowance", "int"),
    ("started_at", "float8"),
    ("run_id", "text"),
    ("task_id", "text"),
]
_source, _alias = _unnest(_START_COLUMNS)
ATTEMPT_STARTED_SQL = (
    "UPDATE tasks AS t SET status = 'running', attempt = v.attempt, allowance = v.allowance,"
    " started_at = v.started_at, finished_at = NULL, error = NULL, error_kind = NULL,"
    f" retry_at = NULL FROM {_source} AS {_alias}"
    " WHERE t.run_id = v.run_id AND t.task_id = v.task_id AND t.status <> 'succeeded'"
    " RETURNING v.i"
)
"""As :data:`swarm.store.batch.ATTEMPT_STARTED_SQL`; returns the ordinals it started."""
_TASK_COLUMNS = [
    ("run_id", "text"),
    ("task_id", "text"),
    ("kind", "text"),
    ("title", "text"),
    ("deps_json", "text"),
    ("priority", "float8"),
]
"""The columns of :func:`swarm.store.batch.task_rows`, in order."""
_source, _alias = _unnest(_TASK_COLUMNS)
INSERT_TASK_SQL = (
    "INSERT INTO tasks (run_id, task_id, kind, title, deps_json, priority, status)"
    f" SELECT run_id, task_id, kind, title, deps_json, priority, 'pending' FROM {_source}"
    f" AS {_alias} ORDER BY i"
)
"""As :data:`swarm.store.batch.INSERT_TASK_SQL`, every row in one statement (a new run's
10,000 tasks: one round trip instead of a pipelined 10,000): pass :func:`columns`."""


def columns(rows: list[tuple[object, ...]]) -> list[list[object]]:
    """``rows`` transposed: the arrays an ``unnest`` statement takes."""
    return [list(column) for column in zip(*rows, strict=True)]


TASK_STATUS_SQL = "SELECT status FROM tasks WHERE run_id = $1 AND task_id = $2"

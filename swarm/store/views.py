"""The SQL views that make the database a dashboard interface: one ``SELECT`` per view.

People and dashboards read runs through these views (``docs/database.md`` describes each with
example queries); the CLI's own reads live in :mod:`swarm.store.queries`. Revision ``0003``
creates the views from this module, and a test checks that a migrated database holds exactly
these definitions. Two rules for later revisions:

- To change a view, add a revision that drops and recreates it, and first freeze the text
  ``0003`` used into ``0003`` itself, so that old revisions keep building what they built.
- A revision that rebuilds a table these views read (Alembic's batch mode copies, drops and
  renames it) must drop the views first and recreate them afterwards: SQLite refuses to rename
  a table while a view names a table that does not exist (``error in view …``).

Times are REAL epoch seconds as in the tables; ``*_s`` columns are seconds, offsets are from
the run's first start. "Now" for live rows is ``_NOW`` (works on every SQLite with
``julianday``).
"""

from __future__ import annotations

import re

_NOW = "((julianday('now') - 2440587.5) * 86400.0)"

RUN_SUMMARY = """
SELECT
    r.run_id,
    r.goal,
    r.status,
    datetime(r.created_at, 'unixepoch') AS created,
    r.created_at,
    r.started_at,
    r.finished_at,
    CASE WHEN r.started_at IS NOT NULL
         THEN COALESCE(r.finished_at, r.heartbeat_at, r.started_at) - r.started_at
    END AS duration_s,
    COALESCE(t.tasks, 0) AS tasks,
    COALESCE(t.succeeded, 0) AS succeeded,
    COALESCE(t.failed, 0) AS failed,
    COALESCE(t.skipped, 0) AS skipped,
    COALESCE(t.cancelled, 0) AS cancelled,
    COALESCE(t.running, 0) AS running,
    COALESCE(t.pending, 0) AS pending,
    COALESCE(t.attempts, 0) AS attempts,
    COALESCE(t.steps, 0) AS steps,
    COALESCE(t.tokens_in, 0) AS tokens_in,
    COALESCE(t.tokens_out, 0) AS tokens_out,
    COALESCE(t.tokens_in + t.tokens_out, 0) AS tokens,
    COALESCE(t.cost_usd, 0.0) AS cost_usd,
    json_extract(r.summary_json, '$.metrics.makespan_s') AS makespan_s,
    json_extract(r.summary_json, '$.metrics.serial_s') AS serial_s,
    json_extract(r.summary_json, '$.metrics.speedup') AS speedup,
    json_extract(r.summary_json, '$.metrics.steps_critical') AS steps_critical,
    json_extract(r.summary_json, '$.metrics.steps_ratio') AS steps_ratio,
    json_extract(r.summary_json, '$.metrics.critical_path_s') AS critical_path_s,
    json_extract(r.summary_json, '$.metrics.lower_bound_s') AS lower_bound_s,
    json_extract(r.summary_json, '$.metrics.efficiency') AS efficiency,
    r.cancel_requested_at
FROM runs AS r
LEFT JOIN (
    SELECT
        run_id,
        COUNT(*) AS tasks,
        SUM(status = 'succeeded') AS succeeded,
        SUM(status = 'failed') AS failed,
        SUM(status = 'skipped') AS skipped,
        SUM(status = 'cancelled') AS cancelled,
        SUM(status = 'running') AS running,
        SUM(status = 'pending') AS pending,
        SUM(attempt) AS attempts,
        SUM(steps_used) AS steps,
        SUM(tokens_in) AS tokens_in,
        SUM(tokens_out) AS tokens_out,
        SUM(cost_usd) AS cost_usd
    FROM tasks
    GROUP BY run_id
) AS t ON t.run_id = r.run_id
"""

TASK_TIMELINE = f"""
SELECT
    t.run_id,
    t.task_id,
    t.kind,
    t.title,
    t.status,
    t.attempt AS attempts,
    t.started_at,
    t.finished_at,
    t.started_at - r.started_at AS start_s,
    CASE WHEN t.status = 'running' THEN {_NOW} ELSE t.finished_at END - r.started_at AS end_s,
    CASE WHEN t.status = 'running' THEN {_NOW} ELSE t.finished_at END - t.started_at
        AS duration_s,
    t.steps_used AS steps,
    t.tokens_in,
    t.tokens_out,
    t.cost_usd,
    t.error_kind
FROM tasks AS t
JOIN runs AS r ON r.run_id = t.run_id
WHERE t.started_at IS NOT NULL
  AND (t.status = 'running' OR t.finished_at IS NOT NULL)
"""

USAGE_BY_KIND = """
SELECT
    run_id,
    kind,
    COUNT(*) AS tasks,
    SUM(status = 'succeeded') AS succeeded,
    SUM(status = 'failed') AS failed,
    SUM(attempt) AS attempts,
    SUM(steps_used) AS steps,
    SUM(tokens_in) AS tokens_in,
    SUM(tokens_out) AS tokens_out,
    SUM(tokens_in + tokens_out) AS tokens,
    SUM(cost_usd) AS cost_usd,
    AVG(finished_at - started_at) AS avg_duration_s
FROM tasks
GROUP BY run_id, kind
"""

USAGE_BY_MODEL = """
SELECT
    run_id,
    name AS model,
    COUNT(*) AS calls,
    SUM(tokens_in) AS tokens_in,
    SUM(tokens_out) AS tokens_out,
    SUM(tokens_in + tokens_out) AS tokens,
    SUM(cost_usd) AS cost_usd,
    AVG(latency_s) AS avg_latency_s,
    MAX(latency_s) AS max_latency_s
FROM steps
WHERE kind = 'model'
GROUP BY run_id, name
"""

FAILURES = """
SELECT
    a.run_id,
    a.task_id,
    t.kind,
    a.attempt,
    a.status AS outcome,
    a.error_kind,
    a.error,
    a.retryable,
    t.status AS task_status,
    a.started_at,
    a.finished_at,
    a.finished_at - a.started_at AS duration_s
FROM attempts AS a
JOIN tasks AS t ON t.run_id = a.run_id AND t.task_id = a.task_id
WHERE a.status <> 'succeeded'
"""

CONCURRENCY = """
WITH edges AS (
    SELECT run_id, started_at AS at, 1 AS delta FROM attempts
    UNION ALL
    SELECT run_id, finished_at AS at, -1 AS delta FROM attempts
    UNION ALL
    SELECT run_id, started_at AS at, 1 AS delta FROM tasks
    WHERE status = 'running' AND started_at IS NOT NULL
)
SELECT
    e.run_id,
    e.at,
    e.at - r.started_at AS t_s,
    SUM(e.delta) OVER (
        PARTITION BY e.run_id ORDER BY e.at, e.delta ROWS UNBOUNDED PRECEDING
    ) AS running
FROM edges AS e
JOIN runs AS r ON r.run_id = e.run_id
"""

VIEWS: dict[str, str] = {
    "run_summary": RUN_SUMMARY,
    "task_timeline": TASK_TIMELINE,
    "usage_by_kind": USAGE_BY_KIND,
    "usage_by_model": USAGE_BY_MODEL,
    "failures": FAILURES,
    "concurrency": CONCURRENCY,
}
"""Every view, by name: the ``SELECT`` it runs (ordered as ``docs/database.md`` lists them)."""


PENDING_APPROVALS = """
SELECT
    a.run_id,
    a.task_id,
    t.title,
    t.kind,
    a.attempt,
    a.requested_at,
    a.prompt,
    t.deps_json,
    r.goal,
    r.status AS run_status
FROM approvals AS a
JOIN tasks AS t ON t.run_id = a.run_id AND t.task_id = a.task_id
JOIN runs AS r ON r.run_id = a.run_id
WHERE a.decision IS NULL AND t.status = 'waiting' AND t.attempt = a.attempt
"""
"""Approval gates waiting for a person: undecided, and the task still waits on them. Plain
SQL (no SQLite functions), as every dialect's store reads it the same way."""

APPROVAL_VIEWS: dict[str, str] = {"pending_approvals": PENDING_APPROVALS}
"""Views over ``approvals``, created by revision ``0005`` (after the table), not ``0003``."""


def approval_create_statements() -> list[str]:
    return [f"CREATE VIEW {name} AS {sql.strip()}" for name, sql in APPROVAL_VIEWS.items()]


def approval_drop_statements() -> list[str]:
    return [f"DROP VIEW IF EXISTS {name}" for name in reversed(APPROVAL_VIEWS)]


def create_statements(dialect: str = "sqlite") -> list[str]:
    """``CREATE VIEW`` for every view, in order, in ``dialect`` (``sqlite`` or ``postgresql``)."""
    made = VIEWS if dialect == "sqlite" else postgres_views()
    return [f"CREATE VIEW {name} AS {sql.strip()}" for name, sql in made.items()]


_PG_NOW = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
_JSON_PATH = re.compile(r"json_extract\(([\w.]+), '\$\.([\w.]+)'\)")
_SUM_OF_TEST = re.compile(r"SUM\((\w+ = '\w+')\)")
_UNIX_DATETIME = re.compile(r"datetime\(([\w.]+), 'unixepoch'\)")


def to_postgres(statement: str) -> str:
    """SQLite's SQL as PostgreSQL's: the few functions the views and the queries use.

    ``json_extract(col, '$.a.b')`` (numbers only here) → ``CAST(col::json #>> '{a,b}' AS
    DOUBLE PRECISION)``; ``SUM(status = 'x')`` → ``SUM(CASE … THEN 1 ELSE 0 END)``;
    ``datetime(t, 'unixepoch')`` → the same UTC text; SQLite's "now" → ``clock_timestamp()``.
    """
    out = statement.replace(_NOW, _PG_NOW)
    out = _JSON_PATH.sub(
        lambda m: f"CAST({m[1]}::json #>> '{{{m[2].replace('.', ',')}}}' AS DOUBLE PRECISION)",
        out,
    )
    out = _SUM_OF_TEST.sub(r"SUM(CASE WHEN \1 THEN 1 ELSE 0 END)", out)
    return _UNIX_DATETIME.sub(
        r"to_char(to_timestamp(\1) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')", out
    )


def postgres_views() -> dict[str, str]:
    """:data:`VIEWS` in PostgreSQL's dialect (same names, columns and meaning)."""
    return {name: to_postgres(sql) for name, sql in VIEWS.items()}


def drop_statements() -> list[str]:
    """``DROP VIEW`` for every view, in reverse order."""
    return [f"DROP VIEW IF EXISTS {name}" for name in reversed(VIEWS)]

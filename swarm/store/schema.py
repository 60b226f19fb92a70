"""The database schema as SQLAlchemy Core tables: the one source the migrations are checked against.

Times are REAL epoch seconds; ``*_json`` columns are TEXT holding JSON. Statuses are plain TEXT
(the sets below document them); the single writer is the only code that changes them.
"""

from __future__ import annotations

from sqlalchemy import REAL as _SQLITE_REAL
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.types import TypeEngine

RUN_STATUSES = frozenset(
    {"created", "running", "succeeded", "failed", "cancelled", "paused", "waiting"}
)
TASK_STATUSES = frozenset(
    {"pending", "running", "succeeded", "failed", "skipped", "cancelled", "replaced", "waiting"}
)
ATTEMPT_STATUSES = frozenset(
    {"succeeded", "failed", "timeout", "cancelled", "interrupted", "paused", "suspended"}
)
"""``suspended``: the attempt ended without an outcome and its task waits (``waiting``)."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_ZERO = text("0")

REAL: TypeEngine[float] = _SQLITE_REAL().with_variant(DOUBLE_PRECISION(), "postgresql")
"""Seconds and dollars: SQLite's REAL (8 bytes), and PostgreSQL's ``double precision`` (its
``real`` has 4 bytes, which would round an epoch time to minutes). The migrations use it too."""
INTEGER: TypeEngine[int] = Integer().with_variant(BigInteger(), "postgresql")
"""Counts, sizes, ids: SQLite's INTEGER (8 bytes), and PostgreSQL's ``bigint`` (its ``integer``
has 4, which would clamp a token count past 2**31 or an artifact of 2 GiB; migration 0008)."""


def _counters() -> list[Column[object]]:
    """Step, token and cost columns shared by tasks and attempts."""
    return [
        Column("steps_used", INTEGER, nullable=False, server_default=_ZERO),
        Column("tokens_in", INTEGER, nullable=False, server_default=_ZERO),
        Column("tokens_out", INTEGER, nullable=False, server_default=_ZERO),
        Column("cost_usd", REAL, nullable=False, server_default=_ZERO),
    ]


runs = Table(
    "runs",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("goal", Text, nullable=False),
    Column("plan_json", Text, nullable=False),
    Column("config_json", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", REAL, nullable=False),
    Column("started_at", REAL),
    Column("finished_at", REAL),
    Column("heartbeat_at", REAL),
    Column("owner_pid", INTEGER),
    Column("summary_json", Text),
    Column("cancel_requested_at", REAL),
    Column("owner_epoch", INTEGER, nullable=False, server_default=_ZERO),
    Column("owner_host", Text),
    PrimaryKeyConstraint("run_id"),
)
"""``cancel_requested_at``: set by ``swarm cancel`` from any process; the driving process polls
it and cancels the run. Resuming a run clears it.

``owner_epoch``: the fence. A driver that takes the run (execute: 1 with the run's row; resume:
``owner_epoch + 1`` in the transaction that judges the previous owner gone) checks it in every
later transaction of its own; a bigger number means another driver took the run over, and the
stale driver's transaction is rolled back (see ``swarm.store.writer`` and docs/architecture.md).

``owner_host``: the owner's machine (``socket.gethostname()``). A fresh heartbeat from another
machine means a live owner: its pid cannot be checked from here."""

tasks = Table(
    "tasks",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("title", Text),
    Column("deps_json", Text, nullable=False),
    Column("priority", REAL, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempt", INTEGER, nullable=False, server_default=_ZERO),
    Column("allowance", INTEGER, nullable=False, server_default=_ZERO),
    Column("result", Text),
    Column("error", Text),
    Column("error_kind", Text),
    Column("started_at", REAL),
    Column("finished_at", REAL),
    Column("retry_at", REAL),
    *_counters(),
    Column("seq", INTEGER, nullable=False, server_default=_ZERO),
    PrimaryKeyConstraint("run_id", "task_id"),
    ForeignKeyConstraint(["run_id"], ["runs.run_id"]),
    Index("ix_tasks_run_id_status", "run_id", "status"),
    Index("ix_tasks_run_id_seq", "run_id", "seq"),
)
"""``seq``: the task's place in its run's creation order (1, 2, …), given by the insert (the
rows of one statement in their order, after every task of the run already written), so a run's
tasks are listed in the order they were created on every backend (migration ``0007``)."""

attempts = Table(
    "attempts",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("attempt", INTEGER, nullable=False),
    Column("status", Text, nullable=False),
    Column("started_at", REAL, nullable=False),
    Column("finished_at", REAL, nullable=False),
    Column("error", Text),
    Column("error_kind", Text),
    Column("retryable", INTEGER),
    *_counters(),
    PrimaryKeyConstraint("run_id", "task_id", "attempt"),
    ForeignKeyConstraint(["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"]),
)

steps = Table(
    "steps",
    metadata,
    Column("id", INTEGER, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("attempt", INTEGER, nullable=False),
    Column("n", INTEGER, nullable=False),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("started_at", REAL, nullable=False),
    Column("latency_s", REAL, nullable=False),
    Column("tokens_in", INTEGER, nullable=False, server_default=_ZERO),
    Column("tokens_out", INTEGER, nullable=False, server_default=_ZERO),
    Column("cost_usd", REAL, nullable=False, server_default=_ZERO),
    Column("ref", Text),
    Column("detail_json", Text),
    PrimaryKeyConstraint("id"),
    ForeignKeyConstraint(
        ["run_id", "task_id", "attempt"],
        ["attempts.run_id", "attempts.task_id", "attempts.attempt"],
    ),
    Index("ix_steps_run_id_task_id", "run_id", "task_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", INTEGER, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("at", REAL, nullable=False),
    Column("type", Text, nullable=False),
    Column("task_id", Text),
    Column("attempt", INTEGER),
    Column("data_json", Text),
    PrimaryKeyConstraint("id"),
    ForeignKeyConstraint(["run_id"], ["runs.run_id"]),
    Index("ix_events_run_id_id", "run_id", "id"),
)
"""Append-only: rows are never updated or deleted, so ``id`` orders the log."""

calls = Table(
    "calls",
    metadata,
    Column("id", INTEGER, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("attempt", INTEGER, nullable=False),
    Column("step", INTEGER, nullable=False),
    Column("provider", Text, nullable=False),
    Column("ref", Text, nullable=False),
    Column("status", Text),
    Column("created_at", REAL, nullable=False),
    Column("finished_at", REAL),
    PrimaryKeyConstraint("id"),
    ForeignKeyConstraint(["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"]),
    Index("ix_calls_run_id_task_id_step", "run_id", "task_id", "step"),
)
"""Write-ahead record of remote predictions: committed before their output is awaited, so a
resumed run re-attaches to a prediction instead of paying for it twice. ``status`` is NULL while
the prediction's outcome is unknown."""

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", INTEGER, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("size", INTEGER, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("created_at", REAL, nullable=False),
    PrimaryKeyConstraint("id"),
    ForeignKeyConstraint(["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"]),
    UniqueConstraint("run_id", "path"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("attempt", INTEGER, nullable=False),
    Column("requested_at", REAL, nullable=False),
    Column("prompt", Text),
    Column("decision", Text),
    Column("decided_by", Text),
    Column("decided_at", REAL),
    Column("note", Text),
    PrimaryKeyConstraint("run_id", "task_id", "attempt"),
    ForeignKeyConstraint(["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"]),
)
"""One row per approval gate reached: written by the driver with the task's wait (``attempt``
is the attempt that waits), decided once by anyone (``decision`` ``approved`` or ``rejected``,
a compare-and-set on ``decision IS NULL``: see :mod:`swarm.store.approvals`); the driver
applies the decision to the task."""

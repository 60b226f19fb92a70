"""The initial schema: runs, tasks, attempts, steps, events and artifacts.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from swarm.store.schema import REAL

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counters() -> list[sa.Column[int] | sa.Column[float]]:
    zero = sa.text("0")
    return [
        sa.Column("steps_used", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("tokens_in", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("tokens_out", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("cost_usd", REAL, nullable=False, server_default=zero),
    ]


def upgrade() -> None:
    zero = sa.text("0")
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("plan_json", sa.Text(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", REAL, nullable=False),
        sa.Column("started_at", REAL, nullable=True),
        sa.Column("finished_at", REAL, nullable=True),
        sa.Column("heartbeat_at", REAL, nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("summary_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_table(
        "tasks",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("deps_json", sa.Text(), nullable=False),
        sa.Column("priority", REAL, nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("allowance", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.Text(), nullable=True),
        sa.Column("started_at", REAL, nullable=True),
        sa.Column("finished_at", REAL, nullable=True),
        sa.Column("retry_at", REAL, nullable=True),
        *_counters(),
        sa.PrimaryKeyConstraint("run_id", "task_id", name="pk_tasks"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_tasks_runs"),
    )
    op.create_index("ix_tasks_run_id_status", "tasks", ["run_id", "status"])
    op.create_table(
        "attempts",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("started_at", REAL, nullable=False),
        sa.Column("finished_at", REAL, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.Text(), nullable=True),
        sa.Column("retryable", sa.Integer(), nullable=True),
        *_counters(),
        sa.PrimaryKeyConstraint("run_id", "task_id", "attempt", name="pk_attempts"),
        sa.ForeignKeyConstraint(
            ["run_id", "task_id"],
            ["tasks.run_id", "tasks.task_id"],
            name="fk_attempts_tasks",
        ),
    )
    op.create_table(
        "steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("started_at", REAL, nullable=False),
        sa.Column("latency_s", REAL, nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("tokens_out", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("cost_usd", REAL, nullable=False, server_default=zero),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_steps"),
        sa.ForeignKeyConstraint(
            ["run_id", "task_id", "attempt"],
            ["attempts.run_id", "attempts.task_id", "attempts.attempt"],
            name="fk_steps_attempts",
        ),
    )
    op.create_index("ix_steps_run_id_task_id", "steps", ["run_id", "task_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("at", REAL, nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_events_runs"),
    )
    op.create_index("ix_events_run_id_id", "events", ["run_id", "id"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("created_at", REAL, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id", "task_id"],
            ["tasks.run_id", "tasks.task_id"],
            name="fk_artifacts_tasks",
        ),
        sa.UniqueConstraint("run_id", "path", name="uq_artifacts_run_id_path"),
    )


def downgrade() -> None:
    op.drop_table("artifacts")
    op.drop_index("ix_events_run_id_id", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_steps_run_id_task_id", table_name="steps")
    op.drop_table("steps")
    op.drop_table("attempts")
    op.drop_index("ix_tasks_run_id_status", table_name="tasks")
    op.drop_table("tasks")
    op.drop_table("runs")

"""Remote predictions recorded before their output is awaited (the calls journal).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from swarm.store.schema import REAL

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("created_at", REAL, nullable=False),
        sa.Column("finished_at", REAL, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.ForeignKeyConstraint(
            ["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"], name="fk_calls_tasks"
        ),
    )
    op.create_index("ix_calls_run_id_task_id_step", "calls", ["run_id", "task_id", "step"])


def downgrade() -> None:
    op.drop_index("ix_calls_run_id_task_id_step", table_name="calls")
    op.drop_table("calls")

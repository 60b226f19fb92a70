"""tasks.seq: a task's place in its run's creation order, given at insert on every backend, so
PostgreSQL lists a run's tasks in the order they were created as SQLite does (SQLite's rowid
order has no counterpart there).

Tasks already written are numbered in the order each backend listed them: SQLite's ``rowid``
(creation order), PostgreSQL's priority then id (the order it had, for lack of a better one).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 06:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from swarm.store import views

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NUMBER_POSTGRES = """
UPDATE tasks SET seq = r.n FROM (
    SELECT run_id, task_id,
           ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY priority DESC, task_id) AS n
    FROM tasks
) AS r WHERE tasks.run_id = r.run_id AND tasks.task_id = r.task_id
"""


def upgrade() -> None:
    op.add_column(
        "tasks", sa.Column("seq", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_NUMBER_POSTGRES)
    else:
        op.execute("UPDATE tasks SET seq = rowid")  # increasing within each run
    op.create_index("ix_tasks_run_id_seq", "tasks", ["run_id", "seq"])


def downgrade() -> None:
    # The views go first: SQLite cannot rebuild ``tasks`` while views refer to it.
    dialect = op.get_bind().dialect.name
    for statement in views.approval_drop_statements() + views.drop_statements():
        op.execute(statement)
    op.drop_index("ix_tasks_run_id_seq", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("seq")
    for statement in views.create_statements(dialect) + views.approval_create_statements():
        op.execute(statement)

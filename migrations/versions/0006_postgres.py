"""runs.owner_host: the machine of the driver that owns a run, now that drivers on several
machines share one PostgreSQL database (a pid says nothing about another machine's processes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from swarm.store import views

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("owner_host", sa.Text(), nullable=True))


def downgrade() -> None:
    # The views go first: SQLite cannot rebuild ``runs`` while views refer to it.
    dialect = op.get_bind().dialect.name
    for statement in views.approval_drop_statements() + views.drop_statements():
        op.execute(statement)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("owner_host")
    for statement in views.create_statements(dialect) + views.approval_create_statements():
        op.execute(statement)

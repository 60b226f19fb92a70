"""runs.owner_epoch: the fence of the driver that owns a run (see docs/architecture.md, Fencing).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from swarm.store import views

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "runs",
        sa.Column("owner_epoch", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    # The views go first: SQLite cannot rebuild ``runs`` while views refer to it.
    for statement in views.drop_statements():
        op.execute(statement)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("owner_epoch")
    for statement in views.create_statements(op.get_bind().dialect.name):
        op.execute(statement)

"""Views for dashboards and ad-hoc SQL, and runs.cancel_requested_at for `swarm cancel`.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from swarm.store import views
from swarm.store.schema import REAL

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("cancel_requested_at", REAL, nullable=True))
    for statement in views.create_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    # The views go first: SQLite cannot rebuild ``runs`` while views refer to it.
    for statement in views.drop_statements():
        op.execute(statement)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("cancel_requested_at")

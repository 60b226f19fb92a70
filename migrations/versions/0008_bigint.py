"""64-bit integers on PostgreSQL, as SQLite's always are: every integer column becomes
``bigint`` (its ``integer`` has 4 bytes: a token count past 2**31 or an artifact of 2 GiB was
clamped there), and the id sequences with them. Nothing changes on SQLite.

PostgreSQL refuses to change the type of a column a view reads, so the views are dropped first
and made again after.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from swarm.store import views

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": ("owner_pid", "owner_epoch"),
    "events": ("id", "attempt"),
    "tasks": ("attempt", "allowance", "steps_used", "tokens_in", "tokens_out", "seq"),
    "approvals": ("attempt",),
    "artifacts": ("id", "size"),
    "attempts": ("attempt", "retryable", "steps_used", "tokens_in", "tokens_out"),
    "calls": ("id", "attempt", "step"),
    "steps": ("id", "attempt", "n", "tokens_in", "tokens_out"),
}
"""The integer columns at revision 0007."""
SERIAL_IDS = ("events", "artifacts", "calls", "steps")
"""Tables whose ``id`` a sequence gives."""


def upgrade() -> None:
    _retype("BIGINT")


def downgrade() -> None:
    # A value past 2**31 - 1 stops the downgrade with the server's error: nothing is changed.
    _retype("INTEGER")


def _retype(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's INTEGER holds 8 bytes already
    for statement in views.approval_drop_statements() + views.drop_statements():
        op.execute(statement)
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {c} TYPE {kind}" for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
    bind = op.get_bind()
    for table in SERIAL_IDS:
        sequence = bind.execute(sa.text(f"SELECT pg_get_serial_sequence('{table}', 'id')"))
        name = sequence.scalar_one()
        if name is not None:
            op.execute(f"ALTER SEQUENCE {name} AS {kind}")
    for statement in views.create_statements("postgresql") + views.approval_create_statements():
        op.execute(statement)

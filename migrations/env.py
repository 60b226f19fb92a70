"""Alembic's environment: runs the revisions on the connection swarm hands over, or on its own.

:func:`swarm.store.migrate.upgrade` passes a synchronous connection (from ``run_sync`` on the
async engine, already inside a ``BEGIN IMMEDIATE`` transaction) in
``config.attributes["connection"]``. Without one, as when a developer autogenerates a revision,
this opens the database named by ``-x db=PATH`` or ``SWARM_DB`` through the same async engine.
``--sql`` (offline mode) prints the DDL for SQLite instead.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from swarm.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_own_engine() -> None:
    from swarm.store.engine import create_engine, default_db

    db = context.get_x_argument(as_dictionary=True).get("db")
    engine = create_engine(db or default_db())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url="sqlite://",
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    given = context.config.attributes.get("connection")
    if given is None:
        asyncio.run(_run_on_own_engine())
    else:
        _run(given)

"""Opening a PostgreSQL store: SQLAlchemy's async engine over asyncpg, for reads and the few
writes made before a run's writer exists (the writer has a connection of its own).

A read-only engine (``read_only=True``, what the read commands open) sets the session's
``default_transaction_read_only`` on every connection it makes: each transaction is ``READ
ONLY``, so the server itself refuses any write, not only the store's own checks, and a role with
nothing but ``SELECT`` can read.

The schema has no ``numeric`` column: a ``numeric`` comes only from ``SUM``/``AVG`` over a
``bigint`` column (every integer is one, migration 0008), and is read as SQLite gives it, an
``int`` (or a ``float`` when it has a fraction), not a ``Decimal`` that ``json`` cannot write."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from swarm.errors import StoreError
from swarm.store.target import shown, sqlalchemy_url

INSTALL_HINT = 'install the PostgreSQL extra: pip install "swarm-harness[postgres]"'


def create_pg_engine(url: str, *, read_only: bool = False) -> AsyncEngine:
    """An async engine for the database at ``url``; :class:`StoreError` without asyncpg."""
    try:
        import asyncpg  # noqa: F401
    except ImportError as exc:
        raise StoreError(
            f"cannot open {shown(url)}: asyncpg is not installed", hint=INSTALL_HINT
        ) from exc
    settings = {"default_transaction_read_only": "on"} if read_only else {}
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=5,
        max_overflow=10,
        connect_args={"server_settings": settings},
    )
    event.listen(engine.sync_engine, "connect", _numbers_as_sqlite_gives_them)
    return engine


def number(text: str) -> int | float:
    """A ``numeric`` in text form as SQLite would give it: an ``int`` when it is whole."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _numbers_as_sqlite_gives_them(dbapi_connection: Any, _record: object) -> None:
    async def codec(conn: Any) -> None:
        await conn.set_type_codec(
            "numeric", encoder=str, decoder=number, schema="pg_catalog", format="text"
        )

    dbapi_connection.run_async(codec)

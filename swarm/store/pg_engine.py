"""Opening a PostgreSQL store: SQLAlchemy's async engine over asyncpg, for reads and the few
writes made before a run's writer exists (the writer has a connection of its own)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from swarm.errors import StoreError
from swarm.store.target import shown, sqlalchemy_url

INSTALL_HINT = 'install the PostgreSQL extra: pip install "swarm-harness[postgres]"'


def create_pg_engine(url: str) -> AsyncEngine:
    """An async engine for the database at ``url``; :class:`StoreError` without asyncpg."""
    try:
        import asyncpg  # noqa: F401
    except ImportError as exc:
        raise StoreError(
            f"cannot open {shown(url)}: asyncpg is not installed", hint=INSTALL_HINT
        ) from exc
    return create_async_engine(sqlalchemy_url(url), pool_size=5, max_overflow=10)

"""Bringing a database (a SQLite file or a PostgreSQL database) to the newest schema with the
Alembic revisions in ``migrations/``.

Alembic is configured in code (no ``alembic.ini``), with ``script_location`` found from the
installed ``migrations`` package, so this works from a wheel as well as from a checkout. Opening a
store that is already current costs one small query: Alembic is only loaded when there is work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from swarm.errors import StoreError
from swarm.store.engine import reader

if TYPE_CHECKING:  # alembic is imported only when a migration has to run (start-up time)
    from alembic.config import Config

HEAD = "0008"
"""The newest revision in ``migrations/versions`` (a test keeps the two in step)."""


_HAS_VERSION = {
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'",
    "postgresql": "SELECT to_regclass('alembic_version')",
}
_MIGRATION_LOCK = 0x5357524D
"""PostgreSQL advisory lock key held while migrating: two processes opening a fresh database
serialise on it (the second finds the work done), as SQLite's ``BEGIN IMMEDIATE`` does."""


def script_location() -> Path:
    """The folder of the ``migrations`` package, wherever it is installed."""
    return Path(migrations.__file__).resolve().parent


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for swarm's revisions, optionally bound to an open connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or ``None`` for a database without swarm's tables."""
    try:
        async with reader(engine).begin() as conn:
            found = await conn.exec_driver_sql(_HAS_VERSION[engine.dialect.name])
            if found.scalar() is None:
                return None
            row = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).first()
    except Exception as exc:
        if not (isinstance(exc, SQLAlchemyError | OSError) or _from_driver(exc)):
            raise
        raise StoreError(
            f"cannot read database {_db(engine)}: {_reason(exc)}", hint=_hint(engine)
        ) from exc
    return None if row is None else str(row[0])


def _from_driver(exc: Exception) -> bool:
    """An error of the database driver itself: SQLAlchemy before 2.0.3x let asyncpg's errors
    at connect (a database that does not exist, a refused login) pass unwrapped."""
    return type(exc).__module__.split(".")[0] == "asyncpg"


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every missing revision, in one ``BEGIN IMMEDIATE`` transaction; no-op when current.

    Concurrent callers (two processes opening a fresh file) serialise on the write lock, and the
    second one finds the work done.
    """
    if await current_revision(engine) == HEAD:
        return
    from alembic.util import CommandError

    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # what SQLite's write lock does there
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            await conn.run_sync(_upgrade_sync)
    except CommandError as exc:
        raise StoreError(
            f"cannot migrate database {_db(engine)}: {exc}",
            hint="the file may have been written by a newer swarm; upgrade swarm to open it",
        ) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(
            f"cannot migrate database {_db(engine)}: {_reason(exc)}", hint=_hint(engine)
        ) from exc


def _upgrade_sync(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


def _db(engine: AsyncEngine) -> str:
    if engine.dialect.name == "postgresql":
        return engine.url.set(drivername="postgresql").render_as_string(hide_password=True)
    return str(engine.url.database)


def _hint(engine: AsyncEngine) -> str | None:
    if engine.dialect.name == "postgresql":
        return (
            "check that the server is running, that the database exists (createdb NAME) and "
            "that the URL (--db or SWARM_DB) names it"
        )
    return None


def _reason(exc: BaseException) -> object:
    """The driver's own message where there is one, without SQLAlchemy's SQL dump."""
    return getattr(exc, "orig", None) or exc

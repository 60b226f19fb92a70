"""Opening the SQLite file: path checks, the async engine, per-connection pragmas and BEGIN modes.

Every connection runs in WAL mode with ``synchronous=NORMAL`` and a 30 s busy timeout. pysqlite's
own transaction handling is switched off (``isolation_level=None``) and SQLAlchemy's ``begin``
event emits the BEGIN instead: ``BEGIN IMMEDIATE`` by default, so a writer takes the write lock
up front (and waits for it under the busy timeout) instead of failing with "database is locked"
when it upgrades a read lock; engines made by :func:`reader` emit a plain deferred ``BEGIN``.
The single writer opens its own plain ``sqlite3`` connection with the same pragmas
(:func:`connect_for_writing`), so that a whole transaction is one call on its thread.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from swarm.errors import StoreError

READ_ONLY = "swarm_read_only"
"""Execution option: transactions on a connection carrying it begin deferred (readers)."""

BUSY_TIMEOUT_MS = 30_000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HINT = "use a SQLite database file in an existing folder"
_CLI_HINT = "point --db or SWARM_DB at a SQLite file in an existing folder"


def default_db() -> Path:
    """The database the CLI uses when ``--db`` is not given: ``$SWARM_DB``, else ``./swarm.db``."""
    return Path(os.environ.get("SWARM_DB") or "swarm.db")


def create_engine(path: str | Path) -> AsyncEngine:
    """An async engine over the SQLite file at ``path`` (created on first connect if absent).

    Raises :class:`StoreError` for ``:memory:`` (the store is always a file), a missing parent
    folder, or an existing file that is not a SQLite database.
    """
    file = check_path(path)
    engine = create_async_engine(
        URL.create("sqlite+aiosqlite", database=str(file)),
        connect_args={"isolation_level": None},
    )
    _install_hooks(engine, file)
    return engine


def reader(engine: AsyncEngine) -> AsyncEngine:
    """A view of ``engine`` (same pool) whose transactions begin deferred: for read-only work."""
    return engine.execution_options(**{READ_ONLY: True})


def check_path(path: str | Path) -> Path:
    """The absolute path of a usable database file, or :class:`StoreError` saying why not."""
    text = str(path)
    if not text or text == ":memory:" or text.startswith("file:"):
        raise StoreError(
            f"database {text!r}: the store must be a file on disk, not an in-memory database",
            hint=_HINT,
            cli_hint=_CLI_HINT,
        )
    file = Path(text).expanduser().absolute()
    if not file.parent.is_dir():
        raise StoreError(
            f"cannot open database {file}: folder {file.parent} does not exist",
            hint=_HINT,
            cli_hint=_CLI_HINT,
        )
    if file.is_dir():
        raise StoreError(
            f"cannot open database {file}: it is a folder", hint=_HINT, cli_hint=_CLI_HINT
        )
    if file.exists():
        try:
            with file.open("rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise StoreError(
                f"cannot open database {file}: {exc}", hint=_HINT, cli_hint=_CLI_HINT
            ) from exc
        if head and head != _SQLITE_MAGIC[: len(head)]:
            raise StoreError(f"{file} is not a SQLite database", hint=_HINT, cli_hint=_CLI_HINT)
    return file


def _install_hooks(engine: AsyncEngine, file: Path) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        configure_connection(dbapi_connection, file)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def connect_for_writing(file: str | Path) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection with the store's pragmas, for the writer's own thread.

    Autocommit mode (``isolation_level=None``): the writer emits ``BEGIN IMMEDIATE`` and
    ``COMMIT`` itself. ``check_same_thread`` is off because the writer's calls run on worker
    threads one at a time (it serialises them), not always on the same thread.
    """
    try:
        conn = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(
            f"cannot open database {file}: {exc}", hint=_HINT, cli_hint=_CLI_HINT
        ) from exc
    try:
        configure_connection(conn, Path(file))
    except BaseException:
        conn.close()
        raise
    return conn


def configure_connection(dbapi_connection: Any, file: Path) -> None:
    """Apply the store's pragmas to a new DBAPI connection; :class:`StoreError` if WAL is off."""
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout first, so that switching to WAL waits for other processes too.
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        row = cursor.fetchone()
        mode = str(row[0]).lower() if row else "unknown"
        if mode != "wal":
            raise StoreError(
                f"database {file}: cannot enable WAL journal mode (got {mode!r})",
                hint="the store needs a local file system that supports SQLite's WAL mode",
            )
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"cannot open database {file}: {exc}", hint=_HINT, cli_hint=_CLI_HINT
        ) from exc
    finally:
        cursor.close()

"""Opening the SQLite file: path checks, the async engine, per-connection pragmas and BEGIN modes.

Every connection runs in WAL mode with ``synchronous=NORMAL`` and a 30 s busy timeout. pysqlite's
own transaction handling is switched off (``isolation_level=None``) and SQLAlchemy's ``begin``
event emits the BEGIN instead: ``BEGIN IMMEDIATE`` by default, so a writer takes the write lock
up front (and waits for it under the busy timeout) instead of failing with "database is locked"
when it upgrades a read lock; engines made by :func:`reader` emit a plain deferred ``BEGIN``.
The single writer opens its own plain ``sqlite3`` connection with the same pragmas
(:func:`connect_for_writing`), so that a whole transaction is one call on its thread.

A file that cannot be written (a read-only file or file system) is opened read-only instead
(``read_only=True``): a ``mode=ro`` URI, plus ``immutable=1`` when SQLite could not create the
WAL's shared-memory file beside it, so the read commands still work.
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

from swarm.defaults import DB_FILE
from swarm.errors import StoreError
from swarm.store.target import DbTarget, as_target, is_postgres

READ_ONLY = "swarm_read_only"
"""Execution option: transactions on a connection carrying it begin deferred (readers)."""

BUSY_TIMEOUT_MS = 30_000
WAL_LIMIT_BYTES = 4 * 1024 * 1024
"""The WAL's bound: past it the writer checkpoints it back to zero bytes (``TRUNCATE``), and
``journal_size_limit`` cuts it to this size whenever SQLite resets it."""
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HINT = "use a SQLite database file in an existing folder"
_CLI_HINT = "point --db or SWARM_DB at a SQLite file in an existing folder"


def default_db() -> DbTarget:
    """The database the CLI uses when ``--db`` is not given: ``$SWARM_DB`` (a file or a
    ``postgresql://`` URL), else ``./swarm.db``."""
    return as_target(os.environ.get("SWARM_DB") or DB_FILE)


def exists(target: DbTarget) -> bool:
    """Whether there is a database to read at ``target`` (a server's database is taken to
    exist: opening it says otherwise)."""
    return is_postgres(target) or Path(target).is_file()


def create_engine(path: str | Path, *, read_only: bool = False) -> AsyncEngine:
    """An async engine over the SQLite file at ``path`` (created on first connect if absent).

    Raises :class:`StoreError` for ``:memory:`` (the store is always a file), a missing parent
    folder, or an existing file that is not a SQLite database. ``read_only``: the file must
    exist; it is opened ``mode=ro`` (and ``immutable=1`` if its folder cannot take the WAL's
    ``-shm`` file), and every transaction begins deferred.
    """
    file = check_path(path)
    if read_only:
        if not file.exists():
            raise StoreError(f"cannot open database {file}: it does not exist", hint=_HINT)
        url = URL.create(
            "sqlite+aiosqlite",
            database=f"file:{file}",
            query={"mode": "ro", "uri": "true", **({"immutable": "1"} if _no_shm(file) else {})},
        )
    else:
        url = URL.create("sqlite+aiosqlite", database=str(file))
    engine = create_async_engine(url, connect_args={"isolation_level": None})
    _install_hooks(engine, file, read_only=read_only)
    return engine


def _no_shm(file: Path) -> bool:
    """Whether SQLite can neither use nor create the ``-shm`` file a WAL reader needs (a
    read-only file system): then only an ``immutable`` open can read the file."""
    shm = Path(f"{file}-shm")
    if shm.exists():
        return not os.access(shm, os.R_OK)
    return not os.access(file.parent, os.W_OK) or _read_only_fs(file)


def _read_only_fs(file: Path) -> bool:
    try:
        return bool(os.statvfs(file).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def is_writable(file: Path) -> bool:
    """Whether the database at ``file`` (or, if absent, its folder) can be written."""
    if _read_only_fs(file if file.exists() else file.parent):
        return False
    if file.exists():
        return os.access(file, os.W_OK)
    return os.access(file.parent, os.W_OK)


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


def _install_hooks(engine: AsyncEngine, file: Path, *, read_only: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        if read_only:
            configure_reading(dbapi_connection, file)
        else:
            configure_connection(dbapi_connection, file)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        deferred = read_only or conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


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
        cursor.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"cannot open database {file}: {exc}",
            hint=_hint_for(exc, READ_ONLY_API_HINT, _HINT),
            cli_hint=_hint_for(exc, READ_ONLY_HINT, _CLI_HINT),
        ) from exc
    finally:
        cursor.close()


def configure_reading(dbapi_connection: Any, file: Path) -> None:
    """Pragmas for a read-only connection: no journal mode change, nothing written."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open database {file} read-only: {exc}", hint=_HINT) from exc
    finally:
        cursor.close()


def _hint_for(exc: BaseException, read_only: str, other: str) -> str:
    return read_only if "readonly" in str(exc) or "read-only" in str(exc) else other


READ_ONLY_API_HINT = (
    "the file or its folder is read-only: read commands and the API's reads still work; to run "
    "or resume a run, use a writable database file"
)
READ_ONLY_HINT = (
    "the file or its folder is read-only: read commands (runs, status, show, report) still "
    "work; to run or resume, point --db or SWARM_DB at a writable file"
)

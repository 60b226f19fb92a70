"""What a failed write means on PostgreSQL, and the one op whose data the server cannot take.

The PostgreSQL counterparts of :mod:`swarm.store.failures`, with the same rules:

- :func:`unstorable` finds the ops whose data the server refuses (a lone surrogate, which UTF-8
  cannot encode; a NUL, which ``text`` cannot hold; an integer past the 32 bits of an
  ``integer`` column) by applying each op alone, in order, in a savepoint of a transaction that
  is rolled back: nothing is written, and each op meets the rows the ops before it made (a
  result finds its attempt's start). The writer then stores those ops made storable
  (:func:`pg_storable`) with a ``store.data_repaired`` event each, exactly as SQLite's does
  (:func:`swarm.store.failures.repaired`): one task's data never stops the writer, and no other
  op is changed.
- :func:`pg_write_error` turns what asyncpg or the server raised into a :class:`StoreError`
  that says what happened (a broken constraint, a full disk on the server, a read-only
  database, missing privileges, a lost connection) and what to do, by the server's SQLSTATE.

No asyncpg import at module level: the errors are read by their ``sqlstate`` attribute.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from swarm.errors import StoreError
from swarm.store.batch import Plan, Row, plan_batch
from swarm.store.failures import storable, write_error
from swarm.store.ops import Op

if TYPE_CHECKING:
    import asyncpg

pg_storable = functools.partial(storable, nul=True)
"""``value`` as PostgreSQL can store it: lone surrogates and NULs → U+FFFD, integers clamped
to 64 bits (every integer column is a ``bigint``, migration 0008, as SQLite's are)."""

Apply = Callable[["asyncpg.Connection", Plan, list[Row]], Awaitable[set[int]]]
"""The writer's ``_apply``: a plan inside the open transaction."""


class LostConnection(ConnectionError):
    """The writer's connection closed under a transaction (the server ended the session, or
    the network dropped), whatever asyncpg raised for it (even an ``InternalClientError`` when
    the server's goodbye crosses the next statement)."""


class _Probed(Exception):
    """Rolls the probing transaction back once every op was tried."""


async def unstorable(
    conn: asyncpg.Connection,
    ops: list[Op],
    apply: Apply,
    data_errors: tuple[type[BaseException], ...],
) -> list[str | None]:
    """For each op, why the server cannot store its data, or None; writes nothing.

    Errors other than data errors (a result whose attempt is not running, a conflict) say
    nothing about the op's data: such an op counts as storable, as a ``SELECT`` binding it
    would on SQLite.
    """
    problems: list[str | None] = []
    try:
        async with conn.transaction():
            for op in ops:
                problems.append(await _try_alone(conn, op, apply, data_errors))
            raise _Probed
    except _Probed:
        pass
    return problems


async def _try_alone(
    conn: asyncpg.Connection,
    op: Op,
    apply: Apply,
    data_errors: tuple[type[BaseException], ...],
) -> str | None:
    try:
        async with conn.transaction():  # a savepoint: a failed op's rows go, the others stay
            await apply(conn, plan_batch([op]), [])
    except data_errors as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # not about the data: the real transaction will say what it is
        return None
    return None


_STATES: list[tuple[str, str, str]] = [
    (
        "23",
        "a write broke a database constraint (a bug, or a process writing the run without "
        "owning it)",
        "report it with the run's events (`swarm show RUN_ID`)",
    ),
    ("53100", "the database server's disk is full", "free disk space on the database server"),
    (
        "53",
        "the database server is out of resources (memory or connections)",
        "check the server's log and its max_connections",
    ),
    (
        "25006",
        "the database is read-only (a standby, or default_transaction_read_only)",
        "point --db or SWARM_DB at the primary server (read commands work on a standby)",
    ),
    (
        "42501",
        "the database role may not write swarm's tables",
        "grant the role INSERT, UPDATE and DELETE on them (reads need only SELECT)",
    ),
    (
        "57P",
        "the database server shut down or restarted",
        "check that the PostgreSQL server is running",
    ),
    ("08", "the connection to the database server was lost", "check the server and the network"),
    (
        "40",
        "the server aborted the transaction (a deadlock or a serialization conflict)",
        "check for other processes writing the same run",
    ),
    (
        "57014",
        "a statement was cancelled (statement_timeout, or by an administrator)",
        "check the role's statement_timeout and lock_timeout",
    ),
    (
        "55P03",
        "a lock was held too long (lock_timeout)",
        "find the session holding it (pg_stat_activity)",
    ),
    (
        "22",
        "the server refused a value it cannot store",
        "report it with the run's events (`swarm show RUN_ID`)",
    ),
]
"""SQLSTATE prefixes (most specific first: the first match wins), what each means, what to do."""


def pg_write_error(exc: BaseException, path: str, count: int, *, recorded: bool) -> StoreError:
    """The error for a transaction of ``count`` ops that ``exc`` stopped; as
    :func:`swarm.store.failures.write_error`, for a PostgreSQL writer."""
    return write_error(exc, path, count, recorded=recorded, diagnose=_diagnose)


def _diagnose(exc: BaseException) -> tuple[str, str]:
    state = _sqlstate(exc)
    if state is not None:
        for prefix, what, hint in _STATES:
            if state.startswith(prefix):
                return what, hint
        return "the database server refused the write", "check the server's log"
    if isinstance(exc, OSError) or "connection" in str(exc).lower():
        return "the connection to the database server was lost", "check the server and network"
    return "the database server refused the write", "check the server's log"


def _sqlstate(exc: BaseException) -> str | None:
    state: Any = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) and state else None

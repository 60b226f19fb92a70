"""What a failed write means, and the one op whose data SQLite cannot take (PostgreSQL's
counterparts: :mod:`swarm.store.pg_failures`).

:func:`write_error` turns what SQLite (or the OS) raised into a :class:`StoreError` that says
what happened (a full disk, a read-only file, a lock held too long, a broken constraint) and
what to do, instead of one "check free disk space" for all of them.

:func:`repair` is the writer's last line of defence against untrusted data: text with lone
surrogates (which UTF-8 cannot encode), integers past SQLite's 64 bits. Such an op would make
every transaction it is part of fail, on every resume; instead it is found by binding its rows
alone, rewritten to storable values (U+FFFD for a lone surrogate), and recorded with a
``store.data_repaired`` event, so one task's data never stops the writer.
"""

from __future__ import annotations

import dataclasses
import errno
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

from swarm.errors import StoreError
from swarm.store.batch import Row, artifact_rows, attempt_row, finish_row, plan_batch, step_rows
from swarm.store.ops import AttemptFinished, Event, Op, RunCreated

DATA_ERRORS: tuple[type[Exception], ...] = (
    UnicodeEncodeError,
    OverflowError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
)
"""What ``sqlite3`` raises when a parameter cannot be bound: an op's data, not the database."""

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_MAX = 2**63 - 1


def sqlite_code(exc: BaseException) -> int | None:
    """SQLite's primary result code for ``exc`` (``SQLITE_FULL`` …), if it carries one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_read_only(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno == errno.EROFS
    return sqlite_code(exc) == _SQLITE_READONLY or "readonly database" in str(exc)


def write_error(
    exc: BaseException,
    path: str,
    count: int,
    *,
    recorded: bool,
    diagnose: Callable[[BaseException], tuple[str, str]] | None = None,
) -> StoreError:
    """The error for a transaction of ``count`` ops that ``exc`` stopped.

    ``recorded``: whether the run is in the database at all, so whether "resume it" makes sense.
    ``diagnose``: what went wrong and what to do, for the backend (SQLite's by default).
    """
    what, hint = (diagnose or _diagnose)(exc)
    lost = f"the last {count} operation(s) were not saved"
    if recorded:
        after = "then resume the run (`swarm resume RUN_ID`): what was committed is kept"
    else:
        after = "then start the run again: it was never recorded"
    return StoreError(f"cannot write to {path}: {what} ({exc}); {lost}", hint=f"{hint}, {after}")


def _diagnose(exc: BaseException) -> tuple[str, str]:
    code = sqlite_code(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return (
            "a write broke a database constraint (a bug, or a process writing the run without "
            "owning it)",
            "report it with the run's events (`swarm show RUN_ID`)",
        )
    if code == _SQLITE_FULL or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return "the disk is full", "free disk space"
    if is_read_only(exc):
        return (
            "the database is read-only",
            "point --db or SWARM_DB at a writable file (read commands work on a read-only one)",
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return (
            "another process kept the database locked for more than 30 s",
            "find the process holding it (`fuser FILE`)",
        )
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return "the database file is damaged", "check it with `swarm db check`"
    if code == _SQLITE_CANTOPEN or isinstance(exc, PermissionError):
        return "the file cannot be opened for writing", "check its permissions and folder"
    if code == _SQLITE_IOERR or isinstance(exc, OSError):
        return "the disk reported an I/O error", "check the disk and free space"
    return "the database refused the write", "check the file and the disk"


def repair(conn: sqlite3.Connection, ops: list[Op]) -> list[Op] | None:
    """``ops`` with each op SQLite cannot bind rewritten to storable values and followed by a
    ``store.data_repaired`` event; None if every op binds (the failure was not their data)."""
    return repaired(ops, [_unbindable(conn, op) for op in ops], storable, "SQLite")


def repaired(
    ops: list[Op], problems: list[str | None], fix: Callable[[Any], Any], database: str
) -> list[Op] | None:
    """``ops`` with each op that has a problem (``problems``, one per op) rewritten by ``fix``,
    its ``error`` saying so if it is a result without one, and followed by a
    ``store.data_repaired`` event; None if no op has a problem. Both writers' repair."""
    out: list[Op] = []
    for op, problem in zip(ops, problems, strict=True):
        if problem is None:
            out.append(op)
            continue
        fixed = fix(op)
        if isinstance(fixed, AttemptFinished) and fixed.error is None:
            note = f"stored with values {database} cannot hold replaced (U+FFFD): {problem}"
            fixed = dataclasses.replace(fixed, error=note)
        out.extend([fixed, _note(op, problem)])
    return out if any(p is not None for p in problems) else None


def storable(value: Any, *, nul: bool = False, int_max: int = _INT_MAX) -> Any:
    """``value`` with lone surrogates (and with ``nul``, NULs) replaced by U+FFFD and integers
    clamped to ``int_max`` (64 bits: SQLite's), through tuples, lists, dicts and (frozen)
    dataclasses."""
    if isinstance(value, str):
        text = _SURROGATE.sub("\ufffd", value)
        return text.replace("\x00", "\ufffd") if nul else text
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return max(-int_max - 1, min(int_max, value))

    def again(inner: Any) -> Any:
        return storable(inner, nul=nul, int_max=int_max)

    if isinstance(value, dict):
        return {again(k): again(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(again(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: again(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def _unbindable(conn: sqlite3.Connection, op: Op) -> str | None:
    """Why one of ``op``'s rows cannot be bound (it is bound in a ``SELECT``: nothing is
    written), or None."""
    try:
        for row in _rows(op):
            conn.execute("SELECT " + ", ".join("?" * len(row)), row).fetchall()
    except DATA_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _rows(op: Op) -> Iterator[Row]:
    plan = plan_batch([op])
    for seg in plan.segments:
        for rows in (
            seg.created,
            seg.run_started,
            seg.tasks_added,
            seg.plans,
            seg.deps,
            seg.attempt_started,
            seg.skipped,
            seg.cancelled,
            seg.calls,
            seg.calls_finished,
            seg.replaced,
            seg.woken,
            seg.wait_failed,
            seg.approvals,
        ):
            yield from rows
        for _, finished in seg.finished:
            yield finish_row(finished)
            yield attempt_row(finished)
            yield from step_rows(finished)
            yield from artifact_rows(finished)
        yield from (row for _, row in seg.run_finished)
    yield from (row for _, row in plan.events)


def _note(op: Op, problem: str) -> Event:
    run_id = op.run.run_id if isinstance(op, RunCreated) else op.run_id
    return Event(
        run_id,
        "store.data_repaired",
        time.time(),
        task_id=storable(getattr(op, "task_id", None)),
        attempt=getattr(op, "attempt", None),
        data={"op": type(op).__name__, "error": storable(problem)},
    )

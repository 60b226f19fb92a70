"""The writer's SQL, generated from the tables of :mod:`swarm.store.schema` for each dialect.

Every statement the two writers (and the store's take and run creation) run is built here once
as a SQLAlchemy Core construct over ``schema``'s ``Table`` objects and compiled once per dialect,
at first use (:func:`for_dialect`, cached): SQLite's with ``?`` placeholders for ``sqlite3``,
PostgreSQL's with ``$n`` for asyncpg. A table, a column or a column's type is therefore named
once, in ``schema.py``; a column renamed or retyped there reaches both writers, and an attempt's
columns are written by name (:data:`swarm.store.batch.ATTEMPT_COLUMNS`), so one added to
``schema.attempts`` is written from the op's field of that name with no other edit.

Each statement's parameters are named after the row the batch plan builds for it
(:mod:`swarm.store.batch`, positional tuples for ``executemany``); compiling checks that the
placeholders come out in exactly that order, so a row and its statement cannot drift apart.

Two statements take a different shape on PostgreSQL, built from the same description of what
they set and match (:class:`_Fenced`): the fenced results and the attempt starts, whose matched
rows the writer must know and asyncpg's ``executemany`` does not report, are one ``UPDATE … FROM
unnest(…) WITH ORDINALITY … RETURNING`` per segment (the refused rows are the ordinals missing
from the answer; the arrays' types are the columns' own). A new run's task rows are one
``INSERT … SELECT … FROM unnest(…)`` there. The guard is ``SELECT owner_epoch … FOR NO KEY
UPDATE`` on PostgreSQL (the run's row locked until the commit, so a take waits for it, while a
foreign-key check of an event ``swarm cancel`` adds does not) and a plain read on SQLite, whose
transactions hold the write lock from their first statement.

No hand-written SQL remains here; the read side (``queries.py``, ``views.py``) is still written
in SQLite's SQL and translated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine.interfaces import BindTyping, Dialect
from sqlalchemy.sql.expression import ClauseElement

from swarm.store import schema
from swarm.store.schema import approvals, artifacts, calls, events, runs, steps, tasks

DialectName = Literal["sqlite", "postgresql"]

RUN_COLUMNS = ("run_id", "goal", "plan_json", "config_json", "created_at", "owner_epoch")
"""A new run's row (``status`` is ``'created'``)."""
TASK_COLUMNS = ("run_id", "task_id", "kind", "title", "deps_json", "priority")
"""A new task's row (``status`` is ``'pending'``)."""
STEP_COLUMNS = tuple(c.name for c in steps.c if c.name != "id")
ARTIFACT_COLUMNS = tuple(c.name for c in artifacts.c if c.name != "id")
EVENT_COLUMNS = tuple(c.name for c in events.c if c.name != "id")
CALL_COLUMNS = ("run_id", "task_id", "attempt", "step", "provider", "ref", "created_at")
APPROVAL_COLUMNS = ("run_id", "task_id", "attempt", "requested_at", "prompt")


def attempt_columns() -> tuple[str, ...]:
    """Every column of ``schema.attempts``, in the table's order: an attempt's row."""
    return tuple(c.name for c in schema.attempts.c)


@dataclass(frozen=True, slots=True)
class Statements:
    """One dialect's compiled statements (the names the writers have always used)."""

    GUARD_SQL: str
    TAKE_SQL: str
    INSERT_RUN_SQL: str
    RUN_STARTED_SQL: str
    INSERT_TASK_SQL: str
    UPDATE_PLAN_SQL: str
    UPDATE_DEPS_SQL: str
    ATTEMPT_STARTED_SQL: str
    ATTEMPT_FINISHED_SQL: str
    INSERT_ATTEMPT_SQL: str
    INSERT_STEP_SQL: str
    INSERT_ARTIFACT_SQL: str
    TASK_SKIPPED_SQL: str
    RUN_FINISHED_SQL: str
    TASK_CANCELLED_SQL: str
    INSERT_EVENT_SQL: str
    INSERT_CALL_SQL: str
    FINISH_CALL_SQL: str
    TASK_REPLACED_SQL: str
    TASK_WOKEN_SQL: str
    WAIT_FAILED_SQL: str
    INSERT_APPROVAL_SQL: str
    HEARTBEAT_SQL: str
    TASK_STATUS_SQL: str


WRITER_STATEMENTS = frozenset(Statements.__slots__) - {"TAKE_SQL", "TASK_STATUS_SQL"}
"""The statements of a writer's transaction (the take is the store's; the status read is how a
writer explains a refused start)."""


def dialect_of(name: DialectName) -> Dialect:
    """The dialect the statements are compiled for: placeholders as each driver takes them, no
    casts added to them (the server infers each parameter's type from its column)."""
    if name == "sqlite":
        return sqlite.dialect(paramstyle="qmark")
    pg = PGDialect_asyncpg(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
    pg.bind_typing = BindTyping.NONE
    return pg


@cache
def for_dialect(name: DialectName) -> Statements:
    """Every statement compiled for ``name``, once per process."""
    return build(name, attempts=schema.attempts)


def build(name: DialectName, *, attempts: Table) -> Statements:
    """Compile the statements for ``name`` (``attempts``: the table an attempt's row goes to)."""
    dialect = dialect_of(name)
    pg = name == "postgresql"

    def done(stmt: ClauseElement, names: Sequence[str]) -> str:
        return _compiled(stmt, dialect, names)

    attempt_names = tuple(c.name for c in attempts.c)
    return Statements(
        GUARD_SQL=done(_guard(), ["run_id"]),
        TAKE_SQL=done(*_take()),
        INSERT_RUN_SQL=done(_insert(runs, RUN_COLUMNS, status="created"), RUN_COLUMNS),
        RUN_STARTED_SQL=done(*_run_started()),
        INSERT_TASK_SQL=_insert_tasks(done, pg),
        UPDATE_PLAN_SQL=done(*_update(runs, [("plan_json", "=")], ["run_id"])),
        UPDATE_DEPS_SQL=done(*_update(tasks, [("deps_json", "=")], ["run_id", "task_id"])),
        ATTEMPT_STARTED_SQL=_STARTED.compiled(done, pg),
        ATTEMPT_FINISHED_SQL=_FINISHED.compiled(done, pg),
        INSERT_ATTEMPT_SQL=done(_insert(attempts, attempt_names), attempt_names),
        INSERT_STEP_SQL=done(_insert(steps, STEP_COLUMNS), STEP_COLUMNS),
        INSERT_ARTIFACT_SQL=done(_artifact_upsert(pg), ARTIFACT_COLUMNS),
        TASK_SKIPPED_SQL=done(
            *_update(
                tasks, [("error", "="), ("finished_at", "=")], ["run_id", "task_id"], "skipped"
            )
        ),
        RUN_FINISHED_SQL=done(*_run_finished()),
        TASK_CANCELLED_SQL=done(
            *_update(
                tasks,
                [("finished_at", "=")],
                ["run_id", "task_id"],
                "cancelled",
                only=("pending", "running"),
            )
        ),
        INSERT_EVENT_SQL=done(_insert(events, EVENT_COLUMNS), EVENT_COLUMNS),
        INSERT_CALL_SQL=done(_insert(calls, CALL_COLUMNS), CALL_COLUMNS),
        FINISH_CALL_SQL=done(
            *_update(calls, [("status", "="), ("finished_at", "=")], ["run_id", "ref"])
        ),
        TASK_REPLACED_SQL=done(
            *_update(tasks, [], ["run_id", "task_id"], "replaced", only=("failed", "skipped"))
        ),
        TASK_WOKEN_SQL=done(
            *_update(tasks, [], ["run_id", "task_id", "attempt"], "pending", only=("waiting",))
        ),
        WAIT_FAILED_SQL=done(
            *_update(
                tasks,
                [("error", "="), ("error_kind", "="), ("finished_at", "=")],
                ["run_id", "task_id", "attempt"],
                "failed",
                only=("waiting",),
            )
        ),
        INSERT_APPROVAL_SQL=done(_approval_insert(pg), APPROVAL_COLUMNS),
        HEARTBEAT_SQL=done(*_update(runs, [("heartbeat_at", "=")], ["run_id"])),
        TASK_STATUS_SQL=done(
            select(tasks.c.status).where(
                tasks.c.run_id == bindparam("run_id"), tasks.c.task_id == bindparam("task_id")
            ),
            ["run_id", "task_id"],
        ),
    )


def _compiled(stmt: ClauseElement, dialect: Dialect, names: Sequence[str]) -> str:
    """``stmt`` as ``dialect``'s SQL, checked to take its parameters in the order ``names``."""
    compiled = stmt.compile(dialect=dialect)
    got = tuple(getattr(compiled, "positiontup", None) or ())
    if got != tuple(names):
        raise AssertionError(f"statement binds {got}, its rows give {tuple(names)}: {compiled}")
    return compiled.string


def _text(value: str) -> ColumnElement[Any]:
    """A string constant written into the statement (a status; never user data)."""
    return literal_column("'" + value.replace("'", "''") + "'")


def _insert(table: Table, names: Sequence[str], **constants: str) -> Any:
    """``INSERT`` of ``names`` (bound, in the table's column order) and ``constants``."""
    order = [c.name for c in table.c]
    if [n for n in order if n in names] != list(names):
        raise AssertionError(f"{table.name}: {names} is not in the table's column order")
    values: dict[str, Any] = {n: bindparam(n) for n in names}
    values.update({k: _text(v) for k, v in constants.items()})
    return insert(table).values({n: values[n] for n in order if n in values}).inline()


Set = tuple[str, Literal["=", "+="]]
"""A column set from the row's value of that name (``=``) or increased by it (``+=``)."""


def _update(
    table: Table,
    sets: Sequence[Set],
    keys: Sequence[str],
    status: str | None = None,
    *,
    only: Sequence[str] = (),
) -> tuple[Any, list[str]]:
    """``UPDATE table SET <sets>[, status = 'status'] WHERE <keys> = …[AND status IN only]``;
    the statement and its parameter names in order."""
    values: list[tuple[Any, Any]] = []
    for name, how in sets:
        col = table.c[name]
        values.append((col, bindparam(name) if how == "=" else col + bindparam(name)))
    if status is not None:
        values.append((table.c.status, _text(status)))
    where = [table.c[k] == bindparam(k) for k in keys]
    if only:
        where.append(_status_in(table, only))
    stmt = update(table).ordered_values(*values).where(*where)
    return stmt, [n for n, _ in sets] + list(keys)


def _status_in(table: Table, statuses: Sequence[str]) -> ColumnElement[bool]:
    if len(statuses) == 1:
        return table.c.status == _text(statuses[0])
    return table.c.status.in_([_text(s) for s in statuses])


def _guard() -> Any:
    """The fence's read; PostgreSQL locks the run's row (SQLite's dialect ignores the lock)."""
    return (
        select(runs.c.owner_epoch)
        .where(runs.c.run_id == bindparam("run_id"))
        .with_for_update(key_share=True)
    )


def _take() -> tuple[Any, list[str]]:
    """Taking a run (resume): a compare-and-set on the epoch read in the same transaction,
    which also judged the previous owner gone. ``status = 'running'`` and the fresh heartbeat
    make a second resume, right behind, see a live owner."""
    stmt = (
        update(runs)
        .ordered_values(
            (runs.c.owner_epoch, runs.c.owner_epoch + literal_column("1")),
            (runs.c.owner_pid, bindparam("owner_pid")),
            (runs.c.owner_host, bindparam("owner_host")),
            (runs.c.heartbeat_at, bindparam("heartbeat_at")),
            (runs.c.status, _text("running")),
        )
        .where(runs.c.run_id == bindparam("run_id"), runs.c.owner_epoch == bindparam("epoch"))
        .returning(runs.c.owner_epoch)
    )
    return stmt, ["owner_pid", "owner_host", "heartbeat_at", "run_id", "epoch"]


def _run_started() -> tuple[Any, list[str]]:
    stmt = (
        update(runs)
        .ordered_values(
            (runs.c.status, _text("running")),
            (runs.c.started_at, func.coalesce(runs.c.started_at, bindparam("started_at"))),
            (runs.c.heartbeat_at, bindparam("heartbeat_at")),
            (runs.c.owner_pid, bindparam("owner_pid")),
            (runs.c.owner_host, bindparam("owner_host")),
            (runs.c.finished_at, null()),
            (runs.c.summary_json, null()),
        )
        .where(runs.c.run_id == bindparam("run_id"))
    )
    return stmt, ["started_at", "heartbeat_at", "owner_pid", "owner_host", "run_id"]


def _run_finished() -> tuple[Any, list[str]]:
    """A run's end is not written while any of its tasks is ``running`` (the writer reports
    it). It releases the run (no owner process): the same process may take it again at once."""
    running = tasks.c.status == _text("running")
    still_running = exists().where(tasks.c.run_id == runs.c.run_id, running)
    stmt = (
        update(runs)
        .ordered_values(
            (runs.c.status, bindparam("status")),
            (runs.c.finished_at, bindparam("finished_at")),
            (runs.c.summary_json, bindparam("summary_json")),
            (runs.c.owner_pid, null()),
        )
        .where(runs.c.run_id == bindparam("run_id"), ~still_running)
    )
    return stmt, ["status", "finished_at", "summary_json", "run_id"]


def _artifact_upsert(pg: bool) -> Any:
    """A re-run after a resume writes the same paths again: the newest values replace the old
    (the row keeps its id)."""
    dialect_insert = postgresql.insert if pg else sqlite.insert
    stmt = dialect_insert(artifacts).values({n: bindparam(n) for n in ARTIFACT_COLUMNS})
    key = ("run_id", "path")
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={n: stmt.excluded[n] for n in ARTIFACT_COLUMNS if n not in key},
    ).inline()


def _approval_insert(pg: bool) -> Any:
    """One row per gate reached: a resumed run reaching the same gate again keeps the first."""
    dialect_insert = postgresql.insert if pg else sqlite.insert
    stmt = dialect_insert(approvals).values({n: bindparam(n) for n in APPROVAL_COLUMNS})
    return stmt.on_conflict_do_nothing().inline()


def _unnest(table: Table, names: Sequence[tuple[str, str]]) -> Any:
    """``unnest($1::t1[], …) WITH ORDINALITY AS v(n1, …, i)``: one array per parameter, each of
    its column's type (``names``: parameter, column)."""
    arrays = [cast(bindparam(n), postgresql.ARRAY(table.c[c].type)) for n, c in names]
    return (
        func.unnest(*arrays)
        .table_valued(*[n for n, _ in names], with_ordinality="i")
        .render_derived(name="v")
    )


def _insert_tasks(done: Any, pg: bool) -> str:
    """New tasks, each numbered after every task of its run already written (``seq``).

    SQLite: the row's own ``rowid`` (the table's last plus one, read in the insert): every
    row's ``seq`` is at most its ``rowid`` (copies are numbered 1, 2, … by ``swarm db copy``),
    so a new row's is larger than any of its run's, at the cost of a lookup of the table's last
    rowid (per run, its last ``seq`` would cost 2-3× the insert). PostgreSQL: every row of a
    segment in one statement (a new run's 10,000 tasks: one round trip instead of a pipelined
    10,000), taking :func:`columns` of the rows; its ``seq`` is the run's last, read once per
    run before any row is inserted (read per row, each would step over the index entries of the
    rows this statement already wrote), plus the row's ordinal."""
    if not pg:
        last: Any = func.coalesce(func.max(literal_column("rowid")), literal_column("0"))
        values: dict[str, Any] = {n: bindparam(n) for n in TASK_COLUMNS}
        values["status"] = _text("pending")
        values["seq"] = select(last + literal_column("1")).select_from(tasks).scalar_subquery()
        stmt = insert(tasks).values({c.name: values[c.name] for c in tasks.c if c.name in values})
        return str(done(stmt.inline(), TASK_COLUMNS))
    prior = tasks.alias("prior")
    last = func.coalesce(func.max(prior.c.seq), literal_column("0"))
    u = _unnest(tasks, [(n, n) for n in TASK_COLUMNS])
    v = select(*[u.c[n] for n in TASK_COLUMNS], u.c.i).cte("v").prefix_with("MATERIALIZED")
    each = select(v.c.run_id).distinct().subquery("r")
    base = (
        select(
            each.c.run_id,
            select(last).where(prior.c.run_id == each.c.run_id).scalar_subquery().label("m"),
        )
        .cte("base")
        .prefix_with("MATERIALIZED")
    )
    rows = (
        select(*[v.c[n] for n in TASK_COLUMNS], _text("pending"), base.c.m + v.c.i)
        .join_from(v, base, base.c.run_id == v.c.run_id)
        .order_by(v.c.i)
    )
    stmt = insert(tasks).from_select([*TASK_COLUMNS, "status", "seq"], rows)
    return str(done(stmt, TASK_COLUMNS))


@dataclass(frozen=True, slots=True)
class _Fenced:
    """An ``UPDATE`` of tasks whose matched rows the writer counts: SQLite's runs per row (its
    ``executemany`` reports the rows changed), PostgreSQL's over a segment's arrays and returns
    the ordinals it matched."""

    sets: tuple[tuple[str, str, Literal["=", "+="]], ...]
    """(parameter, column, how), in the row's order."""
    cleared: tuple[str, ...]
    keys: tuple[str, ...]
    status: tuple[str, str]
    """(what to set it to: ``'?'`` for the row's value, how it must be before: ``'=x'`` or
    ``'<>x'``)."""

    def names(self) -> list[str]:
        return [p for p, _, _ in self.sets] + list(self.keys)

    def compiled(self, done: Any, pg: bool) -> str:
        source: Any = None
        if pg:
            cols = [(p, c) for p, c, _ in self.sets] + [(k, k) for k in self.keys]
            source = _unnest(tasks, cols)

        def value(param: str) -> Any:
            return source.c[param] if pg else bindparam(param)

        values: list[tuple[Any, Any]] = []
        to, before = self.status
        if to != "?":
            values.append((tasks.c.status, _text(to)))
        for param, column, how in self.sets:
            col = tasks.c[column]
            values.append((col, value(param) if how == "=" else col + value(param)))
        values.extend((tasks.c[c], null()) for c in self.cleared)
        where = [tasks.c[k] == value(k) for k in self.keys]
        op, status = ("<>", before[2:]) if before.startswith("<>") else ("=", before[1:])
        where.append(tasks.c.status.op(op)(_text(status)))
        stmt = update(tasks).ordered_values(*values).where(*where)
        if pg:
            stmt = stmt.returning(source.c.i)
        return str(done(stmt, self.names()))


_STARTED = _Fenced(
    sets=(
        ("attempt", "attempt", "="),
        ("allowance", "allowance", "="),
        ("started_at", "started_at", "="),
    ),
    cleared=("finished_at", "error", "error_kind", "retry_at"),
    keys=("run_id", "task_id"),
    status=("running", "<>succeeded"),
)
"""An attempt's start: never over a success (a row it does not match is a conflict that stops
the writer)."""
_FINISHED = _Fenced(
    sets=(
        ("status", "status", "="),
        ("result", "result", "="),
        ("error", "error", "="),
        ("error_kind", "error_kind", "="),
        ("finished_at", "finished_at", "="),
        ("retry_at", "retry_at", "="),
        ("steps", "steps_used", "+="),
        ("tokens_in", "tokens_in", "+="),
        ("tokens_out", "tokens_out", "+="),
        ("cost_usd", "cost_usd", "+="),
    ),
    cleared=(),
    keys=("run_id", "task_id", "attempt"),
    status=("?", "=running"),
)
"""An attempt's result, fenced: matches only while ``attempt`` is the task's current, still
running, attempt."""

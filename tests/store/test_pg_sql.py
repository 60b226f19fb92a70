"""Both writers run the same statements, generated from ``schema.py`` (no server needed)."""

from __future__ import annotations

import inspect
import re

import pytest
from sqlalchemy import Column, MetaData, Text

from swarm.store import batch, pg_sql, pg_writer, schema, statements, writer
from swarm.store.statements import WRITER_STATEMENTS, Statements


def _used(module: object) -> set[str]:
    return set(re.findall(r"\bsql\.([A-Z_]+_SQL)", inspect.getsource(module)))  # type: ignore[arg-type]


def test_both_writers_apply_every_statement_of_a_transaction() -> None:
    """A statement added to the statements, or to one writer's transaction, fails here."""
    assert _used(writer) == _used(pg_writer) == WRITER_STATEMENTS | {"TASK_STATUS_SQL"}


def test_both_dialects_bind_the_same_parameters_in_the_same_order() -> None:
    """A statement's row is built once (batch.py) for both: its placeholders must agree."""
    for name in Statements.__slots__:
        lite, pg = getattr(batch, name), getattr(pg_sql, name)
        marks = len(set(re.findall(r"\$\d+", pg)))
        assert lite.count("?") == marks, name
        assert "?" not in pg and "$" not in lite, name


def test_statements_are_compiled_once_per_dialect() -> None:
    assert statements.for_dialect("sqlite") is statements.for_dialect("sqlite")
    assert batch.INSERT_STEP_SQL is statements.for_dialect("sqlite").INSERT_STEP_SQL
    assert pg_sql.INSERT_STEP_SQL is statements.for_dialect("postgresql").INSERT_STEP_SQL


def test_postgresql_arrays_take_each_column_type_from_the_schema() -> None:
    finished = pg_sql.ATTEMPT_FINISHED_SQL
    assert "CAST($5 AS DOUBLE PRECISION[])" in finished  # finished_at: schema.REAL
    assert "CAST($13 AS BIGINT[])" in finished and "RETURNING v.i" in finished  # schema.INTEGER
    assert pg_sql.GUARD_SQL.endswith("FOR NO KEY UPDATE")
    assert "FOR" not in batch.GUARD_SQL


def test_rows_match_their_statements_columns() -> None:
    from tests.store.builders import finished

    op = finished("t1")
    assert len(batch.attempt_row(op)) == batch.INSERT_ATTEMPT_SQL.count("?")
    assert len(batch.step_rows(op)[0]) == len(statements.STEP_COLUMNS)
    assert len(batch.finish_row(op)) == batch.ATTEMPT_FINISHED_SQL.count("?")


def test_a_column_added_to_attempts_reaches_both_dialects() -> None:
    """The insert of an attempt is every column of the table: a new one needs no SQL edit."""
    table = schema.attempts.to_metadata(MetaData())
    table.append_column(Column("result", Text))
    for dialect in ("sqlite", "postgresql"):
        insert = statements.build(dialect, attempts=table).INSERT_ATTEMPT_SQL
        assert "cost_usd, result)" in insert


def test_a_statement_whose_row_would_not_fit_is_refused_at_compile() -> None:
    with pytest.raises(AssertionError, match="binds"):
        statements._compiled(
            statements._update(schema.runs, [("goal", "=")], ["run_id"])[0],
            statements.dialect_of("sqlite"),
            ["run_id", "goal"],
        )


def test_placeholders_are_numbered_in_order() -> None:
    assert pg_sql.dollar("UPDATE t SET a = ?, b = ? WHERE c = ?") == (
        "UPDATE t SET a = $1, b = $2 WHERE c = $3"
    )

"""PostgreSQL's statements stay in step with SQLite's (no server needed)."""

from __future__ import annotations

import inspect
import re

from swarm.store import batch, pg_sql, pg_writer, writer


def test_every_statement_of_the_sqlite_writer_has_a_postgresql_twin() -> None:
    mine = {name for name in vars(batch) if name.endswith("_SQL")} - {"TAKE_SQL"}  # the store's
    assert mine <= set(vars(pg_sql)), sorted(mine - set(vars(pg_sql)))


def test_both_writers_apply_the_same_statements() -> None:
    """A statement added to one writer's transaction and not the other's fails here."""

    def used(module: object) -> set[str]:
        source = inspect.getsource(module._apply)  # type: ignore[attr-defined]
        return set(re.findall(r"sql\.([A-Z_]+_SQL)", source))

    assert used(pg_writer) == used(writer)


def test_placeholders_are_numbered_in_order() -> None:
    assert pg_sql.dollar("UPDATE t SET a = ?, b = ? WHERE c = ?") == (
        "UPDATE t SET a = $1, b = $2 WHERE c = $3"
    )
    assert "?" not in pg_sql.INSERT_STEP_SQL and "$13" in pg_sql.INSERT_STEP_SQL

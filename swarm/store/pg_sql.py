"""The writer's statements in PostgreSQL's dialect, and the helpers its ``unnest`` forms need.

The statements (``INSERT_RUN_SQL`` …) are generated from ``schema.py`` by
:mod:`swarm.store.statements` at first use, under the names :mod:`swarm.store.batch` gives
SQLite's: the same statements, but for the fenced results and the attempt starts (one ``UPDATE
… FROM unnest(…) WITH ORDINALITY … RETURNING`` per segment: the refused rows are the ordinals
missing from the answer), a new run's tasks (one ``INSERT … SELECT … FROM unnest(…)``: pass
:func:`columns` of the rows) and the guard, which locks the run's row ``FOR NO KEY UPDATE`` for
the whole transaction (a take's ``UPDATE`` waits for the commit; a foreign-key check of an event
``swarm cancel`` adds does not). :func:`dollar` numbers the placeholders of the read side's
hand-written SQL (``queries.py``).
"""

from __future__ import annotations

import re

from swarm.store import statements

_MARK = re.compile(r"\?")


def dollar(statement: str) -> str:
    """``statement`` with each ``?`` (none sits inside a literal here) as ``$1``, ``$2`` …"""
    count = iter(range(1, 10_000))
    return _MARK.sub(lambda _: f"${next(count)}", statement)


def columns(rows: list[tuple[object, ...]]) -> list[list[object]]:
    """``rows`` transposed: the arrays an ``unnest`` statement takes."""
    return [list(column) for column in zip(*rows, strict=True)]


def __getattr__(name: str) -> str:
    """PostgreSQL's statement ``name``, compiled at first use, then a module attribute."""
    if not name.endswith("_SQL"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    statement: str = getattr(statements.for_dialect("postgresql"), name)
    globals()[name] = statement
    return statement

"""A Datasette plugin that makes every connection Datasette opens to swarm's database refuse
writes (Datasette's own in-memory databases stay writable, as it needs them).

Imported (and registered) only by :func:`swarm.dashboard.server.make_datasette`, since
Datasette is an optional dependency.
"""

from __future__ import annotations

import sqlite3

from datasette import hookimpl

from swarm.dashboard.dashboards import DB


@hookimpl  # type: ignore[untyped-decorator]  # Datasette ships no type hints
def prepare_connection(conn: sqlite3.Connection, database: str) -> None:
    if database == DB:
        conn.execute("PRAGMA query_only = 1")

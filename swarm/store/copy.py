"""Moving runs between stores (SQLite ↔ PostgreSQL, or file to file) without loss.

Every row of a run, in every table of :mod:`swarm.store.schema`, is read from the source in one
snapshot and written to the destination in one transaction: a run arrives whole or not at all.
The surrogate ids (``steps``, ``events``, ``calls``, ``artifacts``) are the destination's own,
given in the source's order, so the event log keeps its order and the destination's other runs
keep theirs. A copied run has no owner process (``owner_pid`` NULL): ``swarm resume`` at the
destination can take it at once, keeping its owner epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy import Table, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from swarm.errors import ConfigError, RunNotFound, StoreError
from swarm.store.schema import metadata, runs, tasks
from swarm.store.store import Store

_SURROGATE = "id"
"""The integer key of the append-only tables: the destination numbers their rows itself."""


@dataclass(slots=True)
class Copied:
    """What a copy wrote: the runs, and the rows per table."""

    runs: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


async def copy_runs(source: Store, target: Store, run_ids: list[str] | None = None) -> Copied:
    """Copy ``run_ids`` (every run of ``source`` if None) from ``source`` into ``target``.

    :class:`RunNotFound` for a run the source lacks, :class:`ConfigError` if the target already
    holds one of them; both before anything is written.
    """
    wanted = run_ids if run_ids is not None else await _all_runs(source)
    present = [run_id for run_id in wanted if await target.run_exists(run_id)]
    if present:
        raise ConfigError(
            f"{target.path} already holds run(s) {', '.join(present)}: nothing was copied",
            hint="copy into another database, or name the runs to copy (--run)",
        )
    done = Copied()
    for run_id in wanted:
        rows = await _read_run(source, run_id)
        with anyio.CancelScope(shield=True):
            await _write_run(target, rows)
        done.runs.append(run_id)
        for name, table_rows in rows.items():
            done.rows[name] = done.rows.get(name, 0) + len(table_rows)
    return done


async def _all_runs(store: Store) -> list[str]:
    async with store.engine.connect() as conn:
        found = await conn.execute(select(runs.c.run_id).order_by(runs.c.created_at))
        return [row.run_id for row in found]


async def _read_run(store: Store, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the run, by table (in the order they were written), from one snapshot."""
    options = {"isolation_level": "REPEATABLE READ"} if store.postgres else {}
    try:
        async with store.engine.connect() as conn:
            conn = await conn.execution_options(**options)
            async with conn.begin():
                return await _select_run(conn, store, run_id)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read run {run_id} from {store.path}: {exc}") from exc


async def _select_run(
    conn: AsyncConnection, store: Store, run_id: str
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for table in metadata.sorted_tables:
        if "run_id" not in table.c:
            continue
        query = select(table).where(table.c.run_id == run_id).order_by(*_order(table, store))
        out[table.name] = [dict(row._mapping) for row in await conn.execute(query)]
    if not out["runs"]:
        raise RunNotFound(run_id, store.path)
    out["runs"][0]["owner_pid"] = None
    return out


def _order(table: Table, store: Store) -> list[Any]:
    if _SURROGATE in table.c:
        return [table.c[_SURROGATE]]
    if table is tasks:
        return list(store.creation_order())
    return [column for column in table.primary_key.columns]


async def _write_run(store: Store, rows: dict[str, list[dict[str, Any]]]) -> None:
    store.refuse_if_read_only("copy a run")
    try:
        async with store.engine.begin() as conn:
            for table in metadata.sorted_tables:
                table_rows = rows.get(table.name)
                if not table_rows:
                    continue
                if _SURROGATE in table.c:
                    table_rows = [
                        {k: v for k, v in row.items() if k != _SURROGATE} for row in table_rows
                    ]
                if table is tasks:  # numbered 1, 2, … in creation order (see statements.py)
                    table_rows = [{**row, "seq": n} for n, row in enumerate(table_rows, 1)]
                await conn.execute(table.insert(), table_rows)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(f"cannot copy into {store.path}: {reason}; nothing was written") from exc

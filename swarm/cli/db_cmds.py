"""`swarm db ...`: database maintenance commands (creating and migrating the file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from swarm.cli.app import app
from swarm.cli.options import DbOption, JsonOption, db_path
from swarm.errors import ConfigError

if TYPE_CHECKING:
    from swarm.store.copy import Copied

db_app = typer.Typer(
    name="db", help="Manage the swarm database (a SQLite file or PostgreSQL).", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Create the database if needed and migrate it to the newest schema."""
    import anyio

    from swarm.store.target import shown

    path = db_path(db)
    revision = anyio.run(_upgrade, path)
    typer.echo(f"{shown(path)}: schema at revision {revision}")


async def _upgrade(path: Path | str) -> str | None:
    from swarm.store import migrate
    from swarm.store.engine import create_engine
    from swarm.store.pg_engine import create_pg_engine
    from swarm.store.target import is_postgres

    engine = create_pg_engine(str(path)) if is_postgres(path) else create_engine(path)
    try:
        await migrate.upgrade(engine)
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


@db_app.command("copy")
def copy(
    source: Annotated[str, typer.Argument(metavar="SRC", help="A SQLite file or a URL.")],
    target: Annotated[str, typer.Argument(metavar="DST", help="A SQLite file or a URL.")],
    run: Annotated[
        list[str] | None, typer.Option("--run", help="A run to copy (repeat it; default: all).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Copy runs between databases (SQLite ↔ PostgreSQL), every row, each run whole."""
    import anyio

    from swarm.store.target import shown

    copied = anyio.run(copy_between, db_path(source), db_path(target), run)
    if as_json:
        typer.echo(json.dumps({"runs": copied.runs, "rows": copied.rows}))
    else:
        rows = sum(copied.rows.values())
        typer.echo(f"copied {len(copied.runs)} run(s), {rows} rows, into {shown(db_path(target))}")


async def copy_between(source: Path | str, target: Path | str, run_ids: list[str] | None) -> Copied:
    """Open both stores (the source must exist; the target is created) and copy."""
    import anyio

    from swarm.store.copy import copy_runs
    from swarm.store.engine import exists
    from swarm.store.store import Store
    from swarm.store.target import is_postgres

    if not exists(source):
        raise ConfigError(f"no database at {source}", hint="name an existing database as SRC")
    src = await Store.open(source, read_only=True if is_postgres(source) else None)
    try:
        dst = await Store.open(target)
        try:
            return await copy_runs(src, dst, run_ids)
        finally:
            with anyio.CancelScope(shield=True):
                await dst.close()
    finally:
        with anyio.CancelScope(shield=True):
            await src.close()

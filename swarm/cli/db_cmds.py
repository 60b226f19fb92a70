"""`swarm db ...`: database maintenance commands (creating and migrating the file)."""

from __future__ import annotations

from pathlib import Path

import anyio
import typer

from swarm.cli.app import app
from swarm.cli.options import DbOption, db_path
from swarm.store.target import shown

db_app = typer.Typer(name="db", help="Manage the swarm database file.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Create the database if needed and migrate it to the newest schema."""
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

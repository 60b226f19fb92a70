"""`swarm db ...`: database maintenance commands (creating and migrating the file)."""

from __future__ import annotations

from pathlib import Path

import anyio
import typer

from swarm.cli.app import app
from swarm.cli.options import DbOption, db_path

db_app = typer.Typer(name="db", help="Manage the swarm database file.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Create the database if needed and migrate it to the newest schema."""
    path = db_path(db)
    revision = anyio.run(_upgrade, path)
    typer.echo(f"{path}: schema at revision {revision}")


async def _upgrade(path: Path) -> str | None:
    from swarm.store import migrate
    from swarm.store.engine import create_engine

    engine = create_engine(path)
    try:
        await migrate.upgrade(engine)
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()

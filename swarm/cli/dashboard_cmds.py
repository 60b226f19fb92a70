"""`swarm dashboard`: serve the database with Datasette and the bundled dashboards, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio
import typer

from swarm.cli.app import app, err_console
from swarm.cli.run_cmds import DbOption
from swarm.errors import ConfigError
from swarm.store.engine import default_db
from swarm.store.store import Store


@app.command("dashboard")
def dashboard_command(
    db: DbOption = None,
    port: Annotated[int, typer.Option(min=1, max=65_535, help="Port on 127.0.0.1.")] = 8001,
) -> None:
    """Serve the database on http://127.0.0.1:PORT with Datasette and swarm's dashboards."""
    from swarm.dashboard.server import make_datasette, serve

    path = db if db is not None else default_db()
    if not path.is_file():
        raise ConfigError(
            f"no database at {path}",
            hint="run a plan first (`swarm execute PLAN`), or point --db/SWARM_DB at the file",
        )
    anyio.run(_migrate, path)  # the views the dashboards read come with the migrations
    make_datasette(path)  # fail early (missing extra) before announcing anything

    def ready(url: str) -> None:
        err_console.print(
            f"serving {path} read-only at {url} — dashboards at {url}-/dashboards (Ctrl-C to stop)",
            markup=False,
        )

    serve(path, port, on_ready=ready)


async def _migrate(path: Path) -> None:
    store = await Store.open(path)
    await store.close()

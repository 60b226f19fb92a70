"""`swarm dashboard`: serve the database with Datasette and the bundled dashboards, read-only."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated

import typer

from swarm.cli.app import app, err_console
from swarm.cli.options import DbOption, db_path
from swarm.errors import ConfigError

HOST = "127.0.0.1"


def check_port_free(port: int, host: str = HOST) -> None:
    """Refuse a port something already listens on (ConfigError, exit 2) before anything is
    announced; bound as the server will bind it (``SO_REUSEADDR``), then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            taken = exc.errno in (errno.EADDRINUSE, errno.EACCES)
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else str(exc.strerror)
            raise ConfigError(
                f"cannot serve on {host}:{port}: the port {reason}",
                hint="choose another with --port" if taken else None,
            ) from None


@app.command("dashboard")
def dashboard_command(
    db: DbOption = None,
    port: Annotated[int, typer.Option(min=1, max=65_535, help="Port on 127.0.0.1.")] = 8001,
) -> None:
    """Serve the database on http://127.0.0.1:PORT with Datasette and swarm's dashboards."""
    import anyio

    from swarm.dashboard.server import make_datasette, serve
    from swarm.store.target import shown

    path = db_path(db)
    if isinstance(path, str):
        raise ConfigError(
            f"the dashboard serves a SQLite file, not {shown(path)}",
            hint="write the run into a SQLite file first (`swarm export RUN_ID --sqlite FILE "
            "--db URL`), then `swarm dashboard --db FILE`",
        )
    if not path.is_file():
        raise ConfigError(
            f"no database at {path}",
            hint="run a plan first (`swarm execute PLAN`), or point --db/SWARM_DB at the file",
        )
    check_port_free(port)
    anyio.run(_migrate, path)  # the views the dashboards read come with the migrations
    make_datasette(path)  # fail early (missing extra) before announcing anything

    def ready(url: str) -> None:
        err_console.print(
            f"serving {path} read-only at {url} — dashboards at {url}-/dashboards (Ctrl-C to stop)",
            markup=False,
        )

    serve(path, port, on_ready=ready)


async def _migrate(path: Path) -> None:
    from swarm.store.store import Store

    store = await Store.open(path)
    await store.close()

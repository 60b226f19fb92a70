"""`swarm dashboard`: Datasette with datasette-dashboards over a swarm database, read-only.

Datasette reads the file through ``mode=ro`` connections, and a small plugin
(:mod:`swarm.dashboard.read_only`) sets ``PRAGMA query_only`` on every connection to it, so
nothing served can change the database; a live run may keep writing meanwhile (WAL). The server
listens on 127.0.0.1 only. Every asset the pages load (Vega, Vega-Lite, vega-embed, Leaflet,
Datasette's own CSS and JS) ships inside the Python packages and is served by Datasette itself:
the dashboards work offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swarm.dashboard.dashboards import DB, metadata
from swarm.errors import ConfigError

HOST = "127.0.0.1"
SETTINGS = {
    "max_returned_rows": 10_000,
    "sql_time_limit_ms": 5_000,
    "default_page_size": 100,
    "default_cache_ttl": 0,  # a reloaded page of a live run must not get cached query results
}
_PLUGIN_NAME = "swarm-read-only"
_REFRESH_PLUGIN = "swarm-live-refresh"
TEMPLATES = Path(__file__).parent / "templates"
"""Overrides of Datasette's templates (``base.html``: the live run's self-refresh)."""


def _require_datasette() -> Any:
    try:
        import datasette.app
        import datasette_dashboards  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the dashboard needs Datasette and datasette-dashboards ({exc.name} is missing)",
            hint='install them with: pip install "swarm-harness[dashboard]"',
        ) from None
    return datasette.app


def make_datasette(db: Path) -> Any:
    """A Datasette instance serving ``db`` (already migrated) as database ``swarm``."""
    app_module = _require_datasette()
    from datasette.database import Database
    from datasette.plugins import pm

    from swarm.dashboard import live_refresh, read_only

    if not pm.has_plugin(_PLUGIN_NAME):
        pm.register(read_only, name=_PLUGIN_NAME)
    if not pm.has_plugin(_REFRESH_PLUGIN):
        pm.register(live_refresh, name=_REFRESH_PLUGIN)
    ds = app_module.Datasette(
        [], metadata=metadata(), settings=SETTINGS, template_dir=str(TEMPLATES)
    )
    ds.add_database(Database(ds, path=str(db), is_mutable=True), name=DB)
    return ds


def serve(db: Path, port: int, on_ready: Any = None) -> None:
    """Serve until interrupted (Ctrl-C)."""
    import uvicorn

    ds = make_datasette(db)
    config = uvicorn.Config(ds.app(), host=HOST, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(f"http://{HOST}:{port}/")
    server.run()

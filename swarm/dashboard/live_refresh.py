"""A Datasette plugin: a dashboard page about a live run reloads itself every few seconds.

It gives the templates ``swarm_refresh_s`` (and :file:`templates/base.html` turns it into a
``<meta http-equiv="refresh">``) only while the run the page shows is being driven, so a
finished run's page stays still. The run shown is the page's ``run_id`` filter or the newest;
"Runs overview" refreshes while any run is live. Imported (and registered) only by
:func:`swarm.dashboard.server.make_datasette`, since Datasette is an optional dependency.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from datasette import hookimpl

from swarm.dashboard.sql import DB, REFRESH_S, RUN, live

DASHBOARDS = "/-/dashboards/"
_LIVE_RUN = f"SELECT COUNT(*) FROM runs AS r WHERE r.run_id = {RUN} AND {live('r')}"
_ANY_LIVE = f"SELECT COUNT(*) FROM runs AS r WHERE {live('r')}"


@hookimpl  # type: ignore[untyped-decorator]  # Datasette ships no type hints
def extra_template_vars(request: Any, datasette: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def refresh() -> dict[str, Any]:
        if request is None or not request.path.startswith(DASHBOARDS):
            return {}
        slug = request.path[len(DASHBOARDS) :].split("/")[0]
        sql = _ANY_LIVE if slug == "runs" else _LIVE_RUN
        run_id = request.args.get("run_id") or ""
        result = await datasette.get_database(DB).execute(sql, {"run_id": run_id})
        return {"swarm_refresh_s": REFRESH_S if result.first()[0] else None}

    return refresh

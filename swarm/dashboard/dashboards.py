"""The bundled dashboards, as datasette-dashboards configuration: SQL over the views, Vega-Lite.

Each dashboard reads the database named :data:`DB` (the server registers the file under that
name). Dashboards about one run take a ``run_id`` filter; left empty, they show the newest run.
Table and metric charts are drawn by datasette-dashboards with ``innerHTML``, so every text
column they show is HTML-escaped in SQL (:func:`escaped`): task errors hold model output.
"""

from __future__ import annotations

from typing import Any

from swarm.report.dag_svg import STATUS_COLOURS

DB = "swarm"
SUMMARY_STATUSES = ("succeeded", "failed", "skipped", "cancelled", "running", "pending")
"""The per-status columns of the ``run_summary`` view."""
_STATUS_SCALE = {
    "domain": list(SUMMARY_STATUSES),
    "range": [STATUS_COLOURS[s] for s in SUMMARY_STATUSES],
}
RUN = (
    "COALESCE(NULLIF(:run_id, ''), "
    "(SELECT run_id FROM runs ORDER BY created_at DESC, run_id LIMIT 1))"
)
"""The run a dashboard shows: the ``run_id`` filter, or else the newest run."""


def escaped(column: str, limit: int | None = None) -> str:
    """SQL for ``column`` as HTML-safe text (optionally cut to ``limit`` characters)."""
    text = f"COALESCE({column}, '')"
    if limit is not None:
        text = (
            f"CASE WHEN length({text}) > {limit} THEN substr({text}, 1, {limit}) || '…' "
            f"ELSE {text} END"
        )
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        text = f"replace({text}, '{raw}', '{entity}')"
    text = f"replace({text}, '''', '&#39;')"
    return text


def _run_filter() -> dict[str, Any]:
    return {
        "run_id": {
            "name": "Run (empty: the newest)",
            "type": "select",
            "db": DB,
            "query": "SELECT run_id FROM runs ORDER BY created_at DESC, run_id LIMIT 500",
        }
    }


def _chart(title: str, query: str, library: str, display: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": title,
        "db": DB,
        "query": query.strip(),
        "library": library,
        "display": display,
    }


def _metric(title: str, query: str, field: str, prefix: str = "") -> dict[str, Any]:
    return _chart(title, query, "metric", {"field": field, "prefix": prefix})


def _run_heading() -> dict[str, Any]:
    query = f"""
    SELECT {escaped("run_id")} AS run_id, {escaped("status")} AS status, tasks, succeeded,
           failed, skipped, round(duration_s, 2) AS duration_s, tokens,
           round(cost_usd, 4) AS cost_usd, {escaped("goal", 120)} AS goal
    FROM run_summary WHERE run_id = {RUN}
    """
    return _chart("Run", query, "table", {})


def runs_overview() -> dict[str, Any]:
    recent = """
    SELECT run_id, created, goal, status, tasks, succeeded, failed, skipped, cancelled, running,
           round(duration_s, 2) AS duration_s, tokens, round(cost_usd, 4) AS cost_usd,
           round(speedup, 2) AS speedup, round(efficiency, 2) AS efficiency
    FROM run_summary ORDER BY created_at DESC LIMIT 30
    """
    statuses = " UNION ALL ".join(
        f"SELECT run_id, created_at, '{s}' AS status, {s} AS tasks FROM recent"
        for s in SUMMARY_STATUSES
    )
    return {
        "title": "Runs overview",
        "description": "Every run in this database: status, tasks, tokens and cost.",
        "layout": [
            ["runs", "tasks", "tokens", "cost"],
            ["statuses", "statuses", "costs", "costs"],
            ["table", "table", "table", "table"],
        ],
        "charts": {
            "runs": _metric("Runs", "SELECT COUNT(*) AS n FROM runs", "n"),
            "tasks": _metric("Tasks", "SELECT COALESCE(SUM(tasks), 0) AS n FROM run_summary", "n"),
            "tokens": _metric(
                "Tokens", "SELECT COALESCE(SUM(tokens), 0) AS n FROM run_summary", "n"
            ),
            "cost": _metric(
                "Estimated cost",
                "SELECT printf('%.4f', COALESCE(SUM(cost_usd), 0)) AS usd FROM run_summary",
                "usd",
                "$",
            ),
            "statuses": _chart(
                "Tasks by status, last 20 runs",
                "WITH recent AS (SELECT * FROM run_summary ORDER BY created_at DESC LIMIT 20) "
                + statuses,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "x": {"field": "run_id", "type": "nominal", "sort": "-y", "title": "run"},
                        "y": {"field": "tasks", "type": "quantitative", "stack": True},
                        "color": {"field": "status", "type": "nominal", "scale": _STATUS_SCALE},
                    },
                },
            ),
            "costs": _chart(
                "Estimated cost per run (USD), last 20 runs",
                "SELECT run_id, cost_usd, tokens FROM run_summary "
                "ORDER BY created_at DESC LIMIT 20",
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True, "color": "#4c78a8"},
                    "encoding": {
                        "x": {"field": "run_id", "type": "nominal", "title": "run"},
                        "y": {"field": "cost_usd", "type": "quantitative", "title": "USD"},
                    },
                },
            ),
            "table": _chart(
                "Recent runs",
                "SELECT "
                + ", ".join(
                    escaped(c, 80) + f" AS {c}" if c in ("run_id", "goal", "status") else c
                    for c in [
                        "run_id",
                        "created",
                        "goal",
                        "status",
                        "tasks",
                        "succeeded",
                        "failed",
                        "skipped",
                        "cancelled",
                        "running",
                        "duration_s",
                        "tokens",
                        "cost_usd",
                        "speedup",
                        "efficiency",
                    ]
                )
                + f" FROM ({recent})",
                "table",
                {},
            ),
        },
    }


def timeline() -> dict[str, Any]:
    query = f"""
    SELECT task_id, kind, status, attempts, round(start_s, 3) AS start_s,
           round(end_s, 3) AS end_s, round(duration_s, 3) AS duration_s, steps,
           tokens_in + tokens_out AS tokens, round(cost_usd, 6) AS cost_usd
    FROM task_timeline WHERE run_id = {RUN} ORDER BY start_s
    """
    return {
        "title": "Run timeline",
        "description": "A Gantt chart of the run's tasks (latest attempt of each), by status.",
        "filters": _run_filter(),
        "layout": [["run"], ["gantt"]],
        "charts": {
            "run": _run_heading(),
            "gantt": _chart(
                "Tasks over time (seconds from the run's start)",
                query,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "height": {"step": 9},
                    "encoding": {
                        "y": {
                            "field": "task_id",
                            "type": "nominal",
                            "sort": {"field": "start_s", "order": "ascending"},
                            "axis": {"labelFontSize": 8, "title": None},
                        },
                        "x": {"field": "start_s", "type": "quantitative", "title": "seconds"},
                        "x2": {"field": "end_s"},
                        "color": {"field": "status", "type": "nominal", "scale": _STATUS_SCALE},
                    },
                },
            ),
        },
    }


def usage() -> dict[str, Any]:
    by_kind = f"""
    SELECT kind, 'in' AS direction, tokens_in AS tokens FROM usage_by_kind WHERE run_id = {RUN}
    UNION ALL
    SELECT kind, 'out', tokens_out FROM usage_by_kind WHERE run_id = {RUN}
    """
    by_model = f"""
    SELECT {escaped("model", 60)} AS model, calls, tokens, round(cost_usd, 6) AS cost_usd,
           round(avg_latency_s, 3) AS avg_latency_s
    FROM usage_by_model WHERE run_id = {RUN}
    """
    cumulative = f"""
    SELECT round(finished_at - (SELECT started_at FROM runs WHERE run_id = {RUN}), 3) AS t_s,
           SUM(cost_usd) OVER (ORDER BY finished_at ROWS UNBOUNDED PRECEDING) AS cost_usd
    FROM attempts WHERE run_id = {RUN} ORDER BY finished_at
    """
    bar_x = {"type": "quantitative"}
    return {
        "title": "Tokens and cost",
        "description": "Where a run's tokens and estimated dollars went: by task kind, by model.",
        "filters": _run_filter(),
        "layout": [
            ["run", "run"],
            ["kind", "kind_cost"],
            ["model", "model_cost"],
            ["over", "over"],
        ],
        "charts": {
            "run": _run_heading(),
            "kind": _chart(
                "Tokens by task kind",
                by_kind,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "y": {"field": "kind", "type": "nominal"},
                        "x": {"field": "tokens", **bar_x, "stack": True},
                        "color": {"field": "direction", "type": "nominal"},
                    },
                },
            ),
            "kind_cost": _chart(
                "Estimated cost by task kind (USD)",
                f"SELECT kind, round(cost_usd, 6) AS cost_usd, tasks FROM usage_by_kind "
                f"WHERE run_id = {RUN}",
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True, "color": "#f58518"},
                    "encoding": {
                        "y": {"field": "kind", "type": "nominal"},
                        "x": {"field": "cost_usd", **bar_x, "title": "USD"},
                    },
                },
            ),
            "model": _chart(
                "Tokens by model",
                by_model,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True, "color": "#4c78a8"},
                    "encoding": {
                        "y": {"field": "model", "type": "nominal"},
                        "x": {"field": "tokens", **bar_x},
                    },
                },
            ),
            "model_cost": _chart(
                "Estimated cost by model (USD)",
                by_model,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True, "color": "#f58518"},
                    "encoding": {
                        "y": {"field": "model", "type": "nominal"},
                        "x": {"field": "cost_usd", **bar_x, "title": "USD"},
                    },
                },
            ),
            "over": _chart(
                "Cumulative estimated cost over the run (USD)",
                cumulative,
                "vega-lite",
                {
                    "mark": {
                        "type": "line",
                        "interpolate": "step-after",
                        "point": False,
                        "tooltip": True,
                    },
                    "encoding": {
                        "x": {"field": "t_s", "type": "quantitative", "title": "seconds"},
                        "y": {"field": "cost_usd", "type": "quantitative", "title": "USD"},
                    },
                },
            ),
        },
    }


def failures() -> dict[str, Any]:
    rows = f"""
    SELECT {escaped("task_id")} AS task_id, attempt, {escaped("outcome")} AS outcome,
           {escaped("error_kind")} AS error_kind, {escaped("task_status")} AS task_status,
           {escaped("error", 300)} AS error
    FROM failures WHERE run_id = {RUN} ORDER BY finished_at DESC LIMIT 200
    """
    return {
        "title": "Failures",
        "description": "Attempts that did not succeed, with their errors; task_status says "
        "whether a retry saved the task.",
        "filters": _run_filter(),
        "layout": [["run", "run"], ["attempts", "tasks"], ["kinds", "kinds"], ["list", "list"]],
        "charts": {
            "run": _run_heading(),
            "attempts": _metric(
                "Failed attempts",
                f"SELECT COUNT(*) AS n FROM failures WHERE run_id = {RUN}",
                "n",
            ),
            "tasks": _metric(
                "Tasks failed for good",
                f"SELECT COUNT(*) AS n FROM tasks WHERE run_id = {RUN} AND status = 'failed'",
                "n",
            ),
            "kinds": _chart(
                "Failed attempts by error kind",
                f"SELECT COALESCE(error_kind, '?') AS error_kind, outcome, COUNT(*) AS attempts "
                f"FROM failures WHERE run_id = {RUN} GROUP BY 1, 2",
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "y": {"field": "error_kind", "type": "nominal"},
                        "x": {"field": "attempts", "type": "quantitative", "stack": True},
                        "color": {"field": "outcome", "type": "nominal"},
                    },
                },
            ),
            "list": _chart("Failed attempts, newest first", rows, "table", {}),
        },
    }


def concurrency() -> dict[str, Any]:
    query = f"""
    SELECT round(c.t_s, 3) AS t_s, c.running,
           json_extract(r.plan_json, '$.budget.max_concurrency') AS max_concurrency
    FROM concurrency AS c JOIN runs AS r ON r.run_id = c.run_id
    WHERE c.run_id = {RUN} ORDER BY c.at
    """
    x = {"field": "t_s", "type": "quantitative", "title": "seconds from the run's start"}
    return {
        "title": "Concurrency over time",
        "description": "Attempts running at once, against the run's concurrency limit (red).",
        "filters": _run_filter(),
        "layout": [["run", "peak"], ["chart", "chart"]],
        "charts": {
            "run": _run_heading(),
            "peak": _metric(
                "Peak concurrency",
                f"SELECT COALESCE(MAX(running), 0) AS n FROM concurrency WHERE run_id = {RUN}",
                "n",
            ),
            "chart": _chart(
                "Running attempts",
                query,
                "vega-lite",
                {
                    "height": 320,
                    "layer": [
                        {
                            "mark": {"type": "line", "interpolate": "step-after", "point": False},
                            "encoding": {
                                "x": x,
                                "y": {
                                    "field": "running",
                                    "type": "quantitative",
                                    "title": "attempts running",
                                },
                            },
                        },
                        {
                            "mark": {"type": "rule", "color": "#d64545", "strokeDash": [4, 4]},
                            "encoding": {
                                "y": {"aggregate": "max", "field": "max_concurrency", "title": ""}
                            },
                        },
                    ],
                },
            ),
        },
    }


def dashboards() -> dict[str, dict[str, Any]]:
    """Every bundled dashboard by slug (the URL is ``/-/dashboards/<slug>``)."""
    return {
        "runs": runs_overview(),
        "timeline": timeline(),
        "usage": usage(),
        "failures": failures(),
        "concurrency": concurrency(),
    }


def metadata() -> dict[str, Any]:
    """Datasette metadata: a title, and the dashboards as datasette-dashboards' plugin config."""
    return {
        "title": "swarm runs",
        "description": "Runs recorded by swarm. Dashboards: /-/dashboards",
        "plugins": {"datasette-dashboards": dashboards()},
    }

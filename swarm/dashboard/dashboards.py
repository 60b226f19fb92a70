"""The bundled dashboards, as datasette-dashboards configuration: SQL over the views, Vega-Lite.

Each dashboard reads the database named :data:`DB` (the server registers the file under that
name). Dashboards about one run take a ``run_id`` filter; left empty, they show the newest run.
Table and metric charts are drawn by datasette-dashboards with ``innerHTML``, so every text
column they show is HTML-escaped in SQL (:func:`escaped`): task errors hold model output.
"""

from __future__ import annotations

from typing import Any

from swarm.dashboard.approvals import pending_approvals
from swarm.dashboard.progress import progress
from swarm.dashboard.sql import (
    DB,
    INT_AXIS,
    OUTCOME_SCALE,
    RUN,
    STATUS_SCALE,
    SUMMARY_STATUSES,
    chart,
    count,
    escaped,
    metric,
    money,
    run_filter,
    run_heading,
    simulated,
)
from swarm.dashboard.stages import canned_queries, stages
from swarm.plan import RunBudget

__all__ = ["DB", "dashboards", "escaped", "metadata"]

_MAX_CONCURRENCY = (
    f"COALESCE(json_extract(r.plan_json, '$.budget.max_concurrency'), "
    f"{RunBudget().max_concurrency})"
)
"""The run's concurrency limit (stored plans leave a default value out)."""
_RUN_ORDER = {"field": "created_at", "op": "max", "order": "ascending"}
"""Both charts of "Runs overview" put runs in the order they were created, oldest left."""


def runs_overview() -> dict[str, Any]:
    sim = simulated("r")
    recent = f"""
    SELECT s.*, {sim} AS simulated FROM run_summary AS s JOIN runs AS r ON r.run_id = s.run_id
    ORDER BY s.created_at DESC LIMIT 20
    """
    statuses = " UNION ALL ".join(
        f"SELECT run_id, created_at, '{s}' AS status, {s} AS tasks FROM recent"
        for s in SUMMARY_STATUSES
    )
    table = f"""
    SELECT {escaped("s.run_id", 80)} AS run_id, s.created, {escaped("s.goal", 80)} AS goal,
           {escaped("s.status")} AS status,
           CASE WHEN {sim} THEN 'simulated' ELSE 'real' END AS model_calls,
           {count("s.tasks")} AS tasks, {count("s.succeeded")} AS succeeded,
           {count("s.failed")} AS failed, {count("s.skipped")} AS skipped,
           {count("s.cancelled")} AS cancelled, {count("s.running")} AS running,
           round(s.duration_s, 2) AS duration_s, {count("s.tokens")} AS tokens,
           {money("s.cost_usd", sim)} AS est_cost, round(s.speedup, 2) AS speedup,
           round(s.efficiency, 2) AS efficiency
    FROM run_summary AS s JOIN runs AS r ON r.run_id = s.run_id
    ORDER BY s.created_at DESC, s.run_id LIMIT 30
    """
    costs = f"""
    SELECT run_id, created_at, cost_usd, tokens,
           CASE WHEN simulated THEN 'simulated (no model called)' ELSE 'real' END AS calls
    FROM ({recent})
    """
    run_x = {"field": "run_id", "type": "nominal", "sort": _RUN_ORDER, "title": "run"}
    cost_of = """
    SELECT printf('$%.4f', COALESCE(SUM(s.cost_usd), 0)) AS usd
    FROM run_summary AS s JOIN runs AS r ON r.run_id = s.run_id WHERE {}
    """
    return {
        "title": "Runs overview",
        "description": "Every run in this database: status, tasks, tokens and cost. Runs with "
        "the simulated provider called no model: their cost is what the calls would have cost.",
        "layout": [
            ["runs", "tasks", "tokens", "cost", "sim_cost"],
            ["statuses", "statuses", "costs", "costs", "costs"],
            ["table", "table", "table", "table", "table"],
        ],
        "charts": {
            "runs": metric("Runs", f"SELECT {count('COUNT(*)')} AS n FROM runs", "n"),
            "tasks": metric("Tasks", f"SELECT {count('SUM(tasks)')} AS n FROM run_summary", "n"),
            "tokens": metric("Tokens", f"SELECT {count('SUM(tokens)')} AS n FROM run_summary", "n"),
            "cost": metric("Estimated cost, real runs", cost_of.format(f"NOT {sim}"), "usd"),
            "sim_cost": metric("Simulated runs (priced, never paid)", cost_of.format(sim), "usd"),
            "statuses": chart(
                "Tasks by status, last 20 runs",
                f"WITH recent AS ({recent}) " + statuses,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "x": run_x,
                        "y": {
                            "field": "tasks",
                            "type": "quantitative",
                            "stack": True,
                            "axis": INT_AXIS,
                        },
                        "color": {"field": "status", "type": "nominal", "scale": STATUS_SCALE},
                    },
                },
            ),
            "costs": chart(
                "Estimated cost per run (USD), last 20 runs",
                costs,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "x": run_x,
                        "y": {"field": "cost_usd", "type": "quantitative", "title": "USD"},
                        "color": {
                            "field": "calls",
                            "type": "nominal",
                            "title": "model calls",
                            "scale": {
                                "domain": ["real", "simulated (no model called)"],
                                "range": ["#4c78a8", "#bab0ac"],
                            },
                        },
                    },
                },
            ),
            "table": chart("Recent runs", table, "table", {}),
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
        "filters": run_filter(),
        "layout": [["run"], ["gantt"]],
        "charts": {
            "run": run_heading(),
            "gantt": chart(
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
                        "color": {"field": "status", "type": "nominal", "scale": STATUS_SCALE},
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
    sim = simulated("r")
    by_model = f"""
    SELECT {escaped("m.model", 60)} || CASE WHEN {sim} THEN ' (simulated)' ELSE '' END AS model,
           m.calls, m.tokens, round(m.cost_usd, 6) AS cost_usd,
           round(m.avg_latency_s, 3) AS avg_latency_s
    FROM usage_by_model AS m JOIN runs AS r ON r.run_id = m.run_id WHERE m.run_id = {RUN}
    """
    cumulative = f"""
    SELECT round(finished_at - (SELECT started_at FROM runs WHERE run_id = {RUN}), 3) AS t_s,
           SUM(cost_usd) OVER (ORDER BY finished_at ROWS UNBOUNDED PRECEDING) AS cost_usd
    FROM attempts WHERE run_id = {RUN} ORDER BY finished_at
    """
    bar_x = {"type": "quantitative", "axis": INT_AXIS}
    usd_x = {"type": "quantitative", "title": "USD"}
    return {
        "title": "Tokens and cost",
        "description": "Where a run's tokens and estimated dollars went: by task kind, by model. "
        "A simulated run called no model: its dollars are what the calls would have cost.",
        "filters": run_filter(),
        "layout": [
            ["run", "run"],
            ["kind", "kind_cost"],
            ["model", "model_cost"],
            ["over", "over"],
        ],
        "charts": {
            "run": run_heading(),
            "kind": chart(
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
            "kind_cost": chart(
                "Estimated cost by task kind (USD)",
                f"SELECT kind, round(cost_usd, 6) AS cost_usd, tasks FROM usage_by_kind "
                f"WHERE run_id = {RUN}",
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True, "color": "#f58518"},
                    "encoding": {
                        "y": {"field": "kind", "type": "nominal"},
                        "x": {"field": "cost_usd", **usd_x},
                    },
                },
            ),
            "model": chart(
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
            "model_cost": chart(
                "Estimated cost by model (USD)",
                by_model,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True, "color": "#f58518"},
                    "encoding": {
                        "y": {"field": "model", "type": "nominal"},
                        "x": {"field": "cost_usd", **usd_x},
                    },
                },
            ),
            "over": chart(
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
        "filters": run_filter(),
        "layout": [["run", "run"], ["attempts", "tasks"], ["kinds", "kinds"], ["list", "list"]],
        "charts": {
            "run": run_heading(),
            "attempts": metric(
                "Failed attempts",
                f"SELECT {count('COUNT(*)')} AS n FROM failures WHERE run_id = {RUN}",
                "n",
            ),
            "tasks": metric(
                "Tasks failed for good",
                f"SELECT {count('COUNT(*)')} AS n FROM tasks "
                f"WHERE run_id = {RUN} AND status = 'failed'",
                "n",
            ),
            "kinds": chart(
                "Failed attempts by error kind",
                f"SELECT COALESCE(error_kind, '?') AS error_kind, outcome, COUNT(*) AS attempts "
                f"FROM failures WHERE run_id = {RUN} GROUP BY 1, 2",
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "y": {"field": "error_kind", "type": "nominal"},
                        "x": {
                            "field": "attempts",
                            "type": "quantitative",
                            "stack": True,
                            "axis": INT_AXIS,
                        },
                        "color": {"field": "outcome", "type": "nominal", "scale": OUTCOME_SCALE},
                    },
                },
            ),
            "list": chart("Failed attempts, newest first", rows, "table", {}),
        },
    }


def concurrency() -> dict[str, Any]:
    query = f"""
    SELECT round(c.t_s, 3) AS t_s, c.running,
           {_MAX_CONCURRENCY} AS max_concurrency
    FROM concurrency AS c JOIN runs AS r ON r.run_id = c.run_id
    WHERE c.run_id = {RUN} ORDER BY c.at
    """
    x = {"field": "t_s", "type": "quantitative", "title": "seconds from the run's start"}
    return {
        "title": "Concurrency over time",
        "description": "Attempts running at once, against the run's concurrency limit (red).",
        "filters": run_filter(),
        "layout": [["run", "run"], ["peak", "limit"], ["chart", "chart"]],
        "charts": {
            "run": run_heading(),
            "peak": metric(
                "Peak concurrency",
                f"SELECT {count('MAX(running)')} AS n FROM concurrency WHERE run_id = {RUN}",
                "n",
            ),
            "limit": metric(
                "Concurrency limit",
                f"SELECT {count(_MAX_CONCURRENCY)} AS n FROM runs AS r WHERE r.run_id = {RUN}",
                "n",
            ),
            "chart": chart(
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
                                    "axis": INT_AXIS,
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
        "progress": progress(),
        "timeline": timeline(),
        "usage": usage(),
        "failures": failures(),
        "concurrency": concurrency(),
        "approvals": pending_approvals(),
        "stages": stages(),
    }


def metadata() -> dict[str, Any]:
    """Datasette metadata: a title, and the dashboards as datasette-dashboards' plugin config."""
    return {
        "title": "swarm runs",
        "description": "Runs recorded by swarm. Dashboards: /-/dashboards",
        "plugins": {"datasette-dashboards": dashboards()},
        "databases": canned_queries(),
    }

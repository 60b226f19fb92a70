"""The "Run progress" dashboard: where a live run stands against its plan and its budgets.

Tasks done, an ETA (linear in the tasks finished so far), retries, the budgets used (steps,
tokens, dollars, concurrency) and the critical steps once the run has ended. Budgets the plan
leaves at their defaults are read from :class:`swarm.plan.RunBudget` (stored plans omit them).
"""

from __future__ import annotations

from typing import Any

from swarm.dashboard.sql import (
    INT_AXIS,
    NOW,
    RUN,
    STATUS_SCALE,
    chart,
    count,
    metric,
    run_filter,
    run_heading,
    seconds,
    simulated,
)
from swarm.plan import RunBudget

_DEFAULTS = RunBudget()
_ENDED = "('succeeded', 'failed', 'skipped', 'cancelled', 'replaced')"


def _done() -> str:
    return f"""
    WITH t AS (
        SELECT COUNT(*) AS n, COALESCE(SUM(status IN {_ENDED}), 0) AS done
        FROM tasks WHERE run_id = {RUN}
    )
    SELECT {count("done")} || ' of ' || {count("n")}
           || printf(' (%d%%)', CASE WHEN n > 0 THEN 100 * done / n ELSE 0 END) AS progress
    FROM t
    """


def _eta() -> str:
    elapsed = f"({NOW} - r.started_at)"
    remaining = f"({elapsed} * (t.n - t.done) / t.done)"
    return f"""
    WITH t AS (
        SELECT COUNT(*) AS n, COALESCE(SUM(status IN {_ENDED}), 0) AS done
        FROM tasks WHERE run_id = {RUN}
    )
    SELECT CASE
        WHEN r.status IN ('succeeded', 'failed', 'cancelled') THEN 'ended'
        WHEN r.status = 'paused' THEN 'paused: a budget ran out (swarm resume with a higher limit)'
        WHEN r.started_at IS NULL OR t.done = 0 THEN 'estimating…'
        ELSE 'about ' || {seconds(remaining)} END AS eta
    FROM runs AS r, t WHERE r.run_id = {RUN}
    """


def _retries() -> str:
    return f"""
    SELECT {count("COUNT(*)")} AS n FROM attempts AS a
    JOIN tasks AS t ON t.run_id = a.run_id AND t.task_id = a.task_id
    WHERE a.run_id = {RUN} AND a.status <> 'succeeded' AND a.attempt < t.attempt
    """


def _critical() -> str:
    steps = "json_extract(r.summary_json, '$.metrics.steps_critical')"
    ratio = "json_extract(r.summary_json, '$.metrics.steps_ratio')"
    return f"""
    SELECT CASE WHEN {steps} IS NULL THEN 'when the run ends'
           ELSE {count(steps)} || printf(' (%.1f× fewer than all steps)', COALESCE({ratio}, 1))
           END AS critical
    FROM runs AS r WHERE r.run_id = {RUN}
    """


def _budgets() -> str:
    plan = "json_extract(r.plan_json, '$.budget.{}')"
    steps_max = f"COALESCE({plan.format('max_steps')}, {_DEFAULTS.max_steps})"
    conc_max = f"COALESCE({plan.format('max_concurrency')}, {_DEFAULTS.max_concurrency})"
    tokens_max, cost_max = plan.format("max_tokens"), plan.format("max_cost_usd")
    sim = simulated("r")
    return f"""
    WITH u AS (
        SELECT COALESCE(SUM(steps_used), 0) AS steps, COALESCE(SUM(tokens_in + tokens_out), 0)
               AS tokens, COALESCE(SUM(cost_usd), 0.0) AS cost,
               COALESCE(SUM(status = 'running'), 0) AS running
        FROM tasks WHERE run_id = {RUN}
    ), b AS (
        SELECT 'steps' AS budget, u.steps AS used, {steps_max} AS lim,
               {count("u.steps")} || ' of ' || {count(steps_max)} AS label
        FROM runs AS r, u WHERE r.run_id = {RUN}
        UNION ALL
        SELECT 'tokens', u.tokens, {tokens_max},
               {count("u.tokens")} || ' of ' || {count(tokens_max)}
        FROM runs AS r, u WHERE r.run_id = {RUN} AND {tokens_max} IS NOT NULL
        UNION ALL
        SELECT CASE WHEN {sim} THEN 'cost (simulated)' ELSE 'cost' END, u.cost, {cost_max},
               printf('$%.4f of $%.2f', u.cost, {cost_max})
        FROM runs AS r, u WHERE r.run_id = {RUN} AND {cost_max} IS NOT NULL
        UNION ALL
        SELECT 'running now', u.running, {conc_max},
               {count("u.running")} || ' of ' || {count(conc_max)}
        FROM runs AS r, u WHERE r.run_id = {RUN}
    )
    SELECT budget, label, round(100.0 * used / lim, 1) AS used_pct FROM b WHERE lim > 0
    """


def _states() -> str:
    return f"""
    SELECT status, COUNT(*) AS tasks FROM tasks WHERE run_id = {RUN} GROUP BY status
    """


def progress() -> dict[str, Any]:
    pct = {"field": "used_pct", "type": "quantitative", "title": "% of the budget used"}
    y = {"field": "budget", "type": "nominal", "title": None}
    return {
        "title": "Run progress",
        "description": "Where the run stands: tasks done, an ETA, retries, budgets used and "
        "critical steps. A live run's page reloads itself every few seconds.",
        "filters": run_filter(),
        "layout": [
            ["run", "run", "run", "run"],
            ["done", "eta", "retries", "critical"],
            ["budgets", "budgets", "states", "states"],
        ],
        "charts": {
            "run": run_heading(),
            "done": metric("Tasks done", _done(), "progress"),
            "eta": metric("ETA", _eta(), "eta"),
            "retries": metric("Attempts retried", _retries(), "n"),
            "critical": metric("Critical steps", _critical(), "critical"),
            "budgets": chart(
                "Budgets used",
                _budgets(),
                "vega-lite",
                {
                    "layer": [
                        {
                            "mark": {"type": "bar", "tooltip": True, "color": "#4c78a8"},
                            "encoding": {
                                "y": y,
                                "x": {**pct, "scale": {"domain": [0, 100]}},
                            },
                        },
                        {
                            "mark": {"type": "text", "align": "left", "dx": 4},
                            "encoding": {"y": y, "x": pct, "text": {"field": "label"}},
                        },
                    ]
                },
            ),
            "states": chart(
                "Tasks by status",
                _states(),
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "y": {"field": "status", "type": "nominal", "title": None},
                        "x": {"field": "tasks", "type": "quantitative", "axis": INT_AXIS},
                        "color": {"field": "status", "type": "nominal", "scale": STATUS_SCALE},
                    },
                },
            ),
        },
    }

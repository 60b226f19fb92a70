"""SQL and Vega-Lite pieces the dashboards share: which run, simulated or not, live or not,
HTML-safe text, numbers with thousands separators, integer axes."""

from __future__ import annotations

from typing import Any

from swarm.report.dag_svg import STATUS_COLOURS

DB = "swarm"
NOW = "((julianday('now') - 2440587.5) * 86400.0)"
"""Epoch seconds now, in SQL."""
LIVE_S = 15.0
"""A running run whose heartbeat is fresher than this is being driven (the writer beats about
once a second; a killed process leaves a stale one)."""
REFRESH_S = 5
"""How often a dashboard showing a live run reloads itself."""
RUN = (
    "COALESCE(NULLIF(:run_id, ''), "
    "(SELECT run_id FROM runs ORDER BY created_at DESC, run_id LIMIT 1))"
)
"""The run a dashboard shows: the ``run_id`` filter, or else the newest run."""
SUMMARY_STATUSES = ("succeeded", "failed", "skipped", "cancelled", "running", "pending")
"""The per-status columns of the ``run_summary`` view."""
STATUS_SCALE = {
    "domain": list(SUMMARY_STATUSES),
    "range": [STATUS_COLOURS[s] for s in SUMMARY_STATUSES],
}
OUTCOMES = ("failed", "timeout", "cancelled", "interrupted", "paused", "suspended")
"""Every attempt outcome but success (``paused``: a budget ran out during the call;
``suspended``: the attempt ended waiting, for an approval or for its sub-agents)."""
OUTCOME_SCALE = {
    "domain": list(OUTCOMES),
    "range": ["#d64545", "#e08e0b", "#8c8c8c", "#6b5bd6", "#c9a227", "#3a7bd5"],
}
INT_AXIS = {"tickMinStep": 1, "format": ",d"}
"""A count axis: whole-number ticks only, with thousands separators."""


def simulated(runs: str = "r") -> str:
    """SQL truth of "this run called no real model" for the ``runs`` row aliased ``runs``."""
    return (
        f"(COALESCE(json_extract({runs}.config_json, '$.provider'), 'sim') = 'sim'"
        f" OR COALESCE(json_extract({runs}.summary_json, '$.simulated'), 0) = 1)"
    )


def live(runs: str = "r") -> str:
    """SQL truth of "a process is driving this run now" (fresh heartbeat)."""
    return (
        f"({runs}.status IN ('created', 'running') AND {runs}.heartbeat_at IS NOT NULL"
        f" AND {NOW} - {runs}.heartbeat_at < {LIVE_S})"
    )


def count(expr: str) -> str:
    """An integer with thousands separators (``12,345``)."""
    return f"printf('%,d', COALESCE({expr}, 0))"


def money(expr: str, sim: str) -> str:
    """Dollars to four places, marked when the run was simulated (priced, but never paid)."""
    return (
        f"CASE WHEN {sim} THEN printf('$%.4f (simulated)', COALESCE({expr}, 0))"
        f" ELSE printf('$%.4f', COALESCE({expr}, 0)) END"
    )


def seconds(expr: str) -> str:
    """A duration in words: ``42 s``, ``12 min``, ``1.5 h``."""
    return (
        f"CASE WHEN {expr} IS NULL THEN '' WHEN {expr} < 90 THEN printf('%d s', round({expr}))"
        f" WHEN {expr} < 5400 THEN printf('%d min', round({expr} / 60.0))"
        f" ELSE printf('%.1f h', {expr} / 3600.0) END"
    )


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


def run_filter() -> dict[str, Any]:
    return {
        "run_id": {
            "name": "Run (empty: the newest)",
            "type": "select",
            "db": DB,
            "query": "SELECT run_id FROM runs ORDER BY created_at DESC, run_id LIMIT 500",
        }
    }


def chart(title: str, query: str, library: str, display: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": title,
        "db": DB,
        "query": query.strip(),
        "library": library,
        "display": display,
    }


def metric(title: str, query: str, field: str, prefix: str = "") -> dict[str, Any]:
    return chart(title, query, "metric", {"field": field, "prefix": prefix})


def run_heading() -> dict[str, Any]:
    """The shown run in one row: what it is, whether it is live, and whether it was simulated."""
    sim = simulated("r")
    query = f"""
    SELECT {escaped("s.run_id")} AS run_id, {escaped("s.status")} AS status,
           CASE WHEN {live("r")} THEN 'live: this page refreshes every {REFRESH_S} s'
                ELSE 'not running' END AS follow,
           CASE WHEN {sim} THEN 'simulated: no model was called' ELSE 'real model calls' END
               AS model_calls,
           {count("s.tasks")} AS tasks, {count("s.succeeded")} AS succeeded,
           {count("s.failed")} AS failed, {count("s.skipped")} AS skipped,
           {seconds("s.duration_s")} AS duration, {count("s.tokens")} AS tokens,
           {money("s.cost_usd", sim)} AS est_cost, {escaped("s.goal", 120)} AS goal
    FROM run_summary AS s JOIN runs AS r ON r.run_id = s.run_id WHERE s.run_id = {RUN}
    """
    return chart("Run", query, "table", {})

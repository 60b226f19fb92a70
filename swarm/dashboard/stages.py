"""The "Orchestrator stages" dashboard: per stage of every orchestrator of a run, its own steps
and the slowest sub-agent's, the two numbers Kimi's critical steps add up (K2.5 report).

No view and no migration: the SQL reads the stored plan (each orchestrator's recorded turns,
``config.history``, with the steps each took and the sub-agents it spawned) and the tasks'
``steps_used``, so it follows a live run turn by turn. It is also a Datasette canned query,
``/swarm/orchestrator_stages?run_id=...``. A nested orchestrator sub-agent is shown with its
own steps (``swarm show`` counts its critical steps, stages included).
"""

from __future__ import annotations

from typing import Any

from swarm.dashboard.sql import (
    DB,
    INT_AXIS,
    RUN,
    chart,
    count,
    escaped,
    metric,
    run_filter,
    run_heading,
)

STAGES_SQL = f"""
WITH turns AS (
    SELECT json_extract(t.value, '$.id') AS orchestrator,
           CAST(h.key AS INTEGER) + 1 AS stage,
           COALESCE(json_extract(h.value, '$.steps'), 0) AS own_steps,
           h.value AS turn
    FROM runs AS r, json_each(r.plan_json, '$.tasks') AS t,
         json_each(t.value, '$.config.history') AS h
    WHERE r.run_id = {RUN} AND json_extract(t.value, '$.kind') = 'orchestrator'
), spawned AS (
    SELECT turns.orchestrator, turns.stage, c.value AS child
    FROM turns, json_each(turns.turn, '$.children') AS c
), slowest AS (
    SELECT s.orchestrator, s.stage, COUNT(*) AS subagents,
           SUM(k.status IN ('succeeded', 'failed', 'skipped', 'cancelled')) AS ended,
           MAX(k.steps_used) AS slowest_steps, k.task_id AS slowest
    FROM spawned AS s JOIN tasks AS k ON k.run_id = {RUN} AND k.task_id = s.child
    GROUP BY s.orchestrator, s.stage
)
SELECT turns.orchestrator, turns.stage,
       turns.orchestrator || ' stage ' || turns.stage AS label,
       turns.own_steps, slowest.slowest_steps, slowest.slowest, slowest.subagents, slowest.ended
FROM turns JOIN slowest
    ON slowest.orchestrator = turns.orchestrator AND slowest.stage = turns.stage
"""
"""One row per stage: the orchestrator, the stage, its own steps in the turn that started the
stage, the slowest sub-agent (by steps so far) and its steps, how many sub-agents the stage
has and how many have ended. SQLite's ``MAX()`` gives its row's other bare columns."""


def stages() -> dict[str, Any]:
    parts = f"""
    WITH st AS ({STAGES_SQL})
    SELECT label, 'the orchestrator' AS part, own_steps AS steps, orchestrator AS task FROM st
    UNION ALL
    SELECT label, 'its slowest sub-agent', slowest_steps, slowest FROM st
    UNION ALL
    SELECT '(no orchestrator stage)', 'the orchestrator', 0, ''
    WHERE NOT EXISTS (SELECT 1 FROM st)
    """
    """Two bars a stage; one empty bar for a run without any (an empty chart would look like
    a page still loading)."""
    rows = f"""
    WITH st AS ({STAGES_SQL})
    SELECT * FROM (
        SELECT {escaped("orchestrator", 120)} AS orchestrator, stage, own_steps,
               {escaped("slowest", 160)} AS slowest_subagent, slowest_steps,
               own_steps + slowest_steps AS critical_steps, subagents, ended
        FROM st ORDER BY orchestrator, stage
    )
    UNION ALL
    SELECT 'none: this run has no orchestrator stage', NULL, NULL, '', NULL, NULL, NULL, NULL
    WHERE NOT EXISTS (SELECT 1 FROM st)
    """
    stored = f"SELECT COALESCE(steps_critical, '-') AS n FROM run_summary WHERE run_id = {RUN}"
    label = {"field": "label", "type": "nominal", "title": None, "sort": None}
    return {
        "title": "Orchestrator stages",
        "description": "Kimi's critical steps, stage by stage: for each stage (the sub-agents "
        "one orchestrator turn started), the orchestrator's own steps in that turn and the "
        "steps of the slowest sub-agent. The run's critical steps add these up, with the "
        "orchestrator's last (final) turn. Empty for a run without an orchestrator.",
        "filters": run_filter(),
        "layout": [["run", "run"], ["stages", "critical"], ["chart", "chart"], ["list", "list"]],
        "charts": {
            "run": run_heading(),
            "stages": metric("Stages", f"SELECT {count('COUNT(*)')} AS n FROM ({STAGES_SQL})", "n"),
            "critical": metric("Critical steps (stored at the run's end)", stored, "n"),
            "chart": chart(
                "Steps per stage: the orchestrator's and its slowest sub-agent's",
                parts,
                "vega-lite",
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": {
                        "y": label,
                        "x": {
                            "field": "steps",
                            "type": "quantitative",
                            "stack": True,
                            "axis": INT_AXIS,
                        },
                        "color": {
                            "field": "part",
                            "type": "nominal",
                            "title": None,
                            "scale": {
                                "domain": ["the orchestrator", "its slowest sub-agent"],
                                "range": ["#4c78a8", "#f58518"],
                            },
                        },
                        "order": {"field": "part", "sort": "descending"},
                    },
                },
            ),
            "list": chart("Stages", rows, "table", {}),
        },
    }


def canned_queries() -> dict[str, Any]:
    """The stage query as a Datasette canned query of the swarm database."""
    return {
        DB: {
            "queries": {
                "orchestrator_stages": {
                    "title": "Orchestrator stages",
                    "description": "Per stage of each orchestrator: its own steps and the "
                    "slowest sub-agent's (leave run_id empty for the newest run).",
                    "sql": STAGES_SQL.strip() + "\nORDER BY turns.orchestrator, turns.stage",
                }
            }
        }
    }

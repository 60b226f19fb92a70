"""The "Pending approvals" dashboard: every approval gate waiting for a person, over the
``pending_approvals`` view, with the command that decides it. Text columns are HTML-escaped in
SQL (:func:`~swarm.dashboard.sql.escaped`): prompts and titles come from plans."""

from __future__ import annotations

from typing import Any

from swarm.dashboard.sql import chart, count, escaped, metric


def pending_approvals() -> dict[str, Any]:
    rows = f"""
    SELECT * FROM (
        SELECT {escaped("run_id", 80)} AS run_id, {escaped("task_id", 128)} AS task_id,
               {escaped("title", 80)} AS title, attempt,
               datetime(requested_at, 'unixepoch') AS requested,
               {escaped("prompt", 200)} AS prompt, {escaped("run_status")} AS run_status,
               {escaped("'swarm approve ' || run_id || ' ' || task_id")} AS decide
        FROM pending_approvals ORDER BY requested_at, run_id, task_id LIMIT 500
    )
    UNION ALL
    SELECT '', 'none waiting', '', NULL, NULL, '', '', ''
    WHERE NOT EXISTS (SELECT 1 FROM pending_approvals)
    """
    """One row per pending approval; one saying so when there is none (an empty table would
    look like a page still loading)."""
    return {
        "title": "Pending approvals",
        "description": "Tasks waiting for a person's decision, oldest first. Decide with "
        "`swarm approve RUN TASK` or `swarm reject RUN TASK --note WHY` from any shell: a live "
        "run applies it within a second, a stopped one at `swarm resume`.",
        "layout": [["waiting", "runs"], ["list", "list"]],
        "charts": {
            "waiting": metric(
                "Approvals waiting", f"SELECT {count('COUNT(*)')} AS n FROM pending_approvals", "n"
            ),
            "runs": metric(
                "Runs waiting on them",
                f"SELECT {count('COUNT(DISTINCT run_id)')} AS n FROM pending_approvals",
                "n",
            ),
            "list": chart("Pending approvals", rows, "table", {}),
        },
    }

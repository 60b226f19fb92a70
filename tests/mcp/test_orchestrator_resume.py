"""kill -9 of an orchestrator-mode run in the middle of the orchestrator's own MCP tool calls,
then ``swarm resume``: the call that had returned is given back, not made again; the one in
flight is made again; the turn's record keeps both, so later turns are rebuilt with them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

from swarm.plan import Plan
from tests.mcp.conftest import calls, stdio_server
from tests.mcp.test_resume import swarm


def returned(db: Path) -> list[tuple[str, str]]:
    """(task, tool) of the tool calls whose outcome the run has committed."""
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT task_id, data_json FROM events WHERE type = 'tool.returned' ORDER BY id"
            ).fetchall()
    except sqlite3.Error:
        return []  # not created yet
    return [(task, json.loads(data)["tool"]) for task, data in rows]


def test_kill_mid_orchestrator_tool_call_and_resume_gives_back_the_returned_one(
    tmp_path: Path, log: Path
) -> None:
    task = {
        "id": "o",
        "kind": "orchestrator",
        "prompt": "Compare anyio and mcp\n- anyio\n- mcp",
        "tools": ["kb.search", "kb.research"],
    }
    plan = {"goal": "g", "tasks": [task], "mcp_servers": {"kb": stdio_server(log)}}
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    db = tmp_path / "s.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    env["SWARM_SIM_LATENCY"] = "0"
    run = ["execute", str(plan_file), "--db", str(db), "--run-id", "r", "--json"]
    first = swarm([*run, "--artifacts-dir", str(tmp_path / "runs")], env)
    deadline = time.monotonic() + 60
    # the sim orchestrator's first turn calls both tools at once: search returns at once,
    # research takes four seconds
    while not (returned(db) == [("o", "kb.search")] and "research" in calls(log)):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, (calls(log), returned(db))
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)

    resumed = swarm(["resume", "r", "--db", str(db), "--json"], env)
    out, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    mine = [tool for t, tool in returned(db) if t == "o"]
    assert mine == ["kb.search", "kb.research"]  # search was not made again
    with sqlite3.connect(db) as conn:
        (plan_json,) = conn.execute("SELECT plan_json FROM runs").fetchone()
        (result,) = conn.execute("SELECT result FROM tasks WHERE task_id = 'o'").fetchone()
    history = Plan.model_validate_json(plan_json).task("o").config["history"]
    assert sorted(c["tool"] for c in history[0]["tools"]) == ["kb.research", "kb.search"]
    assert "looked up with kb.research, kb.search" in result

"""kill -9 of a run in the middle of an MCP tool call, then ``swarm resume``: the call that had
returned is not made again; the one in flight is (its outcome was never recorded)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.mcp.conftest import calls, stdio_server


def swarm(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "swarm.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the run and its stdio server die together, as in a crash
    )


def returned(db: Path) -> list[str]:
    """The tool calls whose outcome the run has committed."""
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT data_json FROM events WHERE type = 'tool.returned'")
            return [json.loads(r[0])["tool"] for r in rows]
    except sqlite3.Error:
        return []  # not created yet


def wait_for(log: Path, db: Path, proc: subprocess.Popen[str]) -> None:
    """Until search has returned (its outcome committed) while research is still running (the
    sim makes both calls in one turn, concurrently: the server may log them in either order)."""
    deadline = time.monotonic() + 60
    while not (returned(db) == ["kb.search"] and sorted(calls(log)) == ["research", "search"]):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, (calls(log), returned(db))
        time.sleep(0.02)


def test_kill_mid_tool_call_and_resume_does_not_repeat_returned_calls(
    tmp_path: Path, log: Path
) -> None:
    task = {
        "id": "a",
        "kind": "agent",
        "prompt": "anyio",
        "tools": ["kb.search", "kb.research"],
        "max_steps": 20,
    }
    plan = {"goal": "g", "tasks": [task], "mcp_servers": {"kb": stdio_server(log)}}
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    db = tmp_path / "s.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}
    env["SWARM_SIM_LATENCY"] = "0"
    run = ["execute", str(plan_file), "--db", str(db), "--run-id", "r", "--json"]
    first = swarm([*run, "--artifacts-dir", str(tmp_path / "runs")], env)
    wait_for(log, db, first)  # search returned; research (four seconds) is in flight
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)

    resumed = swarm(["resume", "r", "--db", str(db), "--json"], env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    assert sorted(calls(log)) == ["research", "research", "search"]  # search was not repeated

"""Write-ahead predictions: a `swarm execute` killed while its Replicate predictions run is
resumed by re-attaching to them, not by paying for new ones (the real client, the fake server)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from swarm.testing.fake_replicate import FAKE_TOKEN, FakeReplicate

TASKS = 4


def calls(db: Path) -> list[tuple[str, str | None]]:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT ref, status FROM calls ORDER BY id").fetchall()
    except sqlite3.Error:
        return []


def test_a_killed_run_reattaches_to_its_running_predictions(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": f"[slow] part {i}"} for i in range(TASKS)]
    plan.write_text(json.dumps({"goal": "reattach", "tasks": tasks}))
    db = tmp_path / "s.db"
    with FakeReplicate() as fake:
        env = dict(os.environ, REPLICATE_API_TOKEN=FAKE_TOKEN, REPLICATE_BASE_URL=fake.base_url)
        for name in ("SWARM_PROVIDER", "SWARM_DB", "SWARM_SIM_LATENCY", "SWARM_SIM_FAULTS"):
            env.pop(name, None)
        args = [sys.executable, "-m", "swarm.cli"]
        first = subprocess.Popen(
            [
                *args,
                "execute",
                str(plan),
                "--db",
                str(db),
                "--run-id",
                "r",
                "--json",
                "--provider",
                "replicate",
                "--artifacts-dir",
                str(tmp_path / "runs"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while len(calls(db)) < TASKS and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.02)
        assert len(calls(db)) == TASKS, first.stderr.read().decode() if first.stderr else ""
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        assert len(fake.creations) == TASKS
        assert all(status is None for _, status in calls(db))  # outcomes still unknown
        resumed = subprocess.run(
            [*args, "resume", "r", "--db", str(db), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["counts"]["succeeded"] == TASKS
        assert len(fake.creations) == TASKS  # nothing paid for twice
    final = calls(db)
    assert len(final) == TASKS and {status for _, status in final} == {"succeeded"}
    with sqlite3.connect(db) as conn:
        refs = {ref for (ref,) in conn.execute("SELECT ref FROM steps WHERE ref IS NOT NULL")}
    assert refs == {ref for ref, _ in final}

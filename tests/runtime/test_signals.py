"""SIGINT and SIGTERM at any moment of a real `swarm execute`: during the imports, during the run,
and a second one while the run's end is written, all a clean exit 130 (issue 16, defect 10)."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from swarm.testing.crash import RUN_ID, env_for, swarm, wait_for_run
from swarm.testing.pause import write_plan

EXIT_CANCELLED = 130


def _execute(tmp_path: Path) -> tuple[Path, list[str], dict[str, str]]:
    plan = write_plan(tmp_path, 60, seed=5)
    db = tmp_path / "s.db"
    env = {**env_for(tmp_path / "ledger"), "SWARM_SIM_LATENCY": "fixed:0.5"}
    return db, ["execute", str(plan), "--db", str(db), "--run-id", RUN_ID, "--json"], env


def importing_pydantic(pid: int) -> bool:
    """Whether process ``pid`` has loaded pydantic's compiled core (Linux: /proc maps): it is
    in the middle of its imports, SQLAlchemy, httpx and the command modules still to come."""
    return "_pydantic_core" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("after_s", [0.0, 0.2])
def test_a_signal_during_the_imports_is_a_clean_exit_130(
    tmp_path: Path, sig: signal.Signals, after_s: float
) -> None:
    """Before: SIGTERM in the first ~1.2 s (the imports) killed the process (-15), and SIGINT
    printed a ``KeyboardInterrupt`` traceback."""
    _, args, env = _execute(tmp_path)
    proc = swarm(args, env)
    deadline = time.monotonic() + 30
    while not importing_pydantic(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(after_s)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_CANCELLED, err
    assert "Traceback" not in err


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_while_the_run_ends_is_still_a_clean_exit_130(
    tmp_path: Path, second: signal.Signals
) -> None:
    """Before: a second Ctrl-C 0.2 s after the first gave -2 or -15, and once left the run
    ``running`` with "the store writer has stopped"."""
    db, args, env = _execute(tmp_path)
    proc = swarm(args, env)
    wait_for_run(db, proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(second)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_CANCELLED, err
    assert "Traceback" not in err and "writer has stopped" not in err
    assert json.loads(out)["status"] == "cancelled"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
        running = conn.execute("SELECT count(*) FROM tasks WHERE status = 'running'")
        assert running.fetchone() == (0,)

"""A run killed with SIGKILL and resumed, both exporting live to a real OTLP receiver: the
resumed session sends the attempts the dead one left interrupted, every span it sends equals
its rebuilt version, and ``swarm export`` recovers what the dead process never sent."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

from swarm.testing.crash import env_for, fan_plan, swarm
from tests.cli.conftest import CliRunner
from tests.telemetry.conftest import OtlpReceiver
from tests.telemetry.test_live_trace import _latest, _pb_key


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db) as conn:
            value: int = conn.execute(sql).fetchone()[0]
            return value
    except sqlite3.OperationalError:
        return 0  # not created yet


def test_a_killed_run_resumed_exports_the_same_trace(
    tmp_path: Path, receiver: OtlpReceiver, cli: CliRunner
) -> None:
    plan, db = tmp_path / "plan.json", tmp_path / "s.db"
    plan.write_text(json.dumps(fan_plan(24)), encoding="utf-8")
    env = env_for(tmp_path / "ledger")
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver.endpoint
    proc = swarm(["execute", str(plan), "--db", str(db), "--run-id", "r", "--json"], env)
    deadline = time.monotonic() + 60
    while _count(db, "SELECT count(*) FROM tasks WHERE status = 'succeeded'") < 4:
        assert proc.poll() is None and time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert _count(db, "SELECT count(*) FROM tasks WHERE status = 'running'") > 0

    receiver.clear()  # what the dead process managed to send, if anything
    resumed = swarm(["resume", "r", "--db", str(db), "--json"], env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert json.loads(out)["telemetry"]["dropped"] == 0
    live = _latest([_pb_key(s) for s in receiver.spans()])

    receiver.clear()
    result = cli("export", "r", "--db", db, "--format", "otlp", "--endpoint", receiver.endpoint)
    assert result.code == 0, result.err
    rebuilt = _latest([_pb_key(s) for s in receiver.spans()])
    assert set(live) <= set(rebuilt)
    assert all(rebuilt[span] == key for span, key in live.items())
    mark = ("swarm.attempt.outcome", "interrupted")
    interrupted = [k for k in live.values() if mark in k[6]]
    assert interrupted, "the resumed session sends the attempts the dead one left running"
    before = {k[0] for k in rebuilt.values() if mark in k[6]}
    assert before == {k[0] for k in interrupted}

"""`swarm runs`, `show`, `events`, `artifacts`, `cancel`, `export`: text, JSON and exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from swarm.plan import Plan
from swarm.providers.sim import Latency, SimProvider
from swarm.runtime import run as runs
from swarm.runtime.driver import RunDriver
from swarm.store.store import Store
from swarm.testing.crash import swarm
from tests.cli.conftest import CliRunner
from tests.fakes import plan_data
from tests.inspect.conftest import HOSTILE_ERROR, HOSTILE_RESULT, SOURCES, RecordedRun


def test_runs_lists_the_run(cli: CliRunner, recorded: RecordedRun) -> None:
    text = cli("runs", "--db", recorded.db)
    assert text.code == 0
    line = next(line for line in text.out.splitlines() if line.startswith("r1 "))
    assert "failed" in line and f"{SOURCES + 4}/1/{SOURCES + 6}" in line and "$" in line
    data = json.loads(cli("runs", "--db", recorded.db, "--json").out)
    (run,) = data["runs"]
    assert run["run_id"] == "r1" and run["status"] == "failed" and run["live"] is False
    assert run["counts"]["skipped"] == 1 and run["tokens"] > 0


def test_show_prints_tasks_metrics_and_the_dag(cli: CliRunner, recorded: RecordedRun) -> None:
    result = cli("show", "r1", "--db", recorded.db)
    assert result.code == 0, result.err
    out = result.out
    for needle in ("speedup", "efficiency", "critical path:", "lower bound", "DAG (*"):
        assert needle in out
    assert "* final [llm] succeeded" in out  # the sink ends every critical path here
    assert "after-boom [llm] skipped" in out
    assert "\x1b" not in out and "<script>" in out  # shown as text, escapes stripped
    data = json.loads(cli("show", "r1", "--db", recorded.db, "--json").out)
    tasks = {t["task_id"]: t for t in data["tasks"]}
    assert set(data["metrics"]) >= {"speedup", "efficiency", "lower_bound_s", "steps_critical"}
    assert set(data["metrics"]["critical_path"]) == {t for t in tasks if tasks[t]["critical"]}
    assert tasks["flaky"]["attempts"] == 2 and "result" not in tasks["hostile"]
    assert HOSTILE_ERROR in tasks["boom"]["error"]


def test_events_text_json_and_after(cli: CliRunner, recorded: RecordedRun) -> None:
    text = cli("events", "r1", "--db", recorded.db).out.splitlines()
    assert "run.created" in text[0] and "run.finished" in text[-1]
    assert any("task.retry" in line and "flaky#1" in line for line in text)
    lines = cli("events", "r1", "--db", recorded.db, "--json").out.splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) == len(text) and events[-1]["type"] == "run.finished"
    tail = cli("events", "r1", "--db", recorded.db, "--json", "--after", str(events[-2]["id"]))
    assert [json.loads(line)["id"] for line in tail.out.splitlines()] == [events[-1]["id"]]


def test_artifacts(cli: CliRunner, recorded: RecordedRun) -> None:
    data = json.loads(cli("artifacts", "r1", "--db", recorded.db, "--json").out)
    (artifact,) = data["artifacts"]
    assert artifact["task_id"] == "merge" and artifact["path"] == recorded.artifact
    assert Path(artifact["file"]) == recorded.folder / recorded.artifact
    assert Path(artifact["file"]).is_file()
    text = cli("artifacts", "r1", "--db", recorded.db)
    assert recorded.artifact in text.out and "document" in text.out


def test_export_holds_the_whole_run(cli: CliRunner, recorded: RecordedRun, tmp_path: Path) -> None:
    doc = json.loads(cli("export", "r1", "--db", recorded.db).out)
    assert doc["format"] == "swarm-run-export/1" and doc["run"]["run_id"] == "r1"
    assert len(doc["tasks"]) == SOURCES + 6 and len(doc["attempts"]) == SOURCES + 6
    assert len(doc["plan"]["tasks"]) == SOURCES + 6 and doc["config"]["provider"] == "sim"
    assert len(doc["steps"]) == len(doc["attempts"]) and doc["events"][0]["type"] == "run.created"
    assert {t["task_id"]: t["result"] for t in doc["tasks"]}["hostile"] == HOSTILE_RESULT
    assert doc["metrics"]["concurrency"] == 4 and len(doc["artifacts"]) == 1
    out = tmp_path / "run.json"
    assert cli("export", "r1", "--db", recorded.db, "-o", out, "--json").code == 0
    assert json.loads(out.read_text()) == doc


def test_cancel_of_an_ended_run_says_so(cli: CliRunner, recorded: RecordedRun) -> None:
    result = cli("cancel", "r1", "--db", recorded.db)
    assert result.code == 0 and "already ended: failed" in result.out
    data = json.loads(cli("cancel", "r1", "--db", recorded.db, "--json").out)
    assert data == {"run_id": "r1", "status": "failed", "requested": False}


@pytest.mark.parametrize("command", ["show", "events", "artifacts", "cancel", "export", "report"])
def test_unknown_run_ids_exit_2(cli: CliRunner, recorded: RecordedRun, command: str) -> None:
    result = cli(command, "nope", "--db", recorded.db)
    assert result.code == 2 and "no run 'nope'" in result.err and result.out == ""


def test_a_missing_database_is_not_created(cli: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = cli("runs", "--db", missing)
    assert result.code == 2 and "no database at" in result.err
    assert cli("show", "r", "--db", missing).code == 2
    assert not missing.exists()


# -- across processes ---------------------------------------------------------------------------


def _spawn(args: list[str], **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, **env}
    environment.pop("SWARM_SIM_FAULTS", None)
    return swarm(args, environment)


def _wait_for_run(db: Path, run_id: str, proc: subprocess.Popen[str]) -> None:
    """Until the run is recorded (it may have finished already: the follower reads it all)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        exited = proc.poll() is not None
        try:
            with sqlite3.connect(db) as conn:
                row = conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,))
                if row.fetchone() is not None:
                    return
        except sqlite3.Error:
            pass
        if exited:
            break
        time.sleep(0.02)
    raise AssertionError("the run was not recorded")


def _plan_file(path: Path, tasks: int) -> Path:
    data = plan_data(
        [{"id": f"t{i}", "kind": "llm", "prompt": f"task {i}"} for i in range(tasks)],
        budget={"max_concurrency": 4},
    )
    path.write_text(json.dumps(data))
    return path


def test_events_follow_a_run_live_from_another_process(cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    plan = _plan_file(tmp_path / "p.json", 24)
    proc = _spawn(
        ["execute", str(plan), "--db", str(db), "--run-id", "live", "--json", "--quiet"],
        SWARM_SIM_LATENCY="fixed:0.1",
    )
    try:
        _wait_for_run(db, "live", proc)
        followed = cli("events", "live", "--db", db, "--follow", "--json")
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    events = [json.loads(line) for line in followed.out.splitlines()]
    types = [e["type"] for e in events]
    assert followed.code == 0 and types[-1] == "run.finished"
    assert types.count("task.succeeded") == 24 and types[0] == "run.created"
    assert [e["id"] for e in events] == sorted({e["id"] for e in events})  # no repeats


async def _drive_with_cancel_polling(db: Path, cancel_args: list[str]) -> tuple[Any, Any]:
    """Run a plan in this process while another process runs `swarm cancel`.

    The driver's poll of ``cancel_requested`` is emulated here with a watcher task (the lead
    wires the same loop into the driver).
    """
    store = await Store.open(db)
    drivers: list[RunDriver] = []
    started = anyio.Event()
    results: dict[str, Any] = {}
    plan = Plan.model_validate(json.loads(_plan_file(db.with_suffix(".json"), 200).read_text()))

    def on_start(driver: RunDriver) -> None:
        drivers.append(driver)
        started.set()

    async def watch() -> None:
        await started.wait()
        while True:
            if await store.cancel_requested("c"):  # a shielded read (see Store._reading)
                drivers[0].cancel()
                return
            await anyio.sleep(0.05)

    async def canceller() -> None:
        await started.wait()
        command = [sys.executable, "-m", "swarm.cli", *cancel_args]
        results["cancel"] = await anyio.run_process(command, check=False)

    try:
        async with anyio.create_task_group() as outer:
            outer.start_soon(canceller)
            async with anyio.create_task_group() as inner:
                inner.start_soon(watch)
                results["summary"] = await runs.execute(
                    store,
                    plan,
                    SimProvider(latency=Latency("fixed", 0.25)),  # ~12 s unless cancelled
                    runs.RunOptions(artifacts_dir=str(db.parent)),
                    run_id="c",
                    hooks=runs.Hooks(on_start=on_start),
                )
                inner.cancel_scope.cancel()
    finally:
        await store.close()
    return results["summary"], results["cancel"]


def test_cancel_from_another_process_stops_a_live_run(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    args = ["cancel", "c", "--db", str(db), "--wait", "20", "--json"]
    summary, proc = anyio.run(_drive_with_cancel_polling, db, args)
    assert summary["status"] == "cancelled"
    assert summary["counts"]["succeeded"] < 200
    assert proc.returncode == 0, proc.stderr
    told = json.loads(proc.stdout)
    assert told["requested"] is True and told["live"] is True and told["status"] == "cancelled"
    with sqlite3.connect(db) as conn:
        types = [r[0] for r in conn.execute("SELECT type FROM events ORDER BY id")]
    assert types.index("run.cancel_requested") < types.index("run.finished")

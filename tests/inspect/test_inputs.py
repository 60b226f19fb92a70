"""Bad input to the inspection commands is exit 2 with a message: --db, -o, ports, dead drivers;
and one makespan for a run, whichever command reads it."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from swarm.plan import Plan
from swarm.providers.sim import Latency, SimProvider
from swarm.runtime import run as runs
from swarm.store.store import Store
from tests.cli.conftest import CliRunner
from tests.fakes import plan_data
from tests.inspect.conftest import RecordedRun

DB_COMMANDS = [
    ["runs"],
    ["show", "r1"],
    ["events", "r1"],
    ["artifacts", "r1"],
    ["cancel", "r1"],
    ["export", "r1"],
    ["report", "r1", "-o", "{tmp}/r.html"],
    ["dashboard"],
    ["db", "upgrade"],
    ["execute", "examples/minimal.json"],
    ["resume", "r1"],
    ["run", "a goal"],
]


def _bad_dbs(tmp_path: Path) -> dict[str, Path]:
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("hello, I am not a database\n")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    return {
        "not SQLite": not_sqlite,
        "missing folder": tmp_path / "nowhere" / "swarm.db",
        "a folder": folder,
    }


@pytest.mark.parametrize("args", DB_COMMANDS, ids=lambda a: a[0] + ("-" + a[1] if a[1:] else ""))
def test_a_bad_db_is_exit_2_with_a_message_for_every_command(
    cli: CliRunner, tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("SWARM_PROVIDER", "sim")
    for what, db in _bad_dbs(tmp_path).items():
        argv = [a.format(tmp=tmp_path) for a in args]
        result = cli(*argv, "--db", db)
        assert result.code == 2, (what, result.err)
        assert "error:" in result.err and str(db.name) in result.err, (what, result.err)
        assert "--db" in result.err  # the hint says what to point where
        assert "Traceback" not in result.err


def test_a_bad_db_from_swarm_db_is_exit_2(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_DB", str(tmp_path))  # a folder
    result = cli("runs")
    assert result.code == 2 and "it is a folder" in result.err


# -- -o ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "export"])
def test_output_to_a_folder_or_a_missing_folder_is_exit_2(
    cli: CliRunner, recorded: RecordedRun, tmp_path: Path, command: str
) -> None:
    folder = cli(command, "r1", "--db", recorded.db, "-o", tmp_path)
    assert folder.code == 2 and "it is a folder" in folder.err, folder.err
    missing = cli(command, "r1", "--db", recorded.db, "-o", tmp_path / "nowhere" / "x.json")
    assert missing.code == 2 and "does not exist" in missing.err, missing.err
    assert "Traceback" not in folder.err + missing.err


def test_an_unwritable_output_is_exit_2(
    cli: CliRunner, recorded: RecordedRun, tmp_path: Path
) -> None:
    target = tmp_path / "ro" / "x.json"
    target.parent.mkdir()
    target.parent.chmod(0o500)
    try:
        probe = target.parent / "probe"
        try:
            probe.write_text("")
        except OSError:
            pass
        else:
            pytest.skip("running as a user who may write anywhere (root)")
        result = cli("export", "r1", "--db", recorded.db, "-o", target)
        assert result.code == 2 and "cannot write" in result.err
    finally:
        target.parent.chmod(0o700)


# -- swarm dashboard --port -------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_dashboard_on_a_taken_port_is_exit_2_before_serving(
    cli: CliRunner, recorded: RecordedRun, taken_port: int
) -> None:
    result = cli("dashboard", "--db", recorded.db, "--port", taken_port)
    assert result.code == 2, result.err
    assert f"127.0.0.1:{taken_port}" in result.err and "already in use" in result.err
    assert "serving" not in result.err and "--port" in result.err


# -- swarm cancel of a run whose driver died --------------------------------------------------


def _orphaned_copy(recorded: RecordedRun, tmp_path: Path) -> Path:
    """The recorded run as a ``kill -9``'d driver leaves it: running, a fresh heartbeat, and
    the owner's process gone."""
    db = tmp_path / "orphan.db"
    shutil.copy(recorded.db, db)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL, heartbeat_at = ?,"
            " owner_pid = ?, cancel_requested_at = NULL WHERE run_id = 'r1'",
            (time.time(), gone.pid),
        )
    return db


def test_cancel_of_a_run_with_a_dead_driver_says_so_and_what_to_do(
    cli: CliRunner, recorded: RecordedRun, tmp_path: Path
) -> None:
    db = _orphaned_copy(recorded, tmp_path)
    result = cli("cancel", "r1", "--db", db)
    assert result.code == 0
    assert "no live process is driving run r1" in result.out
    assert "swarm resume r1" in result.out and "will stop it shortly" not in result.out
    data = json.loads(cli("cancel", "r1", "--db", db, "--json").out)
    assert data["requested"] is True and data["live"] is False and data["driving"] is False
    runs_line = cli("runs", "--db", db).out
    assert "running (stale)" in runs_line


def test_cancel_wait_that_times_out_exits_1(
    cli: CliRunner, recorded: RecordedRun, tmp_path: Path
) -> None:
    db = _orphaned_copy(recorded, tmp_path)
    result = cli("cancel", "r1", "--db", db, "--wait", "0.5")
    assert result.code == 1
    assert "no live process" in result.out and "swarm resume r1" in result.out
    as_json = cli("cancel", "r1", "--db", db, "--wait", "0.5", "--json")
    assert as_json.code == 1 and json.loads(as_json.out)["status"] == "running"


# -- one makespan -----------------------------------------------------------------------------


async def _cancelled_run(db: Path, artifacts: Path) -> str:
    tasks = [{"id": f"t{i}", "kind": "llm", "prompt": f"part {i}"} for i in range(12)]
    plan = Plan.model_validate(plan_data(tasks, budget={"max_concurrency": 2}))
    store = await Store.open(db)
    driver_box: list[object] = []

    def tick() -> None:
        driver = driver_box[0]
        if driver.core.counts()["succeeded"] >= 4:  # type: ignore[attr-defined]
            driver.cancel()  # type: ignore[attr-defined]

    try:
        hooks = runs.Hooks(on_start=driver_box.append, on_tick=tick)
        options = runs.RunOptions(provider="sim", artifacts_dir=str(artifacts))
        summary = await runs.execute(
            store,
            plan,
            SimProvider(latency=Latency("fixed", 0.02)),
            options,
            run_id="m1",
            hooks=hooks,
        )
    finally:
        await store.close()
    assert summary["status"] == "cancelled"
    return "m1"


def test_a_resumed_run_has_one_makespan_in_resume_show_and_runs(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SWARM_SIM_LATENCY", "SWARM_SIM_FAULTS", "SWARM_DB"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "m.db"
    run_id = anyio.run(_cancelled_run, db, tmp_path / "runs")
    time.sleep(0.3)  # a gap between the sessions: wall clock and active time now differ
    resumed = cli("resume", run_id, "--db", db, "--json", "--quiet")
    assert resumed.code == 0, resumed.err
    from_resume = json.loads(resumed.out)["makespan_s"]
    shown = json.loads(cli("show", run_id, "--db", db, "--json").out)
    listed = json.loads(cli("runs", "--db", db, "--json").out)["runs"][0]
    assert shown["metrics"]["makespan_s"] == pytest.approx(from_resume, abs=1e-3)
    assert listed["makespan_s"] == pytest.approx(from_resume, abs=1e-3)
    assert listed["duration_s"] > from_resume + 0.25  # the wall clock includes the gap

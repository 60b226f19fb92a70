"""`swarm execute` and `swarm resume`: the JSON contract, exit codes, and signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from swarm.testing.crash import swarm
from tests.cli.conftest import CliRunner

REQUIRED_KEYS = {
    "run_id",
    "status",
    "counts",
    "makespan_s",
    "steps_total",
    "steps_critical",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "db",
}


def write_plan(path: Path, tasks: int = 6, **extra: Any) -> Path:
    items: list[dict[str, Any]] = [{"id": "root", "kind": "llm", "prompt": "start"}]
    items += [
        {"id": f"t{i}", "kind": "llm", "prompt": f"part {i}", "deps": ["root"]}
        for i in range(tasks - 1)
    ]
    path.write_text(json.dumps({"goal": "test", "tasks": items, **extra}))
    return path


@pytest.fixture(autouse=True)
def quiet_sim(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SWARM_SIM_LATENCY", "SWARM_SIM_FAULTS", "SWARM_SIM_LEDGER", "SWARM_DB"):
        monkeypatch.delenv(name, raising=False)


def test_execute_json_prints_exactly_one_object(cli: CliRunner, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json")
    db = tmp_path / "swarm.db"
    result = cli("execute", plan, "--db", db, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)  # the whole of stdout is one JSON object
    assert set(summary) >= REQUIRED_KEYS
    assert summary["status"] == "succeeded"
    assert summary["counts"]["succeeded"] == 6
    assert summary["steps_total"] == 6 and summary["steps_critical"] == 2
    assert summary["simulated"] is True and summary["db"] == str(db)


def test_execute_human_output_is_labelled_simulated(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("execute", write_plan(tmp_path / "p.json"), "--db", tmp_path / "s.db")
    assert result.code == 0
    assert "simulated" in result.out and "simulated" in result.err
    assert "6 succeeded" in result.out


def test_failed_tasks_exit_1(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_SIM_FAULTS", "error=1.0")
    plan = write_plan(tmp_path / "p.json", defaults={"retries": 0})
    result = cli("execute", plan, "--db", tmp_path / "s.db", "--json")
    assert result.code == 1
    summary = json.loads(result.out)
    assert summary["status"] == "failed"
    assert summary["counts"]["failed"] == 1 and summary["counts"]["skipped"] == 5


@pytest.mark.parametrize(
    "args",
    [
        ["--concurrency", "0"],
        ["--provider", "nope"],
        ["--max-steps", "-3"],
        ["--run-id", "bad id!"],
        ["--no-such-flag"],
    ],
)
def test_bad_flags_exit_2_and_write_nothing(
    cli: CliRunner, tmp_path: Path, args: list[str]
) -> None:
    db = tmp_path / "s.db"
    result = cli("execute", write_plan(tmp_path / "p.json"), "--db", db, *args)
    assert result.code == 2
    assert not db.exists()


def test_bad_plan_exits_2_and_writes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "p.json"
    plan.write_text('{"goal": "g", "tasks": [{"id": "a", "kind": "llm", "deps": ["a"]}]}')
    db = tmp_path / "s.db"
    result = cli("execute", plan, "--db", db)
    assert result.code == 2
    assert "task 'a'.deps" in result.err
    assert not db.exists()


def test_sim_env_errors_exit_2(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARM_SIM_LATENCY", "sometimes")
    db = tmp_path / "s.db"
    result = cli("execute", write_plan(tmp_path / "p.json"), "--db", db)
    assert result.code == 2 and "SWARM_SIM_LATENCY" in result.err
    assert not db.exists()


def test_duplicate_run_id_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    plan, db = write_plan(tmp_path / "p.json"), tmp_path / "s.db"
    assert cli("execute", plan, "--db", db, "--run-id", "r1", "--json").code == 0
    result = cli("execute", plan, "--db", db, "--run-id", "r1")
    assert result.code == 2 and "r1" in result.err


def test_resume_unknown_run_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = cli("resume", "nope", "--db", db)
    assert result.code == 2 and "no run 'nope'" in result.err
    assert not db.exists()
    assert cli("execute", write_plan(tmp_path / "p.json"), "--db", db, "--json").code == 0
    assert cli("resume", "nope", "--db", db).code == 2


def test_resume_of_a_finished_run_runs_nothing(cli: CliRunner, tmp_path: Path) -> None:
    plan, db = write_plan(tmp_path / "p.json"), tmp_path / "s.db"
    first = json.loads(cli("execute", plan, "--db", db, "--run-id", "r", "--json").out)
    again = cli("resume", "r", "--db", db, "--json")
    assert again.code == 0
    summary = json.loads(again.out)
    assert summary["status"] == "succeeded"
    assert summary["steps_total"] == first["steps_total"]


def test_db_from_environment(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("SWARM_DB", str(db))
    result = cli("execute", write_plan(tmp_path / "p.json"), "--json")
    assert result.code == 0 and json.loads(result.out)["db"] == str(db)


def test_plain_progress_off_a_terminal(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("execute", write_plan(tmp_path / "p.json"), "--db", tmp_path / "s.db")
    # stderr is not a terminal under capsys: plain lines, no cursor movement
    assert "done:" in result.err and "\x1b[" not in result.err


def _wait_for_tasks(db: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db) as conn:
                done = conn.execute("SELECT count(*) FROM tasks WHERE status='succeeded'")
                if done.fetchone()[0] >= n:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    raise AssertionError("the run did not make progress")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_cancels_exits_130_and_resumes(tmp_path: Path, sig: signal.Signals) -> None:
    plan = write_plan(tmp_path / "p.json", tasks=40, budget={"max_concurrency": 4})
    db, ledger = tmp_path / "s.db", tmp_path / "ledger"
    env = dict(os.environ, SWARM_SIM_LATENCY="fixed:0.2", SWARM_SIM_LEDGER=str(ledger))
    env.pop("SWARM_SIM_FAULTS", None)
    proc = swarm(["execute", str(plan), "--db", str(db), "--run-id", "r", "--json"], env)
    _wait_for_tasks(db, 3, proc)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 130, err
    assert json.loads(out)["status"] == "cancelled"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "cancelled"
        statuses = dict(conn.execute("SELECT task_id, status FROM tasks").fetchall())
    assert "running" not in statuses.values()
    assert "cancelled" in statuses.values()
    succeeded = {t for t, s in statuses.items() if s == "succeeded"}
    resumed = swarm(["resume", "r", "--db", str(db), "--json"], env)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert json.loads(out)["counts"]["succeeded"] == 40
    calls = [json.loads(line)["key"].split("/")[1] for line in ledger.read_text().splitlines()]
    for task in succeeded:
        assert calls.count(task) == 1, task


# -- checks made before anything runs, prices, and advice in the CLI's words ----------------


@pytest.mark.parametrize("command", ["execute", "run"])
@pytest.mark.parametrize("amount", ["0", "-2"])
def test_max_cost_zero_or_less_is_refused_with_exit_2(
    cli: CliRunner, tmp_path: Path, command: str, amount: str
) -> None:
    target = str(write_plan(tmp_path / "p.json")) if command == "execute" else "Say hi"
    db = tmp_path / "s.db"
    result = cli(command, target, "--db", db, "--max-cost", amount, "--json")
    assert result.code == 2
    error = json.loads(result.out)["error"]  # --json: the one JSON object, errors too
    assert error["type"] == "ConfigError" and "must be a positive amount" in error["message"]
    assert "omit the flag" in error["hint"]
    assert "Traceback" not in result.err + result.out and "pydantic" not in result.out
    assert not db.exists()


@pytest.mark.parametrize("command", ["execute", "run"])
def test_an_artifacts_dir_that_is_not_a_folder_is_refused_first(
    cli: CliRunner, tmp_path: Path, command: str
) -> None:
    target = str(write_plan(tmp_path / "p.json")) if command == "execute" else "Say hi"
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    db = tmp_path / "s.db"
    result = cli(command, target, "--db", db, "--artifacts-dir", not_a_folder)
    assert result.code == 2 and "is not a folder" in result.err and "--artifacts-dir" in result.err
    assert not db.exists()


def test_an_unknown_model_is_not_priced_like_k26(cli: CliRunner, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.json")
    db = tmp_path / "s.db"
    result = cli("execute", plan, "--db", db, "--model", "fake", "--json")
    assert result.code == 0
    assert "warning: no price is known for model 'fake'" in result.err
    summary = json.loads(result.out)
    assert summary["cost_usd"] == 0 and summary["unpriced_models"] == ["fake"]
    text = cli("execute", plan, "--db", db, "--model", "fake")
    assert "no price for fake" in text.out.replace("\n", " ")


def test_a_cost_budget_with_an_unknown_price_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p.json")
    db = tmp_path / "s.db"
    result = cli("execute", plan, "--db", db, "--model", "fake", "--max-cost", "1")
    assert result.code == 2 and "cannot be enforced" in result.err and "--price-in" in result.err
    assert not db.exists()


def test_prices_from_the_flags_and_from_swarm_prices(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(tmp_path / "p.json")
    db = tmp_path / "s.db"
    flags = ("--model", "fake", "--price-in", "1", "--price-out", "2", "--max-cost", "5")
    by_flag = json.loads(cli("execute", plan, "--db", db, *flags, "--json").out)
    expected = (by_flag["tokens_in"] * 1 + by_flag["tokens_out"] * 2) / 1e6
    assert by_flag["cost_usd"] == pytest.approx(expected, rel=1e-3)
    assert by_flag["unpriced_models"] == []
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fake": [1, 2]}))
    monkeypatch.setenv("SWARM_PRICES", str(prices))
    by_file = json.loads(cli("execute", plan, "--db", db, "--model", "fake", "--json").out)
    assert by_file["cost_usd"] == pytest.approx(by_flag["cost_usd"], rel=1e-3)
    half = cli("execute", plan, "--db", db, "--model", "fake", "--price-in", "1")
    assert half.code == 2 and "go together" in half.err


def test_cli_errors_name_the_flags(cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    write_plan(tmp_path / "p.json")
    assert cli("execute", tmp_path / "p.json", "--db", db, "--json").code == 0
    result = cli("resume", "nope", "--db", db)
    assert result.code == 2 and "--db" in result.err and "swarm runs" in result.err

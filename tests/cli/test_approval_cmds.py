"""`swarm approvals`, `approve`, `reject` and `--wait-approvals`, across real processes: a
driver killed with SIGKILL while a branch waits loses no decision and no result, an approval
from another process is applied by a live driver within about a second, a second decision
exits 6, and a run left waiting exits 5."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from swarm.cli.app import EXIT_WAITING
from swarm.testing.crash import env_for, ledger_counts
from tests.cli.conftest import CliRunner

PLAN = {
    "goal": "publish after a review",
    "tasks": [
        {"id": "draft", "kind": "llm", "prompt": "draft"},
        {
            "id": "publish",
            "kind": "llm",
            "prompt": "publish",
            "deps": ["draft"],
            "approval": {"prompt": "is the draft good?"},
        },
        {"id": "announce", "kind": "llm", "prompt": "announce", "deps": ["publish"]},
        {"id": "side", "kind": "llm", "prompt": "side"},
    ],
}


def swarm(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "swarm.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def wait_until(
    db: Path, sql: str, expected: list[tuple[Any, ...]], proc: subprocess.Popen[str]
) -> None:
    deadline = time.monotonic() + 60
    while rows(db, sql) != expected:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, rows(db, sql)
        time.sleep(0.05)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, str]]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    ledger = tmp_path / "ledger.jsonl"
    return plan, tmp_path / "s.db", ledger, env_for(ledger)


def test_kill_9_while_waiting_then_approve_from_another_process_then_resume(
    setup: tuple[Path, Path, Path, dict[str, str]],
) -> None:
    plan, db, ledger, env = setup
    proc = start(
        ["execute", str(plan), "--db", str(db), "--run-id", "r", "--wait-approvals", "--json"], env
    )
    try:
        wait_until(
            db,
            "SELECT status FROM tasks WHERE task_id IN ('publish', 'side') ORDER BY 1",
            [("succeeded",), ("waiting",)],
            proc,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert rows(db, "SELECT status FROM runs") == [("running",)]  # died mid-run

    listed = swarm(["approvals", "r", "--db", str(db), "--json"], env)
    assert listed.returncode == 0, listed.stderr
    [pending] = json.loads(listed.stdout)
    assert (pending["task_id"], pending["prompt"]) == ("publish", "is the draft good?")
    assert pending["inputs"]["draft"]  # the upstream result the approver decides on

    approved = swarm(
        ["approve", "r", "publish", "--note", "fine", "--by", "ann", "--db", str(db)], env
    )
    assert approved.returncode == 0, approved.stderr
    again = swarm(["reject", "r", "publish", "--db", str(db)], env)
    assert again.returncode == 6 and "already approved by ann" in again.stderr

    resumed = swarm(["resume", "r", "--db", str(db), "--json"], env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    calls = ledger_counts(ledger)
    assert calls == {"draft": 1, "side": 1, "publish": 1, "announce": 1}  # none made twice
    assert rows(db, "SELECT decided_by, note FROM approvals") == [("ann", "fine")]


def test_a_live_driver_applies_an_approval_from_another_process_within_a_second(
    setup: tuple[Path, Path, Path, dict[str, str]],
) -> None:
    plan, db, _, env = setup
    proc = start(
        ["execute", str(plan), "--db", str(db), "--run-id", "r", "--wait-approvals", "--json"], env
    )
    try:
        wait_until(db, "SELECT status FROM tasks WHERE task_id = 'publish'", [("waiting",)], proc)
        approved = swarm(["approve", "r", "publish", "--db", str(db)], env)
        assert approved.returncode == 0, approved.stderr
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    [(woken,)] = rows(db, "SELECT at FROM events WHERE type = 'task.woken'")
    [(decided,)] = rows(db, "SELECT decided_at FROM approvals")
    assert 0 <= woken - decided < 1.5


def test_a_run_left_waiting_exits_5_and_a_rejection_fails_its_branch(
    setup: tuple[Path, Path, Path, dict[str, str]], cli: CliRunner
) -> None:
    plan, db, _, _ = setup
    first = cli("execute", plan, "--db", db, "--run-id", "r", "--provider", "sim")
    assert first.code == EXIT_WAITING == 5
    assert "waiting: 1 task(s) wait for a decision (publish)" in first.out
    assert "swarm approvals r" in first.out
    shown = cli("show", "r", "--db", db)
    assert "1 pending, 1 waiting" in shown.out and "waiting" in shown.out
    listed = cli("approvals", "--db", db)
    assert "task publish" in listed.out and "asks: is the draft good?" in listed.out
    rejected = cli("reject", "r", "publish", "--note", "too early", "--db", db)
    assert rejected.code == 0 and "rejected" in rejected.out
    assert cli("approvals", "r", "--db", db).out.strip() != ""  # still listed until applied
    resumed = cli("resume", "r", "--db", db, "--json")
    assert resumed.code == 1
    summary = json.loads(resumed.out)
    assert summary["status"] == "failed" and summary["counts"]["skipped"] == 1
    assert "no approvals are waiting" in cli("approvals", "r", "--db", db).out
    missing = cli("approve", "r", "side", "--db", db)
    assert missing.code == 2 and "has reached no approval gate" in missing.err

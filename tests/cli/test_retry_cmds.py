"""Runs that wait instead of failing, through the CLI: a spent budget pauses the run (exit 4,
the command to go on printed), `swarm resume --max-steps …` goes on with raised limits, and
`swarm retry` runs failed branches again while every succeeded result is kept."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import CliRunner


@pytest.fixture(autouse=True)
def quiet_sim(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SWARM_SIM_LATENCY", "SWARM_SIM_FAULTS", "SWARM_SIM_LEDGER", "SWARM_DB"):
        monkeypatch.delenv(name, raising=False)


def write_plan(path: Path, **extra: Any) -> Path:
    """Two independent chains: a1 → a2 → a3 and b1 → b2 → b3, one step per task."""
    items = [
        {
            "id": f"{b}{i}",
            "kind": "llm",
            "prompt": f"{b} {i}",
            "deps": [f"{b}{i - 1}"] if i > 1 else [],
        }
        for b in "ab"
        for i in (1, 2, 3)
    ]
    data = {"goal": "test", "tasks": items, "defaults": {"max_steps": 1, "retries": 0}, **extra}
    path.write_text(json.dumps(data))
    return path


def write_growing_plan(path: Path) -> Path:
    """A plan whose size is known only at run time: a ``code`` task's list of six items fans out
    into six one-step ``llm`` tasks. Its static minimum (two steps) fits a small pool that the
    expansion then runs out of; a plan that cannot fit even statically is refused before it
    runs (exit 2, ``swarm validate``), so only such a run can pause for steps."""
    code = "import json; print(json.dumps(list(range(6))))"
    template = {"kind": "llm", "prompt": "item {item}"}
    data = {
        "goal": "test",
        "defaults": {"max_steps": 1, "retries": 0},
        "tasks": [
            {"id": "items", "kind": "code", "config": {"code": code}},
            {"id": "m", "kind": "map", "deps": ["items"],
             "config": {"over": "items", "template": template}},
        ],
    }  # fmt: skip
    path.write_text(json.dumps(data))
    return path


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def calls_per_task(ledger: Path) -> Counter[str]:
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    return Counter(str(line["key"]).split("/")[1] for line in lines)


def test_a_spent_step_pool_pauses_with_exit_4_and_resume_goes_on_with_more(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, ledger = tmp_path / "s.db", tmp_path / "ledger.jsonl"
    monkeypatch.setenv("SWARM_SIM_LEDGER", str(ledger))
    plan = write_growing_plan(tmp_path / "p.json")
    first = cli("execute", plan, "--db", db, "--run-id", "r", "--max-steps", "4")
    assert first.code == 4
    assert "run r paused" in first.out
    assert "the step budget: the next task wants 1 steps, 0 are left of 4" in first.out
    assert f"continue with: swarm resume r --db {db} --max-steps 5" in first.out
    assert rows(db, "SELECT status FROM runs") == [("paused",)]
    statuses = Counter(s for (s,) in rows(db, "SELECT status FROM tasks"))
    assert statuses == {"succeeded": 4, "pending": 4}  # nothing failed, nothing skipped

    again = cli("resume", "r", "--db", db, "--max-steps", "10", "--json")
    assert again.code == 0
    summary = json.loads(again.out)
    assert summary["status"] == "succeeded" and summary["counts"]["succeeded"] == 8
    assert set(calls_per_task(ledger).values()) == {1}  # no succeeded task ran twice
    (change,) = rows(db, "SELECT data_json FROM events WHERE type = 'run.limits_changed'")
    assert json.loads(change[0]) == {"max_steps": {"from": 4, "to": 10}}
    stored = json.loads(rows(db, "SELECT plan_json FROM runs")[0][0])
    assert stored["budget"]["max_steps"] == 10  # a later resume keeps the raised limit


def test_a_paused_run_with_json_carries_the_shortfall(cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = cli(
        "execute", write_growing_plan(tmp_path / "p.json"), "--db", db, "--max-steps", "2", "--json"
    )
    assert result.code == 4
    paused = json.loads(result.out)["paused"]
    assert paused == {
        "resource": "steps",
        "needed": 1,
        "left": 0,
        "limit": 2,
        "flag": "--max-steps",
        "suggested": 3,
    }


def test_retry_runs_failed_branches_again_and_keeps_what_succeeded(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, ledger = tmp_path / "s.db", tmp_path / "ledger.jsonl"
    monkeypatch.setenv("SWARM_SIM_LEDGER", str(ledger))
    monkeypatch.setenv("SWARM_SIM_FAULTS", "error=0.5")
    first = cli("execute", write_plan(tmp_path / "p.json"), "--db", db, "--run-id", "r", "--json")
    assert first.code == 1
    before = dict(rows(db, "SELECT task_id, status FROM tasks"))
    failed = sorted(t for t, s in before.items() if s == "failed")
    kept = sorted(t for t, s in before.items() if s == "succeeded")
    assert failed and kept, before  # the seeded faults fail some branches, not all

    # resume alone leaves failed tasks failed
    assert cli("resume", "r", "--db", db, "--json").code == 1
    assert dict(rows(db, "SELECT task_id, status FROM tasks")) == before

    monkeypatch.delenv("SWARM_SIM_FAULTS")  # the cause is fixed
    calls_before = calls_per_task(ledger)
    result = cli("retry", "r", "--db", db, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["status"] == "succeeded" and summary["counts"]["succeeded"] == 6
    calls_after = calls_per_task(ledger)
    for task_id in kept:
        assert calls_after[task_id] == calls_before[task_id]  # succeeded results kept
    retried = {t for (t,) in rows(db, "SELECT task_id FROM events WHERE type = 'task.retried'")}
    assert retried == set(failed)
    unskipped = {t for (t,) in rows(db, "SELECT task_id FROM events WHERE type = 'task.unskipped'")}
    assert unskipped == {t for t, s in before.items() if s == "skipped"}
    # attempts are counted, not hidden: the failed ones stay, the new ones continue the numbers
    for task_id in failed:
        attempts = rows(db, f"SELECT attempt, status FROM attempts WHERE task_id = '{task_id}'")
        assert [a for a, _ in attempts] == [1, 2] and attempts[-1][1] == "succeeded"


def test_retry_of_one_named_task_leaves_the_other_failures(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.db"
    monkeypatch.setenv("SWARM_SIM_FAULTS", "error=1.0")
    assert cli("execute", write_plan(tmp_path / "p.json"), "--db", db, "--run-id", "r").code == 1
    monkeypatch.delenv("SWARM_SIM_FAULTS")
    result = cli("retry", "r", "--db", db, "--task", "a1", "--json")
    assert result.code == 1  # b1 is still failed
    status = dict(rows(db, "SELECT task_id, status FROM tasks"))
    assert [status[t] for t in ("a1", "a2", "a3")] == ["succeeded"] * 3
    assert [status[t] for t in ("b1", "b2", "b3")] == ["failed", "skipped", "skipped"]


def test_retry_refuses_what_it_cannot_retry(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.db"
    assert cli("execute", write_plan(tmp_path / "p.json"), "--db", db, "--run-id", "r").code == 0
    nothing = cli("retry", "r", "--db", db)
    assert nothing.code == 2 and "no failed task to retry" in nothing.err
    named = cli("retry", "r", "--db", db, "--task", "a1")
    assert named.code == 2 and "'a1' is succeeded, not failed" in named.err
    unknown = cli("retry", "r", "--db", db, "--task", "zz")
    assert unknown.code == 2 and "no such task" in unknown.err
    assert cli("retry", "nope", "--db", db).code == 2

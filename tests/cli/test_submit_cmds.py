"""`swarm run GOAL`: plan and execute in one go."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from swarm.plan import Plan
from tests.cli.conftest import CliRunner

GOAL = "Compare three open-source vector databases for a retrieval startup"


def test_swarm_run_cli(cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = cli(
        "run",
        GOAL,
        "--db",
        db,
        "--json",
        "--concurrency",
        "8",
        "--artifacts-dir",
        tmp_path / "runs",
    )
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["status"] == "succeeded" and summary["simulated"] is True
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT plan_json FROM runs").fetchone()[0]
    record = Plan.model_validate_json(stored)
    assert record.budget.max_concurrency == 8


def test_swarm_run_empty_goal_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = cli("run", "   ", "--db", db)
    assert result.code == 2 and not db.exists()


def test_swarm_run_has_the_model_flags_of_execute(cli: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = cli(
        "run", GOAL, "--db", db, "--model", "moonshotai/kimi-k2.6", "--reasoning-effort", "low",
        "--rate-limit", "100", "--max-tasks", "5000", "--run-id", "m", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    with sqlite3.connect(db) as conn:
        plan = Plan.model_validate_json(
            conn.execute("SELECT plan_json FROM runs WHERE run_id = 'm'").fetchone()[0]
        )
    assert plan.defaults.params.reasoning_effort == "low"
    bad = cli("run", GOAL, "--db", tmp_path / "t.db", "--base-url", "http://127.0.0.1:1/v1")
    assert bad.code == 2 and "--base-url does not apply to the sim" in bad.err
    unpriced = cli("run", GOAL, "--db", tmp_path / "u.db", "--model", "fake", "--json")
    assert "warning: no price is known for model 'fake'" in unpriced.err
    assert json.loads(unpriced.out)["unpriced_models"] == ["fake"]
    effort = cli("run", GOAL, "--db", tmp_path / "t.db", "--reasoning-effort", "max")
    assert effort.code == 2 and "not one of" in effort.err
    assert not (tmp_path / "t.db").exists()

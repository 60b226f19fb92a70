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

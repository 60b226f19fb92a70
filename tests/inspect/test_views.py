"""The SQL views: created by revision 0003 exactly as ``views.py`` defines them, and right."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from swarm.store import migrate, views
from tests.inspect.conftest import SOURCES, RecordedRun


def rows(db: Path, sql: str, *args: object) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, args).fetchall()]


ALL_VIEWS = {**views.VIEWS, **views.APPROVAL_VIEWS}


def test_the_migrated_views_are_the_ones_in_views_py(recorded: RecordedRun) -> None:
    found = {
        r["name"]: r["sql"]
        for r in rows(recorded.db, "SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    }
    expected = dict(zip(views.VIEWS, views.create_statements(), strict=True))
    expected |= dict(zip(views.APPROVAL_VIEWS, views.approval_create_statements(), strict=True))
    assert found == expected


def test_downgrade_drops_the_views_and_upgrade_brings_them_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.db"
    monkeypatch.setenv("SWARM_DB", str(db))  # Alembic on its own opens $SWARM_DB
    config = migrate.alembic_config()
    command.upgrade(config, "head")
    assert len(rows(db, "SELECT name FROM sqlite_master WHERE type = 'view'")) == len(ALL_VIEWS)
    command.downgrade(config, "0002")  # below 0003, which made the views (and later ones)
    assert rows(db, "SELECT name FROM sqlite_master WHERE type = 'view'") == []
    assert "cancel_requested_at" not in [r["name"] for r in rows(db, "PRAGMA table_info(runs)")]
    command.upgrade(config, "head")
    assert len(rows(db, "SELECT name FROM sqlite_master WHERE type = 'view'")) == len(ALL_VIEWS)


def test_run_summary_matches_the_tasks(recorded: RecordedRun) -> None:
    (s,) = rows(recorded.db, "SELECT * FROM run_summary")
    totals = rows(
        recorded.db,
        "SELECT count(*) AS n, sum(steps_used) AS steps, sum(cost_usd) AS cost FROM tasks",
    )[0]
    assert s["tasks"] == totals["n"] == SOURCES + 6
    assert s["steps"] == totals["steps"] and s["cost_usd"] == pytest.approx(totals["cost"])
    assert (s["succeeded"], s["failed"], s["skipped"]) == (SOURCES + 4, 1, 1)
    assert s["duration_s"] > 0 and s["created"].count(":") == 2
    assert s["speedup"] > 0 and 0 < s["efficiency"] <= 1.0


def test_task_timeline_has_every_task_that_ran(recorded: RecordedRun) -> None:
    timeline = rows(recorded.db, "SELECT * FROM task_timeline ORDER BY start_s")
    assert {r["task_id"] for r in timeline} == {
        r["task_id"] for r in rows(recorded.db, "SELECT task_id FROM tasks WHERE attempt > 0")
    }
    for r in timeline:
        assert 0 <= r["start_s"] <= r["end_s"]
        assert r["duration_s"] == pytest.approx(r["end_s"] - r["start_s"])
    order = [r["task_id"] for r in timeline]
    assert order.index("merge") < order.index("final")


def test_usage_by_kind_and_by_model(recorded: RecordedRun) -> None:
    (kind,) = rows(recorded.db, "SELECT * FROM usage_by_kind")
    (summary,) = rows(recorded.db, "SELECT * FROM run_summary")
    assert kind["kind"] == "llm" and kind["tokens"] == summary["tokens"]
    (model,) = rows(recorded.db, "SELECT * FROM usage_by_model")
    assert model["calls"] == summary["attempts"]  # one model call per llm attempt
    assert model["cost_usd"] == pytest.approx(summary["cost_usd"])


def test_failures_list_every_attempt_that_did_not_succeed(recorded: RecordedRun) -> None:
    failures = rows(recorded.db, "SELECT * FROM failures ORDER BY task_id")
    assert [(f["task_id"], f["attempt"], f["outcome"], f["task_status"]) for f in failures] == [
        ("boom", 1, "failed", "failed"),
        ("flaky", 1, "failed", "succeeded"),
    ]
    assert failures[0]["error_kind"] == "ProviderError" and failures[0]["retryable"] == 0


def test_concurrency_never_exceeds_the_limit_and_returns_to_zero(recorded: RecordedRun) -> None:
    series = rows(recorded.db, "SELECT * FROM concurrency ORDER BY at")
    assert len(series) == 2 * rows(recorded.db, "SELECT count(*) AS n FROM attempts")[0]["n"]
    assert max(r["running"] for r in series) == 4  # the plan's max_concurrency
    assert min(r["running"] for r in series) >= 0
    assert series[-1]["running"] == 0


def test_the_queries_in_docs_database_md_run(recorded: RecordedRun) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "database.md"
    blocks = re.findall(r"```sql\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    statements = [s for block in blocks for s in block.split(";") if s.strip()]
    assert len(statements) >= 8
    with sqlite3.connect(recorded.db) as conn:
        for statement in statements:
            assert conn.execute(statement, {"run": recorded.run_id}).fetchall(), statement
